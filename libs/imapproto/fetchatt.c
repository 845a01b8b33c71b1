/* fetchatt: splits a FETCH attribute atom into its name, section and partial range, e.g.
 * BODY.PEEK[1.HEADER.FIELDS (From "To")]<0.100>. The parser keeps such an atom whole
 * (brackets, spaces and all) so that this is the one place that knows its grammar. */
#include "imapproto/imapproto.h"

#include <ctype.h>
#include <string.h>

static char *fetchatt_upper(pool_t *pool, const char *s, size_t n)
{
    char *u = pool_strndup(pool, s, n);
    for (char *c = u; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    return u;
}

/* A decimal number that fits 32 bits; returns the digits read, 0 if none or too big. */
static size_t fetchatt_number(const char *s, uint32_t *out)
{
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

/* "(name name ...)" of HEADER.FIELDS: atoms or quoted strings, at least one. */
static int fetchatt_fields(pool_t *pool, const char *s, const char *end,
                           imapproto_fetch_att_t *out)
{
    if (s == end || *s++ != '(' || end[-1] != ')')
        return -1;
    end--;
    size_t cap = 1;
    for (const char *c = s; c < end; c++)
        cap += *c == ' ';
    out->fields = pool_alloc(pool, cap * sizeof(char *));
    out->nfields = 0;
    while (s < end) {
        if (*s == ' ') {
            s++;
            continue;
        }
        char *name = pool_alloc(pool, (size_t)(end - s) + 1);
        size_t n = 0;
        if (*s == '"') {
            for (s++; s < end && *s != '"'; s++) {
                if (*s == '\\' && s + 1 < end)
                    s++;
                name[n++] = *s;
            }
            if (s == end)
                return -1;
            s++;
        } else {
            while (s < end && *s != ' ' && *s != '(' && *s != ')')
                name[n++] = *s++;
            if (s < end && *s != ' ')
                return -1;
        }
        if (n == 0 || out->nfields == cap)
            return -1;
        name[n] = 0;
        out->fields[out->nfields++] = name;
    }
    return out->nfields ? 0 : -1;
}

static int fetchatt_section(pool_t *pool, const char *s, const char *end,
                            imapproto_fetch_att_t *out)
{
    /* The part number: dot-separated non-zero numbers, up to the section text. */
    const char *p = s;
    while (p < end && isdigit((unsigned char)*p)) {
        uint32_t n;
        size_t d = fetchatt_number(p, &n);
        if (!d || n == 0)
            return -1;
        p += d;
        if (p < end && *p == '.')
            p++;
        else if (p != end)
            return -1;
    }
    size_t partlen = (size_t)(p - s);
    if (partlen && s[partlen - 1] == '.')
        partlen--;
    out->part = pool_strndup(pool, s, partlen);
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    const char *text_end = sp ? sp : end;
    out->text = fetchatt_upper(pool, p, (size_t)(text_end - p));
    const char *t = out->text;
    if (!strcmp(t, "HEADER.FIELDS") || !strcmp(t, "HEADER.FIELDS.NOT"))
        return sp ? fetchatt_fields(pool, sp + 1, end, out) : -1;
    if (sp)
        return -1;
    if (!strcmp(t, "") || !strcmp(t, "HEADER") || !strcmp(t, "TEXT"))
        return 0;
    return !strcmp(t, "MIME") && partlen ? 0 : -1;
}

int imapproto_fetch_att_parse(pool_t *pool, const char *atom, imapproto_fetch_att_t *out)
{
    memset(out, 0, sizeof(*out));
    size_t n = strcspn(atom, "[<");
    out->name = fetchatt_upper(pool, atom, n);
    out->part = out->text = "";
    const char *s = atom + n;
    if (*s == '[') {
        const char *close = NULL;
        int quoted = 0;
        for (const char *c = s + 1; *c && !close; c++) {
            if (quoted && *c == '\\' && c[1])
                c++;
            else if (*c == '"')
                quoted = !quoted;
            else if (!quoted && *c == ']')
                close = c;
        }
        if (!close || n == 0 || fetchatt_section(pool, s + 1, close, out) < 0)
            return -1;
        out->has_section = 1;
        s = close + 1;
    }
    if (*s == '<') {
        if (!out->has_section)
            return -1;
        size_t d = fetchatt_number(++s, &out->offset);
        if (!d || s[d] != '.')
            return -1;
        s += d + 1;
        d = fetchatt_number(s, &out->length);
        if (!d || out->length == 0 || s[d] != '>')
            return -1;
        s += d + 1;
        out->has_partial = 1;
    }
    return *s ? -1 : 0;
}
