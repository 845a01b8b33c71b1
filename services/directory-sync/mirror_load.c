/* mirror_load: LDAP → PostgreSQL full load behind mirror_load.h. The search is paged
 * (RFC 2696) so a directory larger than slapd's sizelimit loads whole. Rows are keyed by
 * entryUUID, so a renamed entry keeps its account_id and its mail. */
#include "mirror_load.h"
#include "config/config.h"
#include "db/db.h"
#include "ldapconn/ldapconn.h"
#include "log/log.h"
#include "pool/pool.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

struct mirror_entry {
    char *uuid, *dn, *uid, *maildrop, *cn;
    char *addresses;   /* a PostgreSQL text[] literal of the lower-cased localparts */
    long naddr;
    struct mirror_entry *next;
};

static double mirror_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends `v` to a text[] literal being built: every element double-quoted with \ and "
 * escaped, so any bytes LDAP holds are carried exactly. */
static char *mirror_array_add(pool_t *pool, char *arr, const char *v)
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

static char *mirror_localpart(pool_t *pool, const char *v)
{
    char *s = pool_strdup(pool, v);
    if (config_bool("MAILSTACK_LOCALPART_CASE_INSENSITIVE", 1))
        for (char *p = s; *p; p++)
            if ((unsigned char)*p < 0x80)
                *p = (char)tolower((unsigned char)*p);
    return s;
}

static struct mirror_entry *mirror_entry_read(pool_t *pool, LDAP *ld, LDAPMessage *e)
{
    struct mirror_entry *m = pool_zalloc(pool, sizeof(*m));
    char *dn = ldap_get_dn(ld, e);
    m->dn = pool_strdup(pool, dn);
    ldap_memfree(dn);
    m->uuid = ldapconn_first_value(pool, ld, e, "entryUUID");
    m->uid = ldapconn_first_value(pool, ld, e, "uid");
    m->maildrop = ldapconn_first_value(pool, ld, e, "maildrop");
    m->cn = ldapconn_first_value(pool, ld, e, "cn");
    if (!m->uuid || !m->uid)
        return NULL;
    struct berval **vals = ldap_get_values_len(ld, e, "mailacceptinggeneralid");
    char *arr = NULL;
    for (int i = 0; vals && vals[i]; i++) {
        char *v = pool_strndup(pool, vals[i]->bv_val, vals[i]->bv_len);
        arr = mirror_array_add(pool, arr, mirror_localpart(pool, v));
        m->naddr++;
    }
    if (vals)
        ldap_value_free_len(vals);
    m->addresses = pool_printf(pool, "{%s}", arr ? arr : "");
    return m;
}

/* Reads every xMail entry under the user base, page by page. */
static int mirror_search(pool_t *pool, LDAP *ld, struct mirror_entry **list, long *count,
                         char *err, size_t errlen)
{
    const char *base = config_str("MAILSTACK_LDAP_USER_BASE",
                                  config_str("MAILSTACK_LDAP_BASE", "dc=example,dc=test"));
    const char *filter = config_str("MAILSTACK_LDAP_MIRROR_FILTER", "(objectClass=xMail)");
    char *attrs[] = {"entryUUID", "uid", "cn", "maildrop", "mailacceptinggeneralid", NULL};
    struct berval *cookie = NULL;
    int rc;
    do {
        LDAPControl *page = NULL, *ctrls[2] = {NULL, NULL};
        rc = ldap_create_page_control(ld, 500, cookie, 1, &page);
        if (cookie)
            ber_bvfree(cookie);
        cookie = NULL;
        if (rc != LDAP_SUCCESS)
            break;
        ctrls[0] = page;
        LDAPMessage *res = NULL;
        struct timeval tv = {60, 0};
        rc = ldap_search_ext_s(ld, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, ctrls, NULL, &tv,
                               0, &res);
        ldap_control_free(page);
        if (rc != LDAP_SUCCESS) {
            if (res)
                ldap_msgfree(res);
            break;
        }
        for (LDAPMessage *e = ldap_first_entry(ld, res); e; e = ldap_next_entry(ld, e)) {
            struct mirror_entry *m = mirror_entry_read(pool, ld, e);
            if (!m)
                continue;
            m->next = *list;
            *list = m;
            (*count)++;
        }
        LDAPControl **rctrls = NULL;
        int errcode = 0;
        ldap_parse_result(ld, res, &errcode, NULL, NULL, NULL, &rctrls, 1);
        if (rctrls) {
            ber_int_t estimate;
            LDAPControl *pr = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctrls, NULL);
            if (pr) {
                struct berval c = {0, NULL};
                if (ldap_parse_pageresponse_control(ld, pr, &estimate, &c) == LDAP_SUCCESS &&
                    c.bv_len > 0)
                    cookie = ber_bvdup(&c);
                ber_memfree(c.bv_val);
            }
            ldap_controls_free(rctrls);
        }
    } while (cookie);
    if (rc != LDAP_SUCCESS)
        snprintf(err, errlen, "search %s: %s", base, ldap_err2string(rc));
    return rc;
}

