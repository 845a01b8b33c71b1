/* auth_check: LDAP search + bind behind auth_check.h. Two connections per worker: one
 * bound as the service account for searches, one that is rebound as each user, so a
 * user's bind never changes what the searches may read. */
#include "auth_check.h"
#include "config/config.h"
#include "ldapconn/ldapconn.h"
#include "log/log.h"

#include <string.h>
#include <sys/time.h>

static _Thread_local LDAP *auth_search_ld;
static _Thread_local LDAP *auth_bind_ld;

static int auth_timeout_ms(void)
{
    return (int)config_long("MAILSTACK_LDAP_TIMEOUT_MS", 5000);
}

static void auth_drop(LDAP **ld)
{
    if (*ld)
        ldap_unbind_ext_s(*ld, NULL, NULL);
    *ld = NULL;
}

void auth_check_thread_end(void)
{
    auth_drop(&auth_search_ld);
    auth_drop(&auth_bind_ld);
}

static LDAP *auth_search_conn(int *rc)
{
    if (auth_search_ld)
        return auth_search_ld;
    char err[256];
    auth_search_ld = ldapconn_open(config_str("MAILSTACK_LDAP_URI", "ldap://127.0.0.1:389/"),
                                   config_str("MAILSTACK_LDAP_BIND_DN", NULL),
                                   config_str("MAILSTACK_LDAP_BIND_PASSWORD", NULL),
                                   auth_timeout_ms(), rc, err, sizeof(err));
    if (!auth_search_ld)
        log_emit(LOG_WARN, "auth.ldap_connect_failed", "error", err, NULL);
    return auth_search_ld;
}

static LDAP *auth_bind_conn(int *rc)
{
    if (auth_bind_ld)
        return auth_bind_ld;
    char err[256];
    /* Opened anonymously: the seed's ACL lets anonymous only authenticate. */
    auth_bind_ld = ldapconn_open(config_str("MAILSTACK_LDAP_URI", "ldap://127.0.0.1:389/"),
                                 NULL, NULL, auth_timeout_ms(), rc, err, sizeof(err));
    return auth_bind_ld;
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

/* The filter: the configured base filter (the seed's pam_filter objectclass=posixAccount)
 * and the name as a uid or an accepted address; for user@our-domain also its local part. */
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

/* Runs the search; returns an LDAP code. On success exactly one entry was found. */
static int auth_find(struct auth_request *r, const char *filter, char **dn, char **uid)
{
    int rc;
    LDAP *ld = auth_search_conn(&rc);
    if (!ld)
        return rc;
    const char *base = config_str("MAILSTACK_LDAP_USER_BASE",
                                  config_str("MAILSTACK_LDAP_BASE", "dc=example,dc=test"));
    char *attrs[] = {"uid", NULL};
    int ms = auth_timeout_ms();
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    LDAPMessage *res = NULL;
    rc = ldap_search_ext_s(ld, base, auth_scope(), filter, attrs, 0, NULL, NULL, &tv, 2, &res);
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
        if (res)
            ldap_msgfree(res);
        if (ldapconn_is_down(rc))
            auth_drop(&auth_search_ld);
        return rc;
    }
    int n = ldap_count_entries(ld, res);
    if (n != 1) {
        ldap_msgfree(res);
        r->reason = n == 0 ? "no such user" : "ambiguous user name";
        return LDAP_NO_SUCH_OBJECT;
    }
    LDAPMessage *e = ldap_first_entry(ld, res);
    char *d = ldap_get_dn(ld, e);
    *dn = pool_strdup(r->pool, d);
    ldap_memfree(d);
    *uid = ldapconn_first_value(r->pool, ld, e, "uid");
    ldap_msgfree(res);
    return LDAP_SUCCESS;
}

void auth_check(struct auth_request *r)
{
    r->result = AUTH_FAILED;
    char *filter = auth_filter(r->pool, r->username);
    if (!filter) {
        r->reason = "unusable user name";
        return;
    }
    char *dn = NULL, *uid = NULL;
    int rc = auth_find(r, filter, &dn, &uid);
    if (ldapconn_is_down(rc)) /* the connection may have been stale: one fresh try */
        rc = auth_find(r, filter, &dn, &uid);
    if (rc != LDAP_SUCCESS) {
        if (ldapconn_is_down(rc)) {
            r->result = AUTH_UNAVAILABLE;
            r->reason = "ldap unreachable";
        } else if (!r->reason) {
            r->reason = pool_strdup(r->pool, ldap_err2string(rc));
        }
        return;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        LDAP *ld = auth_bind_conn(&rc);
        if (ld)
            rc = ldapconn_bind(ld, dn, r->password);
        if (!ldapconn_is_down(rc))
            break;
        auth_drop(&auth_bind_ld);
    }
    if (rc == LDAP_SUCCESS) {
        r->result = AUTH_OK;
        r->dn = dn;
        r->account = uid ? uid : dn;
    } else if (ldapconn_is_down(rc)) {
        r->result = AUTH_UNAVAILABLE;
        r->reason = "ldap unreachable";
    } else {
        r->reason = "invalid credentials";
    }
}

int auth_check_ping(void)
{
    int rc;
    char err[256];
    LDAP *ld = ldapconn_open(config_str("MAILSTACK_LDAP_URI", "ldap://127.0.0.1:389/"),
                             config_str("MAILSTACK_LDAP_BIND_DN", NULL),
                             config_str("MAILSTACK_LDAP_BIND_PASSWORD", NULL),
                             auth_timeout_ms(), &rc, err, sizeof(err));
    if (!ld)
        return -1;
    ldap_unbind_ext_s(ld, NULL, NULL);
    return 0;
}
