/* mirror_scope: the mirrored subtrees behind mirror_scope.h.
 *
 * Sessions: one syncrepl session per group of bases that share a suffix, at that common
 * suffix, rather than one per base. Within one slapd database a rename may move an entry
 * from one domain's base to another (modrdn with newSuperior); one session reports that as
 * a single modify of the same entryUUID, applied in one transaction, so the row (and the
 * mailbox hanging off its account_id) survives. Two sessions would report a delete in one
 * and an add in the other, in no defined order: applied delete-last, the row would vanish.
 * Bases with no common suffix (separate naming contexts, e.g. dc=other,dc=org next to
 * dc=example,dc=test) cannot exchange entries, so they safely get a session each. Bases that
 * share a suffix but live in separate databases (dc=a,dc=org and dc=b,dc=org) would be
 * searched at dc=org, which no database holds: MAILSTACK_LDAP_SYNC_BASES
 * ("dn;dn") names the roots explicitly for such directories. */
#include "mirror_scope.h"
#include "config/config.h"
#include "log/log.h"
#include "mailaddr/mailaddr.h"

#include <ctype.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scope_base {
    const char *norm;   /* normalised, case kept */
    const char *key;    /* the same, lower-cased (mirror_dn_key) */
    const char *domain; /* lower-cased; "" for the shared bases */
};

struct mirror_scope {
    pool_t *pool;
    struct scope_base *bases;
    int nbases;
    const char **roots;     /* normalised, case kept: the search bases */
    const char **root_keys; /* the same, lower-cased */
    int nroots;
    const char *roots_array, *fingerprint, *filter, *quota_attribute;
    int fold;
};

/* ',' at key[i] separates two RDNs unless an odd run of backslashes escapes it. */
static int scope_is_separator(const char *key, size_t i)
{
    if (key[i] != ',')
        return 0;
    size_t slashes = 0;
    while (slashes < i && key[i - 1 - slashes] == '\\')
        slashes++;
    return slashes % 2 == 0;
}

/* Where the last `k` RDNs of key begin, or -1 if it has fewer. */
static long scope_suffix_start(const char *key, int k)
{
    size_t len = strlen(key);
    int seen = 0;
    for (size_t i = len; i-- > 0;) {
        if (scope_is_separator(key, i) && ++seen == k)
            return (long)i + 1;
    }
    return seen + 1 == k ? 0 : -1;
}

/* How many trailing RDNs two keys share. */
static int scope_common_rdns(const char *a, const char *b)
{
    int k = 0;
    for (;;) {
        long sa = scope_suffix_start(a, k + 1), sb = scope_suffix_start(b, k + 1);
        if (sa < 0 || sb < 0 || strcmp(a + sa, b + sb) != 0)
            return k;
        k++;
    }
}

/* 1 when `key` is `base` or lies below it. */
static int scope_under(const char *key, const char *base)
{
    size_t kl = strlen(key), bl = strlen(base);
    if (kl == bl)
        return strcmp(key, base) == 0;
    return kl > bl && scope_is_separator(key, kl - bl - 1) && strcmp(key + kl - bl, base) == 0;
}

static char *scope_normalize(pool_t *pool, const char *dn)
{
    char *out = NULL;
    if (!dn || !*dn || ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAP, &out, LDAP_DN_FORMAT_LDAPV3) !=
                           LDAP_SUCCESS || !out || !*out) {
        ldap_memfree(out);
        return NULL;
    }
    char *copy = pool_strdup(pool, out);
    ldap_memfree(out);
    return copy;
}

char *mirror_dn_key(pool_t *pool, const char *dn)
{
    char *norm = scope_normalize(pool, dn);
    return norm ? mailaddr_lower(pool, norm) : NULL;
}

char *mirror_array_add(pool_t *pool, char *arr, const char *v)
{
    size_t n = strlen(v);
    char *q = pool_alloc(pool, n * 2 + 3), *w = q;
    *w++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '"' || v[i] == '\\')
            *w++ = '\\';
        *w++ = v[i];
    }
    *w++ = '"';
    *w = 0;
    return arr ? pool_printf(pool, "%s,%s", arr, q) : q;
}

