/* transport: parsing MAILSTACK_LMTP_TRANSPORTS on each lookup. The map is a handful of
 * entries, so re-reading it costs nothing and a changed environment needs no reload. */
#include "transport/transport.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int transport_port(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return -1;
    int port = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        port = port * 10 + (s[i] - '0');
    }
    return port >= 1 && port <= 65535 ? port : -1;
}

/* One endpoint: "host:port", "[v6]:port", "host" or "/path". */
static int transport_endpoint(const char *v, size_t n, int default_port, transport_t *out)
{
    const char *host = v;
    size_t hlen = n;
    int port = default_port;
    if (n > 0 && v[0] == '/') {
        if (n >= sizeof(out->host))
            return -1;
    } else if (n > 0 && v[0] == '[') {
        const char *close = memchr(v, ']', n);
        if (!close || close == v + 1)
            return -1;
        host = v + 1;
        hlen = (size_t)(close - v - 1);
        size_t rest = n - (size_t)(close - v) - 1;
        if (rest > 0) {
            if (close[1] != ':' || (port = transport_port(close + 2, rest - 1)) < 0)
                return -1;
        }
    } else {
        const char *colon = memchr(v, ':', n);
        if (colon) {
            hlen = (size_t)(colon - v);
            if ((port = transport_port(colon + 1, n - hlen - 1)) < 0)
                return -1;
        }
    }
    if (hlen == 0 || hlen >= sizeof(out->host))
        return -1;
    memcpy(out->host, host, hlen);
    out->host[hlen] = 0;
    out->port = port;
    return 0;
}

int transport_resolve(const char *map, const char *name, int default_port, transport_t *out)
{
    size_t nlen = strlen(name);
    for (const char *p = map ? map : ""; *p;) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        const char *end = p + strcspn(p, ",");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq) {
            const char *k = p, *kend = eq;
            while (kend > k && isspace((unsigned char)kend[-1]))
                kend--;
            if ((size_t)(kend - k) == nlen && strncasecmp(k, name, nlen) == 0) {
                const char *v = eq + 1, *vend = end;
                while (v < vend && isspace((unsigned char)*v))
                    v++;
                while (vend > v && isspace((unsigned char)vend[-1]))
                    vend--;
                return transport_endpoint(v, (size_t)(vend - v), default_port, out);
            }
        }
        p = end;
    }
    if (nlen == 0 || nlen >= sizeof(out->host))
        return -1;
    memcpy(out->host, name, nlen + 1);
    out->port = default_port;
    return 0;
}

void transport_format(const transport_t *t, char *out, size_t outlen)
{
    if (t->host[0] == '/')
        snprintf(out, outlen, "%s", t->host);
    else if (strchr(t->host, ':'))
        snprintf(out, outlen, "[%s]:%d", t->host, t->port);
    else
        snprintf(out, outlen, "%s:%d", t->host, t->port);
}
