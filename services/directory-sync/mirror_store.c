/* mirror_store: mirror rows in PostgreSQL behind mirror_store.h. Each write is a single
 * statement of data-modifying CTEs; all of them see the table as it was before the
 * statement, which is why an address kept by an entry is both "not deleted" and "not
 * inserted again" and why the counts returned are exact changes. */
#include "mirror_store.h"
#include "db/db.h"
#include "log/log.h"

#include <stdio.h>
#include <stdlib.h>

/* Saves $K = $V in directory_state when $V is given (a cookie that came with the change). */
#define STORE_COOKIE_CTE(k, v)                                                                 \
    " c AS (INSERT INTO directory_state (key, value) SELECT $" k "::text, $" v "::text"         \
    "  WHERE $" v "::text IS NOT NULL"                                                         \
    "  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value)"

/* Ends accounts: only marks them deleted (deleted_at) and drops their addresses, so no
 * lookup finds them while their mailboxes and messages stay for the retention period
 * (mirror_store_purge), since deleting the row would cascade to the mail. `rows` is a
 * WHERE clause over accounts x; the CTEs are `gone` and `gone_addresses`. */
#define STORE_SOFT_DELETE(rows)                                                                \
    " gone AS (UPDATE accounts x SET deleted_at = now(), updated_at = now()"                   \
    "  WHERE x.deleted_at IS NULL AND " rows " RETURNING x.account_id),"                       \
    " gone_addresses AS (DELETE FROM account_addresses y USING gone"                           \
    "  WHERE y.account_id = gone.account_id RETURNING 1),"

/* An entry re-sent unchanged (a full refresh, a resumed present phase) writes nothing: the
 * row is only updated when a column differs, and k finds its id either way. An entry that
 * comes back takes over its soft-deleted row, and so gets its mail back: by entryUUID (an
 * entry moved back into scope, a refresh that sees it again) through the upsert, or as a
 * new entry with the uid of a soft-deleted row (the user deleted and re-created in LDAP,
 * which gives a new entryUUID) through r, which then leaves the upsert nothing to insert.
 * p sees the rows as they were, so revived accounts count as added. */
static const char store_account_sql[] =
    "WITH g AS (DELETE FROM mail_groups WHERE entry_uuid = $1 RETURNING 1),"
    " p AS (SELECT 1 FROM accounts WHERE entry_uuid = $1 AND deleted_at IS NOT NULL),"
    " r AS (UPDATE accounts SET entry_uuid = $1, dn = $2, maildrop = $4, display_name = $5,"
    "   quota_kb = $6::bigint, domain = $7, deleted_at = NULL, updated_at = now()"
    "  WHERE uid = $3 AND deleted_at IS NOT NULL AND entry_uuid IS DISTINCT FROM $1"
    "   AND NOT EXISTS (SELECT 1 FROM accounts y WHERE y.entry_uuid = $1)"
    "  RETURNING account_id),"
    " a AS (INSERT INTO accounts (entry_uuid, dn, uid, maildrop, display_name, quota_kb, domain)"
    "  SELECT $1, $2, $3, $4, $5, $6::bigint, $7 WHERE NOT EXISTS (SELECT 1 FROM r)"
    "  ON CONFLICT (entry_uuid) DO UPDATE SET dn = EXCLUDED.dn, uid = EXCLUDED.uid,"
    "   maildrop = EXCLUDED.maildrop, display_name = EXCLUDED.display_name,"
    "   quota_kb = EXCLUDED.quota_kb, domain = EXCLUDED.domain, deleted_at = NULL,"
    "   updated_at = now()"
    "  WHERE accounts.deleted_at IS NOT NULL OR (accounts.dn, accounts.uid, accounts.maildrop,"
    "   accounts.display_name, accounts.quota_kb, accounts.domain) IS DISTINCT FROM"
    "   (EXCLUDED.dn, EXCLUDED.uid, EXCLUDED.maildrop, EXCLUDED.display_name,"
    "   EXCLUDED.quota_kb, EXCLUDED.domain)"
    "  RETURNING account_id, xmax = 0 AS inserted),"
    " k AS (SELECT account_id FROM a UNION ALL SELECT account_id FROM r UNION ALL"
    "  SELECT account_id FROM accounts WHERE entry_uuid = $1"
    "   AND NOT EXISTS (SELECT 1 FROM a) AND NOT EXISTS (SELECT 1 FROM r)),"
    " d AS (DELETE FROM account_addresses x USING k WHERE x.account_id = k.account_id"
    "  AND NOT (x.localpart = ANY ($8::text[])) RETURNING 1),"
    " i AS (INSERT INTO account_addresses (account_id, localpart)"
    "  SELECT k.account_id, l FROM k, unnest($8::text[]) AS l ON CONFLICT DO NOTHING RETURNING 1),"
    " v AS (SELECT (SELECT count(*) FROM r)"
    "  + (SELECT count(*) FROM p WHERE EXISTS (SELECT 1 FROM a)) AS n),"
    STORE_COOKIE_CTE("9", "10")
    " SELECT (SELECT count(*) FROM a WHERE inserted) + v.n,"
    "  (SELECT count(*) FROM i) - (SELECT count(*) FROM d), -(SELECT count(*) FROM g), -v.n"
    " FROM v";

