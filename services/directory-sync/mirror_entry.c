/* mirror_entry: LDAP entry → mirror record, behind mirror_entry.h. */
#include "mirror_entry.h"
#include "ldapconn/ldapconn.h"
#include "log/log.h"
#include "mailaddr/mailaddr.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

char **mirror_entry_attributes(pool_t *pool, const mirror_scope_t *scope)
{
    static const char *const fixed[] = {"objectClass", "uid", "cn", "displayName", "maildrop",
                                        "mailacceptinggeneralid", "mail", "member",
                                        "rfc822MailMember"};
    size_t n = sizeof(fixed) / sizeof(fixed[0]);
    char **attrs = pool_zalloc(pool, sizeof(char *) * (n + 2));
    for (size_t i = 0; i < n; i++)
        attrs[i] = pool_strdup(pool, fixed[i]);
    attrs[n] = pool_strdup(pool, mirror_scope_quota_attribute(scope));
    return attrs;
}

char *mirror_uuid_text(pool_t *pool, const struct berval *raw)
{
    if (!raw || raw->bv_len != 16)
        return NULL;
    const unsigned char *u = (const unsigned char *)raw->bv_val;
    return pool_printf(pool,
                       "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                       "%02x%02x%02x%02x%02x%02x",
                       u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
                       u[12], u[13], u[14], u[15]);
}

/* An address as lookups compare it: the local part folded when the setting says so, the
 * domain (after the last '@') always, as domains are case-insensitive. */
static char *entry_address_key(pool_t *pool, const mirror_scope_t *scope, const char *v)
{
    const char *at = strrchr(v, '@');
    char *local = pool_strndup(pool, v, at ? (size_t)(at - v) : strlen(v));
    if (mirror_scope_fold(scope))
        local = mailaddr_lower(pool, local);
    return at ? pool_printf(pool, "%s@%s", local, mailaddr_lower(pool, at + 1)) : local;
}

/* Adds every value of `attr` to the text[] literal being built in *arr; keyed values go
 * through entry_address_key. Returns how many were added. */
static int entry_collect(pool_t *pool, const mirror_scope_t *scope, LDAP *ld, LDAPMessage *e,
                         const char *attr, int keyed, char **arr)
{
    struct berval **vals = ldap_get_values_len(ld, e, attr);
    int n = 0;
    for (int i = 0; vals && vals[i]; i++) {
        char *v = pool_strndup(pool, vals[i]->bv_val, vals[i]->bv_len);
        if (!*v || strlen(v) != vals[i]->bv_len)
            continue; /* empty, or with a NUL that no address or DN holds */
        *arr = mirror_array_add(pool, *arr, keyed ? entry_address_key(pool, scope, v) : v);
        n++;
    }
    if (vals)
        ldap_value_free_len(vals);
    return n;
}

static int entry_has_class(LDAP *ld, LDAPMessage *e, const char *cls)
{
    struct berval **vals = ldap_get_values_len(ld, e, "objectClass");
    int found = 0;
    for (int i = 0; vals && vals[i] && !found; i++)
        found = vals[i]->bv_len == strlen(cls) &&
                strncasecmp(vals[i]->bv_val, cls, vals[i]->bv_len) == 0;
    if (vals)
        ldap_value_free_len(vals);
    return found;
}

static const char *entry_array(pool_t *pool, const char *arr)
{
    return pool_printf(pool, "{%s}", arr ? arr : "");
}

/* The quota in KiB if the attribute holds a plain non-negative number. */
static const char *entry_quota(pool_t *pool, const mirror_scope_t *scope, LDAP *ld,
                               LDAPMessage *e, const char *dn)
{
    char *v = ldapconn_first_value(pool, ld, e, mirror_scope_quota_attribute(scope));
    if (!v)
        return NULL;
    size_t digits = strspn(v, "0123456789");
    if (digits == 0 || digits > 15 || v[digits]) {
        log_emit(LOG_WARN, "mirror.bad_quota", "dn", dn, "value", v, NULL);
        return NULL;
    }
    return v;
}

static void entry_read_account(pool_t *pool, const mirror_scope_t *scope, LDAP *ld,
                               LDAPMessage *e, struct mirror_record *out)
{
    out->uid = ldapconn_first_value(pool, ld, e, "uid");
    if (!out->uid || !*out->uid) {
        out->why = "xMail entry without uid";
        return;
    }
    out->kind = MIRROR_ACCOUNT;
    out->maildrop = ldapconn_first_value(pool, ld, e, "maildrop");
    out->display_name = ldapconn_first_value(pool, ld, e, "displayName");
    if (!out->display_name)
        out->display_name = ldapconn_first_value(pool, ld, e, "cn");
    out->quota_kb = entry_quota(pool, scope, ld, e, out->dn);
    char *arr = NULL;
    entry_collect(pool, scope, ld, e, "mailacceptinggeneralid", 1, &arr);
    out->addresses = entry_array(pool, arr);
}

static void entry_read_group(pool_t *pool, const mirror_scope_t *scope, LDAP *ld, LDAPMessage *e,
                             int nis, struct mirror_record *out)
{
    char *addrs = NULL, *dns = NULL, *members = NULL;
    int n = entry_collect(pool, scope, ld, e, "mail", 1, &addrs);
    if (entry_has_class(ld, e, "xMail"))
        n += entry_collect(pool, scope, ld, e, "mailacceptinggeneralid", 1, &addrs);
    if (nis)
        n += entry_collect(pool, scope, ld, e, "cn", 1, &addrs);
    if (n == 0) {
        out->why = "group without a mail address";
        return;
    }
    entry_collect(pool, scope, ld, e, "member", 0, &dns);
    entry_collect(pool, scope, ld, e, "rfc822MailMember", 0, &members);
    out->kind = MIRROR_GROUP;
    out->addresses = entry_array(pool, addrs);
    out->member_dns = entry_array(pool, dns);
    out->member_addresses = entry_array(pool, members);
}

void mirror_entry_read(pool_t *pool, const mirror_scope_t *scope, LDAP *ld, LDAPMessage *e,
                       const char *uuid, struct mirror_record *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = MIRROR_SKIP;
    out->uuid = uuid;
    char *dn = ldap_get_dn(ld, e);
    out->dn = pool_strdup(pool, dn ? dn : "");
    ldap_memfree(dn);
    out->domain = mirror_scope_domain(scope, pool, out->dn);
    if (!out->domain) {
        out->why = "outside the mirrored bases";
        return;
    }
    /* A group first: a list may carry xMail for its mailacceptinggeneralid addresses. */
    int nis = entry_has_class(ld, e, "nisMailAlias");
    if (nis || entry_has_class(ld, e, "groupOfNames"))
        entry_read_group(pool, scope, ld, e, nis, out);
    else if (entry_has_class(ld, e, "xMail"))
        entry_read_account(pool, scope, ld, e, out);
    else
        out->why = "neither xMail nor a group";
}
