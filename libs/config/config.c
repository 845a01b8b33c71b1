/* config: MAILSTACK_* settings behind config.h. The optional file only fills variables the
 * environment leaves unset, so containers can override any line of it. */
#include "config/config.h"
#include "log/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int config_load(void)
{
    const char *path = getenv("MAILSTACK_CONFIG_FILE");
    if (!path || !*path)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        log_emit(LOG_ERROR, "config.unreadable", "file", path, "error", strerror(errno), NULL);
        return -1;
    }
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '#' || *p == 0)
            continue;
        char *eq = strchr(p, '=');
        if (!eq)
            continue;
        *eq = 0;
        char *val = eq + 1;
        size_t vl = strlen(val);
        while (vl && (val[vl - 1] == '\n' || val[vl - 1] == '\r'))
            val[--vl] = 0;
        if (vl >= 2 && ((val[0] == '"' && val[vl - 1] == '"') ||
                        (val[0] == '\'' && val[vl - 1] == '\''))) {
            val[vl - 1] = 0;
            val++;
        }
        setenv(p, val, 0);
    }
    fclose(f);
    return 0;
}

const char *config_str(const char *name, const char *def)
{
    const char *v = getenv(name);
    return (v && *v) ? v : def;
}

long config_long(const char *name, long def)
{
    const char *v = config_str(name, NULL);
    if (!v)
        return def;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end) {
        log_emit(LOG_WARN, "config.bad_number", "name", name, "value", v, NULL);
        return def;
    }
    return n;
}

int config_bool(const char *name, int def)
{
    const char *v = config_str(name, NULL);
    if (!v)
        return def;
    if (!strcasecmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
        !strcasecmp(v, "on"))
        return 1;
    if (!strcasecmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "false") ||
        !strcasecmp(v, "off"))
        return 0;
    log_emit(LOG_WARN, "config.bad_bool", "name", name, "value", v, NULL);
    return def;
}

int config_port(const char *name, int def)
{
    long p = config_long(name, def);
    if (p < 1 || p > 65535) {
        log_emit(LOG_WARN, "config.bad_port", "name", name, NULL);
        return def;
    }
    return (int)p;
}

long config_size(const char *name, long def)
{
    const char *v = config_str(name, NULL);
    if (!v)
        return def;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    long mult = 1;
    if (*end) {
        switch (tolower((unsigned char)*end)) {
        case 'k': mult = 1024L; break;
        case 'm': mult = 1024L * 1024; break;
        case 'g': mult = 1024L * 1024 * 1024; break;
        default: mult = 0;
        }
        if (mult && end[1] && !(tolower((unsigned char)end[1]) == 'b' && !end[2]))
            mult = 0;
    }
    if (errno || end == v || n < 0 || !mult || n > __LONG_MAX__ / mult) {
        log_emit(LOG_WARN, "config.bad_size", "name", name, "value", v, NULL);
        return def;
    }
    return n * mult;
}

int config_list_has(const char *name, const char *value)
{
    const char *list = config_str(name, NULL);
    if (!list || !value)
        return 0;
    size_t vlen = strlen(value);
    const char *p = list;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && isspace((unsigned char)end[-1]))
            end--;
        if ((size_t)(end - start) == vlen && vlen && strncasecmp(start, value, vlen) == 0)
            return 1;
    }
    return 0;
}

int config_is_local_domain(const char *domain)
{
    if (!domain || !*domain)
        return 0;
    if (strcasecmp(domain, config_str("MAILSTACK_DOMAIN", "example.test")) == 0)
        return 1;
    return config_list_has("MAILSTACK_DOMAINS", domain);
}

int config_domain_base(const char *domain, char *out, size_t outlen)
{
    const char *list = config_str("MAILSTACK_LDAP_DOMAIN_BASES", NULL);
    size_t dlen = domain ? strlen(domain) : 0;
    if (!list || !dlen)
        return 0;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ';');
        if (!end)
            end = p + strlen(p);
        while (p < end && isspace((unsigned char)*p))
            p++;
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *key_end = eq;
        while (key_end && key_end > p && isspace((unsigned char)key_end[-1]))
            key_end--;
        if (eq && (size_t)(key_end - p) == dlen && strncasecmp(p, domain, dlen) == 0) {
            const char *b = eq + 1, *e = end;
            while (b < e && isspace((unsigned char)*b))
                b++;
            while (e > b && isspace((unsigned char)e[-1]))
                e--;
            if (b == e || (size_t)(e - b) >= outlen)
                return 0;
            memcpy(out, b, (size_t)(e - b));
            out[e - b] = 0;
            return 1;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}
