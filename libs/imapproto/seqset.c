/* seqset: IMAP sequence sets ("1:*", "2,4:7,9") for message numbers and UIDs. */
#include "imapproto/imapproto.h"

#include <ctype.h>

/* A number 1..2^32-1, or "*" (stored as 0). Returns the bytes read, 0 when malformed. */
static size_t seqset_number(const char *s, uint32_t *out)
{
    if (*s == '*') {
        *out = 0;
        return 1;
    }
    if (!isdigit((unsigned char)*s) || *s == '0')
        return 0;
    uint64_t n = 0;
    size_t i = 0;
    for (; isdigit((unsigned char)s[i]); i++) {
        n = n * 10 + (uint64_t)(s[i] - '0');
        if (n > UINT32_MAX)
            return 0;
    }
    *out = (uint32_t)n;
    return i;
}

int imapproto_seqset_parse(pool_t *pool, const char *text, imapproto_seqset_t *out)
{
    size_t items = 1;
    for (const char *c = text; *c; c++)
        items += *c == ',';
    out->ranges = pool_alloc(pool, items * sizeof(*out->ranges));
    out->count = 0;
    const char *s = text;
    for (;;) {
        imapproto_seqrange_t r;
        size_t n = seqset_number(s, &r.first);
        if (!n)
            return -1;
        s += n;
        r.last = r.first;
        if (*s == ':') {
            n = seqset_number(++s, &r.last);
            if (!n)
                return -1;
            s += n;
        }
        out->ranges[out->count++] = r;
        if (*s == 0)
            return 0;
        if (*s++ != ',')
            return -1;
    }
}

int imapproto_seqset_contains(const imapproto_seqset_t *set, uint32_t n, uint32_t star)
{
    for (size_t i = 0; i < set->count; i++) {
        uint32_t a = set->ranges[i].first ? set->ranges[i].first : star;
        uint32_t b = set->ranges[i].last ? set->ranges[i].last : star;
        if (a > b) {
            uint32_t t = a;
            a = b;
            b = t;
        }
        if (n >= a && n <= b)
            return 1;
    }
    return 0;
}
