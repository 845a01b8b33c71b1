/* cidr: the network list behind cidr.h. Every entry is kept as 16 bytes (IPv4 as its
 * IPv4-mapped IPv6 form, its prefix length plus 96), so one comparison serves both. */
#include "cidr/cidr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct cidr_net {
    unsigned char addr[16];
    int bits;
};

struct cidr_list {
    size_t n;
    struct cidr_net nets[];
};

/* addr as 16 bytes; 0 on success. *v4 tells which family it was written in. */
static int cidr_addr(const char *text, unsigned char out[16], int *v4)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        *v4 = 1;
        return 0;
    }
    *v4 = 0;
    return inet_pton(AF_INET6, text, out) == 1 ? 0 : -1;
}

static int cidr_entry(const char *start, size_t len, struct cidr_net *net)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, start, len);
    buf[len] = 0;
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        *slash = 0;
        char *end;
        if (!isdigit((unsigned char)slash[1]))
            return -1;
        bits = strtol(slash + 1, &end, 10);
        if (*end || end - (slash + 1) > 3)
            return -1;
    }
    int v4;
    if (cidr_addr(buf, net->addr, &v4) != 0)
        return -1;
    int max = v4 ? 32 : 128;
    if (bits > max)
        return -1;
    net->bits = (int)(bits < 0 ? max : bits) + (v4 ? 96 : 0);
    return 0;
}

cidr_list_t *cidr_parse(const char *text, const char **bad)
{
    *bad = NULL;
    size_t max = 1;
    for (const char *p = text; *p; p++)
        max += *p == ',' || *p == ' ';
    cidr_list_t *l = calloc(1, sizeof(*l) + max * sizeof(l->nets[0]));
    if (!l)
        return NULL;
    const char *p = text;
    for (;;) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            return l;
        size_t len = strcspn(p, ", \t\r\n");
        if (cidr_entry(p, len, &l->nets[l->n]) != 0) {
            *bad = p;
            free(l);
            return NULL;
        }
        l->n++;
        p += len;
    }
}

void cidr_free(cidr_list_t *l)
{
    free(l);
}

static int cidr_in(const struct cidr_net *net, const unsigned char a[16])
{
    int whole = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->addr, a, (size_t)whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (net->addr[whole] & mask) == (a[whole] & mask);
}

int cidr_match(const cidr_list_t *l, const char *addr)
{
    unsigned char a[16];
    int v4;
    if (!l || !addr || cidr_addr(addr, a, &v4) != 0)
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (cidr_in(&l->nets[i], a))
            return 1;
    return 0;
}
