/* message: header access behind message.h. A field starts at a line that does not begin
 * with white space; lines that do begin with it continue the field before. */
#include "message.h"

#include <string.h>
#include <strings.h>

/* End of the line starting at i (just past its LF, or len). */
static size_t message_line_end(const unsigned char *b, size_t i, size_t len)
{
    const unsigned char *lf = memchr(b + i, '\n', len - i);
    return lf ? (size_t)(lf - b) + 1 : len;
}

static int message_blank_line(const unsigned char *b, size_t i, size_t end)
{
    return end - i == 1 ? b[i] == '\n' : (end - i == 2 && b[i] == '\r' && b[i + 1] == '\n');
}

size_t message_header_length(const unsigned char *msg, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t end = message_line_end(msg, i, len);
        if (message_blank_line(msg, i, end))
            return end;
        i = end;
    }
    return len;
}

/* Walks the fields of a header: [*start, *end) is the next field with its continuation
 * lines. Returns 0 at the blank line or the end. */
static int message_next_field(const unsigned char *h, size_t len, size_t *pos, size_t *start,
                              size_t *end)
{
    size_t i = *pos;
    while (i < len) {
        size_t e = message_line_end(h, i, len);
        if (message_blank_line(h, i, e))
            return 0;
        if (h[i] != ' ' && h[i] != '\t')
            break;
        i = e; /* a continuation line without a field before it: skipped */
    }
    if (i >= len)
        return 0;
    *start = i;
    i = message_line_end(h, i, len);
    while (i < len && (h[i] == ' ' || h[i] == '\t'))
        i = message_line_end(h, i, len);
    *end = *pos = i;
    return 1;
}

static int message_field_is(const unsigned char *f, size_t flen, const char *name)
{
    size_t n = strlen(name);
    if (flen <= n || f[n] != ':')
        return 0;
    return strncasecmp((const char *)f, name, n) == 0;
}

unsigned char *message_header_fields(pool_t *pool, const unsigned char *hdr, size_t len,
                                     char *const *names, size_t nnames, int exclude,
                                     size_t *outlen)
{
    unsigned char *out = pool_alloc(pool, len + 2);
    size_t o = 0, pos = 0, start, end;
    while (message_next_field(hdr, len, &pos, &start, &end)) {
        int hit = 0;
        for (size_t k = 0; k < nnames && !hit; k++)
            hit = message_field_is(hdr + start, end - start, names[k]);
        if (hit != exclude) {
            memcpy(out + o, hdr + start, end - start);
            o += end - start;
        }
    }
    out[o++] = '\r';
    out[o++] = '\n';
    *outlen = o;
    return out;
}

char *message_header_get(pool_t *pool, const unsigned char *hdr, size_t len, const char *name)
{
    size_t pos = 0, start, end;
    while (message_next_field(hdr, len, &pos, &start, &end)) {
        if (!message_field_is(hdr + start, end - start, name))
            continue;
        size_t i = start + strlen(name) + 1;
        char *v = pool_alloc(pool, end - i + 1);
        size_t o = 0;
        for (; i < end; i++)
            if (hdr[i] != '\r' && hdr[i] != '\n' && hdr[i] != 0)
                v[o++] = (char)hdr[i];
        while (o && (v[o - 1] == ' ' || v[o - 1] == '\t'))
            o--;
        v[o] = 0;
        size_t lead = strspn(v, " \t");
        return v + lead;
    }
    return NULL;
}
