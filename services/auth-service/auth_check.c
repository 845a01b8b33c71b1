/* auth_check: LDAP search + bind behind auth_check.h, over two connection pools. A
 * connection that fails with the server gone is dropped and the operation tried once more
 * on a fresh one, since after a slapd restart every pooled connection is stale.
 *
 * The DN cache: a successful check remembers name -> (DN, uid) for
 * MAILSTACK_AUTH_DN_CACHE_MS (default 60 s; 0 turns it off), so the next check of that
 * name is a bind alone, half the LDAP work. The bind still decides, so a changed password
 * or a deleted entry counts at once; only a removed alias can still name its entry until
 * its cache entry expires. Only successes are cached and a failed bind drops the name and
 * searches again (binding again only if the DN changed), so unknown names and wrong
 * passwords always take the full path. */
#include "auth_check.h"
#include "auth_pool.h"
#include "config/config.h"
#include "control/control.h"
#include "keytable.h"
#include "ldapconn/ldapconn.h"
#include "log/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Bound to when the name matched no entry. Its outcome is ignored; it exists so that an
 * unknown name costs LDAP a bind, like a known one. */
#define AUTH_DUMMY_RDN "cn=auth-service no such user"

static auth_pool_t *auth_search_pool; /* bound as MAILSTACK_LDAP_BIND_DN */
static auth_pool_t *auth_bind_pool;   /* opened anonymously: the seed's ACL lets anonymous
                                         only authenticate */
static int auth_timeout_ms;

struct auth_cached {
    char *dn, *uid;
    long expires_ms;
};

static keytable_t *auth_dn_cache;
static pthread_mutex_t auth_dn_lock = PTHREAD_MUTEX_INITIALIZER;
static long auth_dn_cache_ms;

static void auth_cached_free(void *v)
{
    struct auth_cached *c = v;
    free(c->dn);
    free(c->uid);
}