static const char store_group_sql[] =
    "WITH" STORE_SOFT_DELETE("x.entry_uuid = $1")
    " g AS (INSERT INTO mail_groups (entry_uuid, dn, domain) VALUES ($1, $2, $3)"
    "  ON CONFLICT (entry_uuid) DO UPDATE SET dn = EXCLUDED.dn, domain = EXCLUDED.domain,"
    "   updated_at = now()"
    "  WHERE (mail_groups.dn, mail_groups.domain) IS DISTINCT FROM (EXCLUDED.dn, EXCLUDED.domain)"
    "  RETURNING group_id, xmax = 0 AS inserted),"
    " k AS (SELECT group_id FROM g UNION ALL SELECT group_id FROM mail_groups"
    "  WHERE entry_uuid = $1 AND NOT EXISTS (SELECT 1 FROM g)),"
    " da AS (DELETE FROM group_addresses x USING k WHERE x.group_id = k.group_id"
    "  AND NOT (x.localpart = ANY ($4::text[]))),"
    " ia AS (INSERT INTO group_addresses (group_id, localpart)"
    "  SELECT k.group_id, l FROM k, unnest($4::text[]) AS l ON CONFLICT DO NOTHING),"
    " dm AS (DELETE FROM group_members x USING k WHERE x.group_id = k.group_id"
    "  AND (x.member_dn IS NULL OR NOT (x.member_dn = ANY ($5::text[])))"
    "  AND (x.member_address IS NULL OR NOT (x.member_address = ANY ($6::text[])))),"
    " im AS (INSERT INTO group_members (group_id, member_dn, member_address)"
    "  SELECT k.group_id, m, NULL FROM k, (SELECT DISTINCT unnest($5::text[])) AS u(m)"
    "   WHERE NOT EXISTS (SELECT 1 FROM group_members y"
    "    WHERE y.group_id = k.group_id AND y.member_dn = u.m)"
    "  UNION ALL SELECT k.group_id, NULL, m FROM k, (SELECT DISTINCT unnest($6::text[])) AS u(m)"
    "   WHERE NOT EXISTS (SELECT 1 FROM group_members y"
    "    WHERE y.group_id = k.group_id AND y.member_address = u.m)),"
    STORE_COOKIE_CTE("7", "8")
    " SELECT -(SELECT count(*) FROM gone), -(SELECT count(*) FROM gone_addresses),"
    "  (SELECT count(*) FROM g WHERE inserted), (SELECT count(*) FROM gone)";

static const char store_remove_sql[] =
    "WITH" STORE_SOFT_DELETE("x.entry_uuid = ANY ($1::text[])")
    " g AS (DELETE FROM mail_groups WHERE entry_uuid = ANY ($1::text[]) RETURNING 1),"
    STORE_COOKIE_CTE("2", "3")
    " SELECT -(SELECT count(*) FROM gone), -(SELECT count(*) FROM gone_addresses),"
    "  -(SELECT count(*) FROM g), (SELECT count(*) FROM gone)";

/* A row is this session's when its DN is the root ($2) or below it, a stray when it is
 * under none of the roots ($3): a DN compares in lower case, as the keys were made. */
#define STORE_UNSEEN(extra)                                                                    \
    "$1::text[] IS NOT NULL AND (" extra                                                       \
    "   NOT EXISTS (SELECT 1 FROM seen WHERE seen.id = x.entry_uuid))"                         \
    "  AND (lower(x.dn) = $2 OR right(lower(x.dn), length($2) + 1) = ',' || $2"                \
    "   OR NOT EXISTS (SELECT 1 FROM unnest($3::text[]) AS r(k) WHERE lower(x.dn) = r.k"       \
    "    OR right(lower(x.dn), length(r.k) + 1) = ',' || r.k))"

static const char store_finish_sql[] =
    "WITH seen AS (SELECT unnest($1::text[]) AS id),"
    STORE_SOFT_DELETE(STORE_UNSEEN("x.entry_uuid IS NULL OR"))
    " g AS (DELETE FROM mail_groups x WHERE " STORE_UNSEEN("") " RETURNING 1),"
    " c AS (INSERT INTO directory_state (key, value) VALUES ($4, $5), ($6, $7)"
    "  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value)"
    " SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM g)";

/* Runs a write; MIRROR_REJECTED when PostgreSQL refused it on a live connection. */
static int store_run(PGconn *db, const char *what, const char *sql, int n,
                     const char *const *params, struct mirror_counts *delta)
{
    PGresult *r = db_exec_prepared(db, what, sql, n, params);
    if (!r)
        return PQstatus(db) == CONNECTION_OK ? MIRROR_REJECTED : MIRROR_DB_DOWN;
    if (delta && PQntuples(r) == 1 && PQnfields(r) == 4) {
        delta->accounts += atol(PQgetvalue(r, 0, 0));
        delta->addresses += atol(PQgetvalue(r, 0, 1));
        delta->groups += atol(PQgetvalue(r, 0, 2));
        delta->deleted += atol(PQgetvalue(r, 0, 3));
    }
    PQclear(r);
    return MIRROR_STORED;
}

