/* header: a single forward scan of the header section behind header.h. A field's
 * continuation lines start with a blank (RFC 5322 2.2.3); unfolding drops the line breaks
 * and keeps the blanks. */
#include "header.h"

#include <string.h>
#include <strings.h>
#include <time.h>

static int header_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* The offset of the LF ending the line that starts at p, or msglen. */
static size_t header_line_end(const char *msg, size_t msglen, size_t p)
{
    const char *lf = memchr(msg + p, '\n', msglen - p);
    return lf ? (size_t)(lf - msg) : msglen;
}

const char *header_get(pool_t *pool, const char *msg, size_t msglen, const char *name,
                       size_t *len)
{
    size_t want = strlen(name);
    for (size_t p = 0; p < msglen;) {
        size_t end = header_line_end(msg, msglen, p);
        size_t n = end - p;
        if (n == 0 || (n == 1 && msg[p] == '\r'))
            return NULL; /* the empty line that ends the header section */
        const char *colon = memchr(msg + p, ':', n);
        size_t namelen = colon ? (size_t)(colon - (msg + p)) : 0;
        while (namelen > 0 && header_wsp(msg[p + namelen - 1]))
            namelen--;
        if (!colon || namelen != want || strncasecmp(msg + p, name, want) != 0) {
            p = end + 1;
            continue;
        }
        size_t vend = end;
        while (vend + 1 < msglen && header_wsp(msg[vend + 1]))
            vend = header_line_end(msg, msglen, vend + 1);
        char *v = pool_alloc(pool, vend - p + 1);
        size_t used = 0;
        for (size_t q = (size_t)(colon - msg) + 1; q < vend;) {
            size_t e = header_line_end(msg, msglen, q);
            size_t k = e - q;
            if (k > 0 && msg[q + k - 1] == '\r')
                k--;
            memcpy(v + used, msg + q, k);
            used += k;
            q = e + 1;
        }
        size_t a = 0;
        while (a < used && header_wsp(v[a]))
            a++;
        while (used > a && header_wsp(v[used - 1]))
            used--;
        v[used] = 0;
        *len = used - a;
        return v + a;
    }
    return NULL;
}

void header_date_now(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}
