/* mailaddr: mailbox parsing behind mailaddr.h. Strict where a wrong guess would route
 * mail wrongly (no spaces, controls or brackets outside quotes, no empty labels, only
 * well-formed UTF-8), lenient only in accepting UTF-8, which SMTPUTF8 allows in every
 * part of the address. */
#include "mailaddr/mailaddr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Length of the well-formed UTF-8 sequence at s (lead byte >= 0x80), or 0: overlong
 * forms, surrogates and code points past U+10FFFF would let two spellings name one
 * mailbox, so they are refused. */
static size_t mailaddr_utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* RFC 5322 atext. */
static int mailaddr_atext(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Dot-atom: atoms joined by single dots, no dot at either end. */
static int mailaddr_dot_atom(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t u = mailaddr_utf8_len((const unsigned char *)s + i);
            if (!u || i + u > n)
                return 0;
            i += u;
            continue;
        }
        if (c == '.' ? s[i + 1] == '.' : !mailaddr_atext(c))
            return 0;
        i++;
    }
    return 1;
}

/* A quoted-string local part (RFC 5321 qtextSMTP / quoted-pairSMTP, plus UTF-8):
 * returns its content unquoted, or NULL. */
static char *mailaddr_unquote(pool_t *pool, const char *s, size_t n)
{
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return NULL;
    char *out = pool_alloc(pool, n), *w = out;
    for (size_t i = 1; i < n - 1;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t u = mailaddr_utf8_len((const unsigned char *)s + i);
            if (!u || i + u > n - 1)
                return NULL;
            memcpy(w, s + i, u);
            w += u;
            i += u;
            continue;
        }
        if (c == '\\') {
            if (i + 1 >= n - 1)
                return NULL;
            c = (unsigned char)s[++i];
            if (c < 0x20 || c > 0x7e)
                return NULL;
        } else if (c == '"' || c < 0x20 || c > 0x7e) {
            return NULL;
        }
        *w++ = (char)c;
        i++;
    }
    *w = 0;
    return out;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321 4.1.3). */
static int mailaddr_literal_ok(const char *d, size_t n)
{
    char buf[64];
    if (n < 3 || d[n - 1] != ']' || n - 2 >= sizeof(buf))
        return 0;
    memcpy(buf, d + 1, n - 2);
    buf[n - 2] = 0;
    unsigned char addr[16];
    if (strncasecmp(buf, "IPv6:", 5) == 0)
        return inet_pton(AF_INET6, buf + 5, addr) == 1;
    return inet_pton(AF_INET, buf, addr) == 1;
}

/* Labels of letters, digits and inner hyphens (UTF-8 U-labels too), 1..63 octets. */
static int mailaddr_domain_ok(const char *d, size_t n)
{
    if (n == 0 || n > MAILADDR_DOMAIN_MAX)
        return 0;
    if (d[0] == '[')
        return mailaddr_literal_ok(d, n);
    size_t label = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)d[i];
        size_t step = 1;
        if (c == '.') {
            if (label == 0 || d[i - 1] == '-')
                return 0;
            label = 0;
            i++;
            continue;
        }
        if (c >= 0x80) {
            step = mailaddr_utf8_len((const unsigned char *)d + i);
            if (!step || i + step > n)
                return 0;
        } else if (c == '-') {
            if (label == 0)
                return 0;
        } else if (!isalnum(c)) {
            return 0;
        }
        label += step;
        if (label > 63)
            return 0;
        i += step;
    }
    return label > 0 && d[n - 1] != '-';
}

char *mailaddr_lower(pool_t *pool, const char *s)
{
    char *c = pool_strdup(pool, s);
    for (char *p = c; *p; p++)
        if ((unsigned char)*p < 0x80)
            *p = (char)tolower((unsigned char)*p);
    return c;
}

char *mailaddr_local_full(pool_t *pool, const mailaddr_t *addr)
{
    return addr->detail ? pool_printf(pool, "%s+%s", addr->local, addr->detail)
                        : pool_strdup(pool, addr->local);
}

size_t mailaddr_detail_at(const char *local, const char *delims)
{
    size_t n = strlen(local);
    if (n == 0 || !delims || !*delims)
        return n;
    return 1 + strcspn(local + 1, delims);
}

int mailaddr_parse(pool_t *pool, const char *text, mailaddr_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(text);
    if (len == 0 || len + 2 > MAILADDR_PATH_MAX)
        return -1;
    /* The domain starts at the first '@' after the local part: a quoted local part may
     * hold '@', a dot-atom may not. */
    const char *at;
    if (text[0] == '"') {
        const char *p = text + 1;
        while (*p && *p != '"')
            p += (*p == '\\' && p[1]) ? 2 : 1;
        if (*p != '"')
            return -1;
        at = p[1] == '@' ? p + 1 : NULL;
        if (!at && p[1])
            return -1;
    } else {
        at = strchr(text, '@');
    }
    size_t llen = at ? (size_t)(at - text) : len;
    char *local;
    if (text[0] == '"') {
        local = mailaddr_unquote(pool, text, llen);
    } else {
        local = mailaddr_dot_atom(text, llen) ? pool_strndup(pool, text, llen) : NULL;
    }
    if (!local || !*local || strlen(local) > MAILADDR_LOCAL_MAX)
        return -1;
    if (at) {
        const char *d = at + 1;
        if (!mailaddr_domain_ok(d, strlen(d)))
            return -1;
        out->domain = mailaddr_lower(pool, d);
    }
    char *plus = strchr(local + 1, '+');
    if (plus) {
        *plus = 0;
        out->detail = plus + 1;
    }
    out->local = local;
    return 0;
}

char *mailaddr_format(pool_t *pool, const mailaddr_t *addr)
{
    const char *local = addr->detail ? pool_printf(pool, "%s+%s", addr->local, addr->detail)
                                     : addr->local;
    if (!mailaddr_dot_atom(local, strlen(local))) {
        /* Quote again, escaping what qtextSMTP cannot hold. */
        char *q = pool_alloc(pool, strlen(local) * 2 + 3), *w = q;
        *w++ = '"';
        for (const char *p = local; *p; p++) {
            if (*p == '"' || *p == '\\')
                *w++ = '\\';
            *w++ = *p;
        }
        *w++ = '"';
        *w = 0;
        local = q;
    }
    return addr->domain ? pool_printf(pool, "%s@%s", local, addr->domain)
                        : pool_strdup(pool, local);
}