static int scope_add_base(mirror_scope_t *s, int cap, const char *dn, const char *domain,
                          const char *setting, char *err, size_t errlen)
{
    char *norm = scope_normalize(s->pool, dn);
    if (!norm) {
        snprintf(err, errlen, "%s: not a DN: %s", setting, dn);
        return -1;
    }
    char *key = mailaddr_lower(s->pool, norm);
    for (int i = 0; i < s->nbases; i++)
        if (strcmp(s->bases[i].key, key) == 0 && strcmp(s->bases[i].domain, domain) == 0)
            return 0;
    if (s->nbases < cap) {
        s->bases[s->nbases].norm = norm;
        s->bases[s->nbases].key = key;
        s->bases[s->nbases].domain = mailaddr_lower(s->pool, domain);
        s->nbases++;
    }
    return 0;
}

/* The served domains: MAILSTACK_DOMAIN and the comma-separated MAILSTACK_DOMAINS. */
static int scope_add_domain_bases(mirror_scope_t *s, int cap, char *err, size_t errlen)
{
    char *list = pool_printf(s->pool, "%s,%s", config_str("MAILSTACK_DOMAIN", "example.test"),
                             config_str("MAILSTACK_DOMAINS", ""));
    char *save = NULL;
    for (char *d = strtok_r(list, ", \t", &save); d; d = strtok_r(NULL, ", \t", &save)) {
        char base[1024];
        if (config_domain_base(d, base, sizeof(base)) &&
            scope_add_base(s, cap, base, d, "MAILSTACK_LDAP_DOMAIN_BASES", err, errlen) != 0)
            return -1;
    }
    return 0;
}

static void scope_add_root(mirror_scope_t *s, const char *norm)
{
    s->roots[s->nroots] = norm;
    s->root_keys[s->nroots] = mailaddr_lower(s->pool, norm);
    s->nroots++;
}

/* Roots from MAILSTACK_LDAP_SYNC_BASES, else the bases merged while any two share a
 * trailing RDN (see the top of this file). */
static int scope_make_roots(mirror_scope_t *s, char *err, size_t errlen)
{
    const char *explicit_roots = config_str("MAILSTACK_LDAP_SYNC_BASES", NULL);
    s->roots = pool_zalloc(s->pool, sizeof(char *) * (size_t)(s->nbases + 64));
    s->root_keys = pool_zalloc(s->pool, sizeof(char *) * (size_t)(s->nbases + 64));
    if (explicit_roots) {
        char *list = pool_strdup(s->pool, explicit_roots), *save = NULL;
        for (char *r = strtok_r(list, ";", &save); r && s->nroots < s->nbases + 64;
             r = strtok_r(NULL, ";", &save)) {
            while (isspace((unsigned char)*r))
                r++;
            if (!*r)
                continue;
            char *norm = scope_normalize(s->pool, r);
            if (!norm) {
                snprintf(err, errlen, "MAILSTACK_LDAP_SYNC_BASES: not a DN: %s", r);
                return -1;
            }
            scope_add_root(s, norm);
        }
        return 0;
    }
    for (int i = 0; i < s->nbases; i++)
        scope_add_root(s, s->bases[i].norm);
    for (int merged = 1; merged;) {
        merged = 0;
        for (int i = 0; i < s->nroots && !merged; i++) {
            for (int j = i + 1; j < s->nroots && !merged; j++) {
                int k = scope_common_rdns(s->root_keys[i], s->root_keys[j]);
                if (k == 0)
                    continue;
                const char *common = s->roots[i] + scope_suffix_start(s->root_keys[i], k);
                s->roots[i] = common;
                s->root_keys[i] = mailaddr_lower(s->pool, common);
                s->roots[j] = s->roots[s->nroots - 1];
                s->root_keys[j] = s->root_keys[s->nroots - 1];
                s->nroots--;
                merged = 1;
            }
        }
    }
    return 0;
}

