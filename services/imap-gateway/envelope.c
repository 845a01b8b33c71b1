/* envelope: ENVELOPE from a header behind envelope.h. Address lists are split the way
 * RFC 5322 reads them — commas outside quotes, comments and angle brackets; "name:
 * a, b;" groups — and each address becomes (name NIL mailbox host). Malformed addresses
 * still give an answer (the part before the last '@' and after it), never a failure. */
#include "envelope.h"
#include "imapproto/imapproto.h"
#include "message.h"

#include <string.h>

struct envelope_out {
    pool_t *pool;
    char *buf;
    size_t len, cap;
};

static void envelope_add(struct envelope_out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->cap ? o->cap : 256);
        while (cap < o->len + n + 1)
            cap *= 2;
        char *b = pool_alloc(o->pool, cap);
        if (o->len)
            memcpy(b, o->buf, o->len);
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = 0;
}

static void envelope_str(struct envelope_out *o, const char *s)
{
    envelope_add(o, s, strlen(s));
}

/* An nstring: NIL for NULL or empty. */
static void envelope_nstring(struct envelope_out *o, const char *s)
{
    if (!s || !*s) {
        envelope_str(o, "NIL");
        return;
    }
    size_t n;
    char *q = imapproto_string(o->pool, s, strlen(s), &n);
    envelope_add(o, q, n);
}

static char *envelope_trim(char *s)
{
    s += strspn(s, " \t");
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

/* A display name without its surrounding quotes and with quoted-pair escapes undone. */
static char *envelope_unquote(char *s)
{
    s = envelope_trim(s);
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = 0;
        s++;
        char *w = s;
        for (char *r = s; *r; r++) {
            if (*r == '\\' && r[1])
                r++;
            *w++ = *r;
        }
        *w = 0;
    }
    return s;
}

/* Removes (comments) outside quotes; returns the text of the first one, for an address
 * written "hurd@example.test (Hurd)". */
static char *envelope_strip_comments(pool_t *pool, char *s)
{
    char *first = NULL, *w = s;
    int quoted = 0, depth = 0;
    const char *cstart = NULL;
    for (char *r = s; *r; r++) {
        if (depth == 0 && *r == '"')
            quoted = !quoted;
        if (!quoted && *r == '(') {
            if (depth++ == 0)
                cstart = r + 1;
            continue;
        }
        if (!quoted && depth > 0) {
            if (*r == '\\' && r[1])
                r++;
            else if (*r == ')' && --depth == 0 && !first)
                first = pool_strndup(pool, cstart, (size_t)(r - cstart));
            continue;
        }
        *w++ = *r;
    }
    *w = 0;
    return first;
}

static void envelope_address(struct envelope_out *o, char *item)
{
    char *name = NULL, *addr;
    char *lt = NULL;
    int quoted = 0;
    for (char *c = item; *c; c++) {
        if (*c == '\\' && c[1])
            c++;
        else if (*c == '"')
            quoted = !quoted;
        else if (*c == '<' && !quoted) {
            lt = c;
            break;
        }
    }
    if (lt) {
        *lt = 0;
        char *gt = strchr(lt + 1, '>');
        if (gt)
            *gt = 0;
        envelope_strip_comments(o->pool, item);
        name = envelope_unquote(item);
        addr = lt + 1;
        char *route = strchr(addr, ':'); /* obsolete source route "@a,@b:user@host" */
        if (route && addr[0] == '@')
            addr = route + 1;
    } else {
        char *comment = envelope_strip_comments(o->pool, item);
        name = comment ? envelope_unquote(comment) : NULL;
        addr = item;
    }
    addr = envelope_trim(addr);
    if (!*addr && (!name || !*name))
        return;
    char *at = strrchr(addr, '@');
    if (at)
        *at = 0;
    envelope_str(o, "(");
    envelope_nstring(o, name);
    envelope_str(o, " NIL ");
    envelope_nstring(o, addr);
    envelope_str(o, " ");
    /* A NIL host means a group marker, so an address without a domain gets "". */
    if (at)
        envelope_nstring(o, at + 1);
    else
        envelope_str(o, "\"\"");
    envelope_str(o, ")");
}

static void envelope_addresses(struct envelope_out *o, char *value)
{
    size_t start_len = o->len;
    envelope_str(o, "(");
    size_t open_len = o->len;
    int quoted = 0, depth = 0, angle = 0, group = 0;
    char *item = value;
    for (char *c = value;; c++) {
        char ch = *c;
        if (ch && quoted) {
            if (ch == '\\' && c[1])
                c++;
            else if (ch == '"')
                quoted = 0;
            continue;
        }
        if (ch == '"' && !depth) {
            quoted = 1;
            continue;
        }
        if (ch == '(')
            depth++;
        else if (ch == ')' && depth)
            depth--;
        if (depth && ch)
            continue;
        if (ch == '<')
            angle = 1;
        else if (ch == '>')
            angle = 0;
        if (angle && ch)
            continue;
        if (ch == ':' && !group) {
            *c = 0;
            envelope_strip_comments(o->pool, item);
            envelope_str(o, "(NIL NIL ");
            envelope_nstring(o, envelope_trim(item));
            envelope_str(o, " NIL)");
            group = 1;
            item = c + 1;
        } else if (ch == ',' || ch == 0 || (ch == ';' && group)) {
            *c = 0;
            envelope_address(o, item);
            item = c + 1;
            if (ch == ';') {
                envelope_str(o, "(NIL NIL NIL NIL)");
                group = 0;
            }
            if (ch == 0)
                break;
        }
    }
    if (o->len == open_len) {
        o->len = start_len;
        envelope_str(o, "NIL");
    } else {
        envelope_str(o, ")");
    }
}

char *envelope_build(pool_t *pool, const unsigned char *hdr, size_t len, size_t *outlen)
{
    struct envelope_out o = {.pool = pool};
    char *from = message_header_get(pool, hdr, len, "From");
    char *sender = message_header_get(pool, hdr, len, "Sender");
    char *reply_to = message_header_get(pool, hdr, len, "Reply-To");
    /* RFC 3501: Sender and Reply-To default to From. */
    if (!sender || !*sender)
        sender = from;
    if (!reply_to || !*reply_to)
        reply_to = from;
    envelope_str(&o, "(");
    envelope_nstring(&o, message_header_get(pool, hdr, len, "Date"));
    envelope_str(&o, " ");
    envelope_nstring(&o, message_header_get(pool, hdr, len, "Subject"));
    const char *lists[] = {from, sender, reply_to,
                           message_header_get(pool, hdr, len, "To"),
                           message_header_get(pool, hdr, len, "Cc"),
                           message_header_get(pool, hdr, len, "Bcc")};
    for (size_t i = 0; i < sizeof(lists) / sizeof(*lists); i++) {
        envelope_str(&o, " ");
        if (lists[i])
            envelope_addresses(&o, pool_strdup(pool, lists[i]));
        else
            envelope_str(&o, "NIL");
    }
    envelope_str(&o, " ");
    envelope_nstring(&o, message_header_get(pool, hdr, len, "In-Reply-To"));
    envelope_str(&o, " ");
    envelope_nstring(&o, message_header_get(pool, hdr, len, "Message-ID"));
    envelope_str(&o, ")");
    *outlen = o.len;
    return o.buf;
}
