/* ldapconn: LDAP connection helpers behind ldapconn.h, on OpenLDAP's libldap. */
#include "ldapconn/ldapconn.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>

LDAP *ldapconn_open(const char *uri, const char *bind_dn, const char *password,
                    int timeout_ms, int *rc, char *err, size_t errlen)
{
    LDAP *ld = NULL;
    int r = ldap_initialize(&ld, uri);
    if (r != LDAP_SUCCESS) {
        *rc = r;
        snprintf(err, errlen, "bad LDAP URI: %s", ldap_err2string(r));
        return NULL;
    }
    int version = LDAP_VERSION3;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    r = ldapconn_bind(ld, bind_dn && *bind_dn ? bind_dn : NULL,
                      bind_dn && *bind_dn ? password : NULL);
    if (r != LDAP_SUCCESS) {
        *rc = r;
        snprintf(err, errlen, "%s", ldap_err2string(r));
        ldap_unbind_ext_s(ld, NULL, NULL);
        return NULL;
    }
    *rc = LDAP_SUCCESS;
    return ld;
}

int ldapconn_bind(LDAP *ld, const char *dn, const char *password)
{
    struct berval cred = {0, NULL};
    if (dn) {
        if (!password || !*password)
            return LDAP_INVALID_CREDENTIALS;
        cred.bv_val = (char *)password;
        cred.bv_len = strlen(password);
    }
    return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

int ldapconn_is_down(int rc)
{
    return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_CONNECT_ERROR ||
           rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY || rc == LDAP_TIMELIMIT_EXCEEDED ||
           rc == LDAP_OTHER || rc == LDAP_LOCAL_ERROR;
}

char *ldapconn_escape(pool_t *pool, const char *value)
{
    struct berval in = {strlen(value), (char *)value}, out = {0, NULL};
    if (ldap_bv2escaped_filter_value(&in, &out) != 0)
        return NULL;
    char *copy = pool_strndup(pool, out.bv_val, out.bv_len);
    ber_memfree(out.bv_val);
    return copy;
}

char *ldapconn_first_value(pool_t *pool, LDAP *ld, LDAPMessage *e, const char *attr)
{
    struct berval **vals = ldap_get_values_len(ld, e, attr);
    if (!vals)
        return NULL;
    char *v = vals[0] ? pool_strndup(pool, vals[0]->bv_val, vals[0]->bv_len) : NULL;
    ldap_value_free_len(vals);
    return v;
}