static int mirror_write(PGconn *db, struct mirror_entry *list, struct mirror_load_result *out,
                        pool_t *pool)
{
    char *uuids = NULL;
    for (struct mirror_entry *m = list; m; m = m->next)
        uuids = mirror_array_add(pool, uuids, m->uuid);
    const char *p[6];
    if (db_begin(db) != 0)
        return -1;
    p[0] = pool_printf(pool, "{%s}", uuids ? uuids : "");
    PGresult *r = db_exec(db, "mirror.remove_gone",
                          "DELETE FROM accounts WHERE entry_uuid IS NULL"
                          " OR NOT (entry_uuid = ANY($1::text[]))",
                          1, p);
    if (!r)
        goto fail;
    out->removed = atol(PQcmdTuples(r));
    PQclear(r);
    for (struct mirror_entry *m = list; m; m = m->next) {
        p[0] = m->uuid;
        p[1] = m->dn;
        p[2] = m->uid;
        p[3] = m->maildrop;
        p[4] = m->cn;
        p[5] = m->addresses;
        r = db_exec(db, "mirror.upsert",
                    "WITH a AS ("
                    " INSERT INTO accounts (entry_uuid, dn, uid, maildrop, display_name)"
                    " VALUES ($1, $2, $3, $4, $5)"
                    " ON CONFLICT (entry_uuid) DO UPDATE SET dn = EXCLUDED.dn,"
                    "  uid = EXCLUDED.uid, maildrop = EXCLUDED.maildrop,"
                    "  display_name = EXCLUDED.display_name, updated_at = now()"
                    " RETURNING account_id),"
                    " d AS (DELETE FROM account_addresses x USING a"
                    "  WHERE x.account_id = a.account_id"
                    "  AND NOT (x.localpart = ANY($6::text[])))"
                    " INSERT INTO account_addresses (account_id, localpart)"
                    " SELECT a.account_id, l FROM a, unnest($6::text[]) AS l"
                    " ON CONFLICT DO NOTHING",
                    6, p);
        if (!r)
            goto fail;
        PQclear(r);
        out->entries++;
        out->addresses += m->naddr;
    }
    if (db_commit(db) != 0)
        goto fail;
    return 0;
fail:
    db_rollback(db);
    return -1;
}

void mirror_load(struct mirror_load_result *out)
{
    memset(out, 0, sizeof(*out));
    double t0 = mirror_now();
    pool_t *pool = pool_create(64 * 1024);
    int rc;
    LDAP *ld = ldapconn_open(config_str("MAILSTACK_LDAP_URI", "ldap://127.0.0.1:389/"),
                             config_str("MAILSTACK_LDAP_BIND_DN", NULL),
                             config_str("MAILSTACK_LDAP_BIND_PASSWORD", NULL),
                             (int)config_long("MAILSTACK_LDAP_TIMEOUT_MS", 5000), &rc,
                             out->error, sizeof(out->error));
    if (!ld) {
        out->ldap_down = ldapconn_is_down(rc);
        goto done;
    }
    struct mirror_entry *list = NULL;
    long count = 0;
    rc = mirror_search(pool, ld, &list, &count, out->error, sizeof(out->error));
    ldap_unbind_ext_s(ld, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
        out->ldap_down = ldapconn_is_down(rc);
        goto done;
    }
    PGconn *db = db_conn();
    if (!db) {
        snprintf(out->error, sizeof(out->error), "postgresql unreachable");
        goto done;
    }
    if (mirror_write(db, list, out, pool) != 0) {
        snprintf(out->error, sizeof(out->error), "writing the mirror failed");
        goto done;
    }
    out->ok = 1;
done:
    out->seconds = mirror_now() - t0;
    pool_destroy(pool);
}
