/* quota: limits and usage behind quota.h. Usage itself is counted by the messages triggers
 * of schema 005, so every writer keeps it exact; here it is only read, under the row lock
 * that serialises deliveries to one account. */
#include "quota.h"
#include "config/config.h"
#include "db/db.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* The limit in bytes, or -1; a limit too large to count in bytes is no limit. */
static long long quota_limit_bytes(const struct quota *q)
{
    if (q->storage_limit_kb < 0 || q->storage_limit_kb > LLONG_MAX / 1024)
        return -1;
    return q->storage_limit_kb * 1024;
}

int quota_fits(const struct quota *q, long long bytes, long long messages)
{
    long long limit = quota_limit_bytes(q);
    if (limit >= 0 && (bytes > limit || q->storage_used > limit - bytes))
        return 0;
    if (q->message_limit >= 0 &&
        (messages > q->message_limit || q->messages_used > q->message_limit - messages))
        return 0;
    return 1;
}

/* used >= percent% of limit, without overflow for any limit a bigint holds. */
static int quota_at_percent(long long used, long long limit, int percent)
{
    if (limit < 0)
        return 0;
    if (limit == 0)
        return 1;
    return (__int128)used * 100 >= (__int128)limit * percent;
}

int quota_above(const struct quota *q, int percent)
{
    long long limit = quota_limit_bytes(q);
    return quota_at_percent(q->storage_used, limit, percent) ||
           quota_at_percent(q->messages_used, q->message_limit, percent);
}

long long quota_storage_kb(const struct quota *q)
{
    return q->storage_used / 1024 + (q->storage_used % 1024 != 0);
}

/* Fills out from the columns of r's first row starting at col. */
static void quota_parse(const PGresult *r, int col, struct quota *out)
{
    out->storage_limit_kb = strtoll(PQgetvalue(r, 0, col), NULL, 10);
    out->message_limit = strtoll(PQgetvalue(r, 0, col + 1), NULL, 10);
    out->storage_used = strtoll(PQgetvalue(r, 0, col + 2), NULL, 10);
    out->messages_used = strtoll(PQgetvalue(r, 0, col + 3), NULL, 10);
    out->warned = PQgetvalue(r, 0, col + 4)[0] == 't';
}

#define QUOTA_COLUMNS                                                                        \
    "coalesce(q.storage_limit_kb, -1), coalesce(q.message_limit, -1), q.storage_used,"      \
    " q.messages_used, q.warned"

static int quota_read(PGconn *db, const char *acct, struct quota *out, int *found)
{
    const char *p[1] = {acct};
    PGresult *r = db_exec(db, "quota.lock",
                          "SELECT " QUOTA_COLUMNS " FROM quotas q WHERE account_id = $1 FOR UPDATE",
                          1, p);
    if (!r)
        return -1;
    *found = PQntuples(r) == 1;
    if (*found)
        quota_parse(r, 0, out);
    PQclear(r);
    return 0;
}

int quota_lock_with_mailbox(PGconn *db, long long account_id, const char *name,
                            long long *mailbox_id, struct quota *out)
{
    char acct[24];
    snprintf(acct, sizeof(acct), "%lld", account_id);
    const char *p[2] = {acct, name};
    PGresult *r = db_exec(db, "quota.lock_with_mailbox",
                          "SELECT m.mailbox_id, " QUOTA_COLUMNS " FROM mailboxes m"
                          " JOIN quotas q ON q.account_id = m.account_id"
                          " WHERE m.account_id = $1 AND m.name = $2 FOR UPDATE OF m, q",
                          2, p);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found) {
        *mailbox_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        quota_parse(r, 1, out);
    }
    PQclear(r);
    return found ? 0 : 1;
}

int quota_lock(PGconn *db, long long account_id, struct quota *out)
{
    char acct[24], kb[24], msgs[24];
    snprintf(acct, sizeof(acct), "%lld", account_id);
    int found;
    if (quota_read(db, acct, out, &found) != 0)
        return -1;
    if (found)
        return 0;
    /* The seed's autocreatequota: 10240 KiB. Usage starts from what the account already
     * holds (imap-gateway may have made its INBOX and appended before any delivery). */
    snprintf(kb, sizeof(kb), "%ld", config_long("MAILSTACK_DEFAULT_QUOTA_KB", 10240));
    snprintf(msgs, sizeof(msgs), "%ld", config_long("MAILSTACK_DEFAULT_QUOTA_MESSAGES", 0));
    const char *p[3] = {acct, kb, msgs};
    PGresult *r = db_exec(db, "quota.create",
                          "INSERT INTO quotas (account_id, storage_limit_kb, message_limit,"
                          " storage_used, messages_used)"
                          " SELECT a.account_id, coalesce(a.quota_kb, nullif($2::bigint, 0)),"
                          "  nullif($3::bigint, 0),"
                          "  (SELECT coalesce(sum(size), 0) FROM messages WHERE account_id = $1),"
                          "  (SELECT count(*) FROM messages WHERE account_id = $1)"
                          " FROM accounts a WHERE a.account_id = $1"
                          " ON CONFLICT (account_id) DO NOTHING",
                          3, p);
    if (!r)
        return -1;
    PQclear(r);
    if (quota_read(db, acct, out, &found) != 0 || !found)
        return -1;
    return 0;
}

int quota_set_warned(PGconn *db, long long account_id, int warned)
{
    char acct[24];
    snprintf(acct, sizeof(acct), "%lld", account_id);
    const char *p[2] = {acct, warned ? "t" : "f"};
    PGresult *r = db_exec(db, "quota.warned",
                          "UPDATE quotas SET warned = $2, updated_at = now() WHERE account_id = $1",
                          2, p);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}
