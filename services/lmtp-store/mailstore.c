/* mailstore: delivery into PostgreSQL behind mailstore.h. The blob INSERT ... ON CONFLICT
 * makes a body that arrives twice (two recipients, or the same mail again) cost one row;
 * the UPDATE ... RETURNING on the mailbox row serialises concurrent deliveries to one
 * mailbox, so UIDs are strictly ascending and never reused, as IMAP requires. */
#include "mailstore.h"
#include "config/config.h"
#include "db/db.h"
#include "log/log.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mailstore_status mailstore_resolve(const char *local, long long *account_id)
{
    PGconn *db = db_conn();
    if (!db)
        return MAILSTORE_TEMPFAIL;
    int fold = config_bool("MAILSTACK_LOCALPART_CASE_INSENSITIVE", 1);
    const char *p[2] = {local, fold ? "1" : "0"};
    /* Maildrops name the mailbox by the account's uid (hurd@lmtp-store); an accepted
     * alias is honoured too, for LMTP clients that pass the original address. */
    PGresult *r = db_exec(db, "mailstore.resolve",
                          "SELECT account_id FROM ("
                          " SELECT account_id, 0 AS pri FROM accounts"
                          "  WHERE CASE WHEN $2 = '1' THEN lower(uid) = lower($1) ELSE uid = $1 END"
                          " UNION ALL"
                          " SELECT account_id, 1 FROM account_addresses"
                          "  WHERE localpart = CASE WHEN $2 = '1' THEN lower($1) ELSE $1 END"
                          ") c ORDER BY pri, account_id LIMIT 1",
                          2, p);
    if (!r)
        return MAILSTORE_TEMPFAIL;
    enum mailstore_status st = MAILSTORE_UNKNOWN;
    if (PQntuples(r) == 1) {
        *account_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        st = MAILSTORE_OK;
    }
    PQclear(r);
    return st;
}

static int mailstore_store_blob(PGconn *db, const unsigned char *sha, const char *msg,
                                size_t len, pool_t *pool)
{
    const char *p[3] = {(const char *)sha, pool_printf(pool, "%zu", len), msg};
    int lengths[3] = {SHA256_DIGEST_LENGTH, 0, (int)len};
    int formats[3] = {1, 0, 1};
    PGresult *r = db_exec_bin(db, "mailstore.blob",
                              "INSERT INTO message_blobs (sha256, size, data)"
                              " VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
                              3, p, lengths, formats);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int mailstore_file_one(PGconn *db, pool_t *pool, const unsigned char *sha,
                              const char *sender, size_t len, struct mailstore_rcpt *rc)
{
    const char *acct = pool_printf(pool, "%lld", rc->account_id);
    const char *p1[1] = {acct};
    PGresult *r = db_exec(db, "mailstore.inbox",
                          "INSERT INTO mailboxes (account_id, name, uidvalidity)"
                          " VALUES ($1, 'INBOX', extract(epoch FROM now())::bigint)"
                          " ON CONFLICT (account_id, name) DO NOTHING",
                          1, p1);
    if (!r)
        return -1;
    PQclear(r);
    r = db_exec(db, "mailstore.uid",
                "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1"
                " WHERE account_id = $1 AND name = 'INBOX'"
                " RETURNING mailbox_id, uidnext - 1, highestmodseq",
                1, p1);
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return -1;
    }
    rc->mailbox_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    rc->uid = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    const char *modseq = pool_strdup(pool, PQgetvalue(r, 0, 2));
    PQclear(r);
    const char *prefix = pool_printf(pool, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", sender,
                                     rc->address);
    size_t plen = strlen(prefix);
    const char *p[7] = {acct, pool_printf(pool, "%lld", rc->mailbox_id),
                        pool_printf(pool, "%lld", rc->uid), modseq,
                        pool_printf(pool, "%zu", plen + len), (const char *)sha, prefix};
    int lengths[7] = {0, 0, 0, 0, 0, SHA256_DIGEST_LENGTH, (int)plen};
    int formats[7] = {0, 0, 0, 0, 0, 1, 1};
    r = db_exec_bin(db, "mailstore.message",
                    "INSERT INTO messages (account_id, mailbox_id, uid, modseq, size,"
                    " blob_sha256, header_prefix) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    7, p, lengths, formats);
    if (!r)
        return -1;
    PQclear(r);
    const char *pn[1] = {pool_printf(pool, "%lld:%lld", rc->account_id, rc->mailbox_id)};
    r = db_exec(db, "mailstore.notify", "SELECT pg_notify('mailstack_mailbox', $1)", 1, pn);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int mailstore_by_account(const void *a, const void *b)
{
    const struct mailstore_rcpt *x = *(struct mailstore_rcpt *const *)a;
    const struct mailstore_rcpt *y = *(struct mailstore_rcpt *const *)b;
    return (x->account_id > y->account_id) - (x->account_id < y->account_id);
}

int mailstore_deliver(pool_t *pool, const char *sender, const char *msg, size_t len,
                      struct mailstore_rcpt *rcpts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rcpts[i].status = MAILSTORE_TEMPFAIL;
    if (len > 0x7fffffff)
        return -1;
    PGconn *db = db_conn();
    if (!db)
        return -1;
    unsigned char sha[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)msg, len, sha);
    if (db_begin(db) != 0)
        return -1;
    if (mailstore_store_blob(db, sha, msg, len, pool) != 0)
        goto fail;
    /* Mailbox rows are locked in account order, so two deliveries that share recipients
     * wait for each other instead of deadlocking. */
    struct mailstore_rcpt **order = pool_alloc(pool, n * sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = &rcpts[i];
    qsort(order, n, sizeof(*order), mailstore_by_account);
    for (size_t i = 0; i < n; i++)
        if (mailstore_file_one(db, pool, sha, sender, len, order[i]) != 0)
            goto fail;
    if (db_commit(db) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        rcpts[i].status = MAILSTORE_OK;
    return 0;
fail:
    db_rollback(db);
    return -1;
}
