/* quote: strings for server output. Anything that cannot be a plain quoted string goes
 * out as a literal, byte for byte, so 8-bit and UTF-8 text is never altered or escaped. */
#include "imapproto/imapproto.h"

#include <stdio.h>
#include <string.h>

int imapproto_needs_literal(const void *s, size_t len)
{
    const unsigned char *b = s;
    for (size_t i = 0; i < len; i++)
        if (b[i] == 0 || b[i] == '\r' || b[i] == '\n' || b[i] == '"' || b[i] == '\\' ||
            b[i] >= 0x80)
            return 1;
    return 0;
}

char *imapproto_string(pool_t *pool, const void *s, size_t len, size_t *outlen)
{
    char *out;
    if (imapproto_needs_literal(s, len)) {
        char hdr[32];
        int h = snprintf(hdr, sizeof(hdr), "{%zu}\r\n", len);
        out = pool_alloc(pool, (size_t)h + len + 1);
        memcpy(out, hdr, (size_t)h);
        memcpy(out + h, s, len);
        *outlen = (size_t)h + len;
    } else {
        out = pool_alloc(pool, len + 3);
        out[0] = '"';
        memcpy(out + 1, s, len);
        out[len + 1] = '"';
        *outlen = len + 2;
    }
    out[*outlen] = 0;
    return out;
}