mirror_scope_t *mirror_scope_load(char *err, size_t errlen)
{
    pool_t *pool = pool_create(0);
    mirror_scope_t *s = pool_zalloc(pool, sizeof(*s));
    s->pool = pool;
    const char *suffix = config_str("MAILSTACK_LDAP_BASE", "dc=example,dc=test");
    int cap = 64;
    s->bases = pool_zalloc(pool, sizeof(*s->bases) * (size_t)cap);
    if (scope_add_base(s, cap, config_str("MAILSTACK_LDAP_USER_BASE", suffix), "",
                       "MAILSTACK_LDAP_USER_BASE", err, errlen) != 0 ||
        scope_add_base(s, cap,
                       config_str("MAILSTACK_LDAP_GROUP_BASE",
                                  pool_printf(pool, "ou=Group,%s", suffix)),
                       "", "MAILSTACK_LDAP_GROUP_BASE", err, errlen) != 0 ||
        scope_add_domain_bases(s, cap, err, errlen) != 0)
        goto fail;
    if (scope_make_roots(s, err, errlen) != 0)
        goto fail;
    if (s->nroots == 0) {
        snprintf(err, errlen, "no LDAP base to mirror");
        goto fail;
    }
    char *arr = NULL, *fp = pool_strdup(pool, "roots=");
    for (int i = 0; i < s->nroots; i++) {
        arr = mirror_array_add(pool, arr, s->root_keys[i]);
        fp = pool_printf(pool, "%s%s%s", fp, i ? "|" : "", s->root_keys[i]);
    }
    s->roots_array = pool_printf(pool, "{%s}", arr);
    fp = pool_printf(pool, "%s;bases=", fp);
    for (int i = 0; i < s->nbases; i++) {
        int inside = 0;
        for (int r = 0; r < s->nroots; r++)
            inside |= scope_under(s->bases[i].key, s->root_keys[r]);
        if (!inside)
            log_emit(LOG_WARN, "mirror.base_outside_roots", "base", s->bases[i].key, NULL);
        fp = pool_printf(pool, "%s%s%s=%s", fp, i ? "|" : "", s->bases[i].domain,
                         s->bases[i].key);
    }
    s->filter = config_str("MAILSTACK_LDAP_MIRROR_FILTER",
                           "(|(objectClass=xMail)(objectClass=groupOfNames)"
                           "(objectClass=nisMailAlias))");
    s->fold = config_bool("MAILSTACK_LOOKUP_CASE_INSENSITIVE", 1);
    s->quota_attribute = config_str("MAILSTACK_LDAP_QUOTA_ATTRIBUTE", "mailQuota");
    s->fingerprint = pool_printf(pool, "%s;filter=%s;fold=%d;quota=%s", fp, s->filter, s->fold,
                                 s->quota_attribute);
    return s;
fail:
    pool_destroy(pool);
    return NULL;
}

void mirror_scope_free(mirror_scope_t *s)
{
    if (s)
        pool_destroy(s->pool);
}

const char *mirror_scope_domain(const mirror_scope_t *s, pool_t *pool, const char *dn)
{
    char *key = mirror_dn_key(pool, dn);
    if (!key)
        return NULL;
    int in_root = 0;
    for (int r = 0; r < s->nroots; r++)
        in_root |= scope_under(key, s->root_keys[r]);
    if (!in_root)
        return NULL;
    const struct scope_base *best = NULL;
    for (int i = 0; i < s->nbases; i++) {
        const struct scope_base *b = &s->bases[i];
        if (!scope_under(key, b->key))
            continue;
        /* The more specific base wins; at the same base a domain beats the shared one. */
        if (!best || strlen(b->key) > strlen(best->key) ||
            (strlen(b->key) == strlen(best->key) && *b->domain))
            best = b;
    }
    return best ? best->domain : NULL;
}

int mirror_scope_roots(const mirror_scope_t *s)
{
    return s->nroots;
}

const char *mirror_scope_root(const mirror_scope_t *s, int i)
{
    return s->roots[i];
}

const char *mirror_scope_roots_array(const mirror_scope_t *s)
{
    return s->roots_array;
}

const char *mirror_scope_filter(const mirror_scope_t *s)
{
    return s->filter;
}

int mirror_scope_fold(const mirror_scope_t *s)
{
    return s->fold;
}

const char *mirror_scope_quota_attribute(const mirror_scope_t *s)
{
    return s->quota_attribute;
}

const char *mirror_scope_fingerprint(const mirror_scope_t *s)
{
    return s->fingerprint;
}