static long auth_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* LDAP compares uids and addresses ignoring case, so the cache does too. */
static char *auth_cache_key(pool_t *pool, const char *username)
{
    char *k = pool_strdup(pool, username);
    for (char *p = k; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return k;
}

/* 1 and the cached DN and uid (copied into r->pool) when the name is cached and fresh. */
static int auth_cache_get(struct auth_request *r, const char *key, char **dn, char **uid)
{
    if (!auth_dn_cache)
        return 0;
    pthread_mutex_lock(&auth_dn_lock);
    struct auth_cached *c = keytable_get(auth_dn_cache, key, strlen(key));
    if (c && c->expires_ms <= auth_now_ms()) {
        keytable_remove(auth_dn_cache, c);
        c = NULL;
    }
    if (c) {
        *dn = pool_strdup(r->pool, c->dn);
        *uid = pool_strdup(r->pool, c->uid);
    }
    pthread_mutex_unlock(&auth_dn_lock);
    if (c)
        metrics_add("auth_dn_cache_hits_total", 1);
    return c != NULL;
}

static void auth_cache_put(const char *key, const char *dn, const char *uid)
{
    if (!auth_dn_cache)
        return;
    char *d = strdup(dn), *u = uid ? strdup(uid) : NULL;
    if (!d || (uid && !u)) {
        free(d);
        free(u);
        return;
    }
    pthread_mutex_lock(&auth_dn_lock);
    struct auth_cached *c = keytable_put(auth_dn_cache, key, strlen(key));
    auth_cached_free(c);
    *c = (struct auth_cached){d, u, auth_now_ms() + auth_dn_cache_ms};
    pthread_mutex_unlock(&auth_dn_lock);
}

static void auth_cache_drop(const char *key)
{
    if (!auth_dn_cache)
        return;
    pthread_mutex_lock(&auth_dn_lock);
    struct auth_cached *c = keytable_get(auth_dn_cache, key, strlen(key));
    if (c)
        keytable_remove(auth_dn_cache, c);
    pthread_mutex_unlock(&auth_dn_lock);
}

int auth_check_init(void)
{
    const char *uri = config_str("MAILSTACK_LDAP_URI", "ldap://127.0.0.1:389/");
    auth_timeout_ms = (int)config_long("MAILSTACK_LDAP_TIMEOUT_MS", 5000);
    metrics_describe("auth_ldap_connects_total", "counter",
                     "LDAP connections opened (a pool reuses them across checks).");
    metrics_describe("auth_ldap_connections", "gauge", "LDAP connections open now.");
    auth_search_pool = auth_pool_new("search", uri, config_str("MAILSTACK_LDAP_BIND_DN", NULL),
                                     config_str("MAILSTACK_LDAP_BIND_PASSWORD", NULL),
                                     auth_timeout_ms);
    auth_bind_pool = auth_pool_new("bind", uri, NULL, NULL, auth_timeout_ms);
    auth_dn_cache_ms = config_long("MAILSTACK_AUTH_DN_CACHE_MS", 60000);
    metrics_describe("auth_dn_cache_hits_total", "counter",
                     "Checks that skipped the search: the name's DN was cached.");
    metrics_add("auth_dn_cache_hits_total", 0);
    if (auth_dn_cache_ms > 0)
        auth_dn_cache = keytable_new(sizeof(struct auth_cached),
                                     (size_t)config_long("MAILSTACK_AUTH_DN_CACHE_ENTRIES", 10000),
                                     auth_cached_free);
    return auth_search_pool && auth_bind_pool ? 0 : -1;
}

void auth_check_end(void)
{
    auth_pool_free(auth_search_pool);
    auth_pool_free(auth_bind_pool);
    auth_search_pool = auth_bind_pool = NULL;
    keytable_free(auth_dn_cache);
    auth_dn_cache = NULL;
}

static int auth_scope(void)
{
    const char *s = config_str("MAILSTACK_LDAP_AUTH_SCOPE", "sub");
    if (strcmp(s, "one") == 0)
        return LDAP_SCOPE_ONELEVEL;
    if (strcmp(s, "base") == 0)
        return LDAP_SCOPE_BASE;
    return LDAP_SCOPE_SUBTREE;
}

/* Where to search: the base of the name's domain when it has one of its own (virtual
 * hosting), else the user base. */
static const char *auth_base(pool_t *pool, const char *username)
{
    const char *at = strrchr(username, '@');
    char base[512];
    if (at && config_domain_base(at + 1, base, sizeof(base)))
        return pool_strdup(pool, base);
    return config_str("MAILSTACK_LDAP_USER_BASE",
                      config_str("MAILSTACK_LDAP_BASE", "dc=example,dc=test"));
}

/* The filter: the configured base filter (the seed's pam_filter objectclass=posixAccount)
 * and the name as a uid or an accepted address; for user@our-domain also its local part.
 * Every value is escaped (RFC 4515), so "*)(uid=*" is just a name no entry has. */
static char *auth_filter(pool_t *pool, const char *username)
{
    const char *base = config_str("MAILSTACK_LDAP_AUTH_FILTER", "(objectClass=posixAccount)");
    char *u = ldapconn_escape(pool, username);
    if (!u)
        return NULL;
    const char *at = strrchr(username, '@');
    char *local = NULL;
    if (at && at != username && config_is_local_domain(at + 1))
        local = ldapconn_escape(pool, pool_strndup(pool, username, (size_t)(at - username)));
    if (local)
        return pool_printf(pool, "(&%s(|(uid=%s)(mailacceptinggeneralid=%s)(uid=%s)"
                                 "(mailacceptinggeneralid=%s)))",
                           base, u, u, local, local);
    return pool_printf(pool, "(&%s(|(uid=%s)(mailacceptinggeneralid=%s)))", base, u, u);
}

/* One search on a pooled connection; returns an LDAP code. On success exactly one entry
 * was found and *dn, *uid are set. */
static int auth_search_once(struct auth_request *r, const char *base, const char *filter,
                            char **dn, char **uid)
{
    int rc;
    LDAP *ld = auth_pool_get(auth_search_pool, &rc);
    if (!ld)
        return rc;
    char *attrs[] = {"uid", NULL};
    struct timeval tv = {auth_timeout_ms / 1000, (auth_timeout_ms % 1000) * 1000};
    LDAPMessage *res = NULL;
    rc = ldap_search_ext_s(ld, base, auth_scope(), filter, attrs, 0, NULL, NULL, &tv, 2, &res);
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
        if (res)
            ldap_msgfree(res);
        auth_pool_put(auth_search_pool, ld, ldapconn_is_down(rc));
        return rc;
    }
    int n = ldap_count_entries(ld, res);
    if (n == 1) {
        LDAPMessage *e = ldap_first_entry(ld, res);
        char *d = ldap_get_dn(ld, e);
        *dn = pool_strdup(r->pool, d);
        ldap_memfree(d);
        *uid = ldapconn_first_value(r->pool, ld, e, "uid");
        rc = LDAP_SUCCESS;
    } else {
        r->reason = n == 0 ? "no such user" : "ambiguous user name";
        rc = LDAP_NO_SUCH_OBJECT;
    }
    ldap_msgfree(res);
    auth_pool_put(auth_search_pool, ld, 0);
    return rc;
}