int mirror_store_record(PGconn *db, pool_t *pool, const struct mirror_record *rec,
                        struct mirror_cookie cookie, struct mirror_counts *delta)
{
    if (rec->kind == MIRROR_ACCOUNT) {
        const char *p[10] = {rec->uuid,     rec->dn,        rec->uid,       rec->maildrop,
                             rec->display_name, rec->quota_kb, rec->domain,  rec->addresses,
                             cookie.key,    cookie.value};
        return store_run(db, "mirror.account", store_account_sql, 10, p, delta);
    }
    if (rec->kind == MIRROR_GROUP) {
        const char *p[8] = {rec->uuid,       rec->dn,         rec->domain,
                            rec->addresses,  rec->member_dns, rec->member_addresses,
                            cookie.key,      cookie.value};
        return store_run(db, "mirror.group", store_group_sql, 8, p, delta);
    }
    const char *uuids = pool_printf(pool, "{%s}", mirror_array_add(pool, NULL, rec->uuid));
    return mirror_store_remove(db, uuids, cookie, delta);
}

int mirror_store_remove(PGconn *db, const char *uuids, struct mirror_cookie cookie,
                        struct mirror_counts *delta)
{
    const char *p[3] = {uuids, cookie.key, cookie.value};
    return store_run(db, "mirror.remove", store_remove_sql, 3, p, delta);
}

int mirror_store_finish_refresh(PGconn *db, const char *seen, const char *root_key,
                                const char *roots_array, struct mirror_cookie cookie,
                                struct mirror_cookie fingerprint, long *removed)
{
    const char *p[7] = {seen,         root_key,          roots_array,      cookie.key,
                        cookie.value, fingerprint.key, fingerprint.value};
    PGresult *r = db_exec_prepared(db, "mirror.finish_refresh", store_finish_sql, 7, p);
    if (!r)
        return PQstatus(db) == CONNECTION_OK ? MIRROR_REJECTED : MIRROR_DB_DOWN;
    *removed = PQntuples(r) == 1 ? atol(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return MIRROR_STORED;
}

int mirror_store_cookie(PGconn *db, struct mirror_cookie cookie)
{
    static const char sql[] = "WITH" STORE_COOKIE_CTE("1", "2") " SELECT 0, 0, 0, 0";
    const char *p[2] = {cookie.key, cookie.value};
    return store_run(db, "mirror.cookie", sql, 2, p, NULL);
}

int mirror_store_load(PGconn *db, pool_t *pool, const char *key, char **value)
{
    const char *p[1] = {key};
    PGresult *r = db_exec(db, "mirror.load_state",
                          "SELECT value FROM directory_state WHERE key = $1", 1, p);
    if (!r)
        return -1;
    *value = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? pool_strdup(pool, PQgetvalue(r, 0, 0))
                                                         : NULL;
    PQclear(r);
    return 0;
}

int mirror_store_count(PGconn *db, struct mirror_counts *out)
{
    PGresult *r = db_exec(db, "mirror.count",
                          "SELECT (SELECT count(*) FROM accounts WHERE deleted_at IS NULL),"
                          " (SELECT count(*) FROM account_addresses),"
                          " (SELECT count(*) FROM mail_groups),"
                          " (SELECT count(*) FROM accounts WHERE deleted_at IS NOT NULL)",
                          0, NULL);
    if (!r)
        return -1;
    out->accounts = atol(PQgetvalue(r, 0, 0));
    out->addresses = atol(PQgetvalue(r, 0, 1));
    out->groups = atol(PQgetvalue(r, 0, 2));
    out->deleted = atol(PQgetvalue(r, 0, 3));
    PQclear(r);
    return 0;
}

long mirror_store_purge(PGconn *db, double retention_days)
{
    char days[32];
    snprintf(days, sizeof(days), "%.6f", retention_days);
    const char *p[1] = {days};
    /* The messages are counted as they were before the statement deleted them. */
    PGresult *r = db_exec(db, "mirror.purge",
                          "DELETE FROM accounts a"
                          " WHERE a.deleted_at < now() - make_interval(secs => $1::float8 * 86400)"
                          " RETURNING a.uid, a.deleted_at::text,"
                          "  (SELECT count(*) FROM messages m WHERE m.account_id = a.account_id)",
                          1, p);
    if (!r)
        return -1;
    long n = PQntuples(r);
    for (long i = 0; i < n; i++)
        log_emit(LOG_INFO, "mirror.account_purged", "uid", PQgetvalue(r, (int)i, 0),
                 "deleted_at", PQgetvalue(r, (int)i, 1), "messages", PQgetvalue(r, (int)i, 2),
                 NULL);
    PQclear(r);
    return n;
}
