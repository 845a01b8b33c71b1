/* mailaddr: mailbox parsing behind mailaddr.h. Strict where a wrong guess would route
 * mail wrongly (no spaces, controls or brackets outside quotes, no empty labels), lenient
 * only in accepting UTF-8 octets, which SMTPUTF8 allows anywhere in the address. */
#include "mailaddr/mailaddr.h"

#include <ctype.h>
#include <string.h>

#define MAILADDR_MAX_LOCAL 64
#define MAILADDR_MAX_DOMAIN 255
#define MAILADDR_MAX_PATH 256

char *mailaddr_lower(pool_t *pool, const char *s)
{
    char *c = pool_strdup(pool, s);
    for (char *p = c; *p; p++)
        if ((unsigned char)*p < 0x80)
            *p = (char)tolower((unsigned char)*p);
    return c;
}

/* RFC 5322 atext, plus any UTF-8 octet (RFC 6531). */
static int mailaddr_atext(unsigned char c)
{
    return isalnum(c) || c >= 0x80 || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Dot-atom: atoms of atext joined by single dots, no dot at either end. */
static int mailaddr_dot_atom(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return 0;
        } else if (!mailaddr_atext((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/* A quoted local part: returns its unquoted form, or NULL. */
static char *mailaddr_unquote(pool_t *pool, const char *s, size_t n)
{
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return NULL;
    char *out = pool_alloc(pool, n), *w = out;
    for (size_t i = 1; i < n - 1; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') {
            if (++i >= n - 1)
                return NULL;
            c = (unsigned char)s[i];
            if (c < 0x20 && c != '\t')
                return NULL;
        } else if (c == '"' || (c < 0x20 && c != '\t') || c == 0x7f) {
            return NULL;
        }
        *w++ = (char)c;
    }
    *w = 0;
    return out;
}

static int mailaddr_domain_ok(const char *d, size_t n)
{
    if (n == 0 || n > MAILADDR_MAX_DOMAIN)
        return 0;
    if (d[0] == '[') /* address literal: [192.0.2.1] or [IPv6:...] */
        return n > 2 && d[n - 1] == ']' && strcspn(d + 1, "[]\\ ") == n - 2;
    if (d[0] == '.' || d[n - 1] == '.' || d[0] == '-')
        return 0;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.') {
            if (label == 0 || d[i - 1] == '-')
                return 0;
            label = 0;
        } else if (isalnum(c) || c == '-' || c >= 0x80) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

int mailaddr_parse(pool_t *pool, const char *text, mailaddr_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(text);
    if (len == 0 || len > MAILADDR_MAX_PATH)
        return -1;
    /* The domain starts after the last '@' outside a quoted local part. */
    const char *at = NULL;
    int quoted = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\\' && quoted && p[1])
            p++;
        else if (*p == '"')
            quoted = !quoted;
        else if (*p == '@' && !quoted)
            at = p;
    }
    if (quoted)
        return -1;
    size_t llen = at ? (size_t)(at - text) : len;
    if (llen == 0 || llen > MAILADDR_MAX_LOCAL + 2)
        return -1;
    char *local;
    if (text[0] == '"') {
        local = mailaddr_unquote(pool, text, llen);
        if (!local)
            return -1;
    } else {
        if (!mailaddr_dot_atom(text, llen))
            return -1;
        local = pool_strndup(pool, text, llen);
    }
    if (strlen(local) > MAILADDR_MAX_LOCAL || !*local)
        return -1;
    if (at) {
        const char *d = at + 1;
        if (!mailaddr_domain_ok(d, strlen(d)))
            return -1;
        out->domain = mailaddr_lower(pool, d);
    }
    char *plus = strchr(local, '+');
    if (plus && plus != local) {
        *plus = 0;
        out->detail = plus + 1;
    }
    out->local = local;
    return 0;
}