static int auth_bind_once(const char *dn, const char *password)
{
    int rc;
    LDAP *ld = auth_pool_get(auth_bind_pool, &rc);
    if (!ld)
        return rc;
    rc = ldapconn_bind(ld, dn, password);
    auth_pool_put(auth_bind_pool, ld, ldapconn_is_down(rc));
    return rc;
}

/* A bind, once more on a fresh connection if the pooled one had gone stale. */
static int auth_bind(const char *dn, const char *password)
{
    int rc = auth_bind_once(dn, password);
    return ldapconn_is_down(rc) ? auth_bind_once(dn, password) : rc;
}

static void auth_unavailable(struct auth_request *r)
{
    r->result = AUTH_UNAVAILABLE;
    r->reason = "ldap unreachable";
}

void auth_check(struct auth_request *r)
{
    r->result = AUTH_FAILED;
    const char *key = auth_cache_key(r->pool, r->username);
    char *dn = NULL, *uid = NULL, *tried = NULL;
    int rc;
    if (auth_cache_get(r, key, &dn, &uid)) {
        rc = auth_bind(dn, r->password);
        if (ldapconn_is_down(rc)) {
            auth_unavailable(r);
            return;
        }
        if (rc == LDAP_SUCCESS) {
            r->result = AUTH_OK;
            r->dn = dn;
            r->account = uid ? uid : dn;
            return;
        }
        auth_cache_drop(key);
        tried = dn;
        dn = uid = NULL;
    }
    const char *base = auth_base(r->pool, r->username);
    char *filter = auth_filter(r->pool, r->username);
    rc = LDAP_NO_SUCH_OBJECT;
    if (filter) {
        rc = auth_search_once(r, base, filter, &dn, &uid);
        if (ldapconn_is_down(rc))
            rc = auth_search_once(r, base, filter, &dn, &uid);
    } else {
        r->reason = "unusable user name";
    }
    if (ldapconn_is_down(rc)) {
        auth_unavailable(r);
        return;
    }
    int found = rc == LDAP_SUCCESS;
    if (!found && !r->reason)
        r->reason = pool_strdup(r->pool, ldap_err2string(rc));
    if (found && tried && strcmp(dn, tried) == 0) {
        r->reason = "invalid credentials"; /* that very bind just failed */
        return;
    }
    rc = auth_bind(found ? dn : pool_printf(r->pool, "%s,%s", AUTH_DUMMY_RDN, base), r->password);
    if (ldapconn_is_down(rc)) {
        auth_unavailable(r);
    } else if (found && rc == LDAP_SUCCESS) {
        r->result = AUTH_OK;
        r->dn = dn;
        r->account = uid ? uid : dn;
        auth_cache_put(key, dn, uid);
    } else if (found) {
        r->reason = "invalid credentials";
    }
}

/* The root DSE, read on a pooled search connection: proves slapd answers without opening
 * a connection every few seconds. */
static int auth_ping_once(void)
{
    int rc;
    LDAP *ld = auth_pool_get(auth_search_pool, &rc);
    if (!ld)
        return rc;
    char *attrs[] = {LDAP_NO_ATTRS, NULL};
    struct timeval tv = {auth_timeout_ms / 1000, (auth_timeout_ms % 1000) * 1000};
    LDAPMessage *res = NULL;
    rc = ldap_search_ext_s(ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
                           &tv, 1, &res);
    if (res)
        ldap_msgfree(res);
    auth_pool_put(auth_search_pool, ld, ldapconn_is_down(rc));
    return rc;
}

int auth_check_ping(void)
{
    int rc = auth_ping_once();
    if (ldapconn_is_down(rc))
        rc = auth_ping_once();
    return rc == LDAP_SUCCESS ? 0 : -1;
}
