/* mailstore: the SQL behind mailstore.h, on the worker thread's connection from libs/db.
 * Every statement is parameterised. Message bytes are read in binary result format, so a
 * 20 MiB body is not doubled into hex text on the way. */
#include "mailstore.h"
#include "db/db.h"
#include "mailboxes/mailboxes.h"
#include "log/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAILSTORE_SEEN "\\Seen"

/* A UID list as a PostgreSQL array literal, "{1,2,3}". */
static char *mailstore_uid_array(pool_t *pool, const uint32_t *uids, size_t n)
{
    char *s = pool_alloc(pool, n * 11 + 3);
    size_t o = 0;
    s[o++] = '{';
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(s + o, i ? ",%" PRIu32 : "%" PRIu32, uids[i]);
    s[o++] = '}';
    s[o] = 0;
    return s;
}

static int64_t mailstore_i64(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static char *mailstore_text(pool_t *pool, const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : pool_strdup(pool, PQgetvalue(r, row, col));
}

int mailstore_account_id(const char *account, int64_t *account_id)
{
    PGconn *c = db_conn();
    if (!c)
        return -1;
    const char *p[] = {account};
    /* A soft-deleted account (gone from LDAP, mail kept until its purge) is no login. */
    PGresult *r = db_exec(c, "account_id",
                          "SELECT account_id FROM accounts WHERE uid = $1 AND deleted_at IS NULL",
                          1, p);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found)
        *account_id = mailstore_i64(r, 0, 0);
    PQclear(r);
    return found ? 0 : 1;
}

int mailstore_mailboxes(pool_t *pool, int64_t account_id, struct mailstore_mailbox **out,
                        size_t *n)
{
    PGconn *c = db_conn();
    if (!c)
        return -1;
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, account_id);
    const char *p[] = {id};
    PGresult *r = db_exec(c, "mailboxes",
                          "SELECT name, coalesce(subscribed, false) FROM mailboxes "
                          "WHERE account_id = $1 ORDER BY name",
                          1, p);
    if (!r)
        return -1;
    *n = (size_t)PQntuples(r);
    *out = pool_alloc(pool, (*n ? *n : 1) * sizeof(**out));
    for (size_t i = 0; i < *n; i++) {
        (*out)[i].name = mailstore_text(pool, r, (int)i, 0);
        (*out)[i].subscribed = PQgetvalue(r, (int)i, 1)[0] == 't';
    }
    PQclear(r);
    return 0;
}

int mailstore_select(pool_t *pool, int64_t account_id, const char *name,
                     struct mailstore_selection *out)
{
    PGconn *c = db_conn();
    if (!c)
        return -1;
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, account_id);
    if (strcmp(name, "INBOX") == 0 && mailboxes_create_inbox(c, id) < 0)
        return -1;
    /* One snapshot, so that UIDNEXT is above every UID listed. */
    PGresult *r = db_exec(c, "select_begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                          0, NULL);
    if (!r)
        return -1;
    PQclear(r);
    const char *p[] = {id, name};
    r = db_exec(c, "select_mailbox",
                "SELECT mailbox_id, uidvalidity, uidnext FROM mailboxes "
                "WHERE account_id = $1 AND name = $2",
                2, p);
    if (!r || PQntuples(r) != 1) {
        int rc = r ? 1 : -1;
        PQclear(r);
        db_rollback(c);
        return rc;
    }
    out->mailbox_id = mailstore_i64(r, 0, 0);
    out->uidvalidity = mailstore_i64(r, 0, 1);
    out->uidnext = mailstore_i64(r, 0, 2);
    PQclear(r);
    char mbox[24];
    snprintf(mbox, sizeof(mbox), "%" PRId64, out->mailbox_id);
    const char *q[] = {id, mbox, MAILSTORE_SEEN};
    r = db_exec(c, "select_messages",
                "SELECT uid, $3::text = ANY(flags) FROM messages "
                "WHERE account_id = $1 AND mailbox_id = $2 ORDER BY uid",
                3, q);
    if (!r) {
        db_rollback(c);
        return -1;
    }
    out->count = (size_t)PQntuples(r);
    out->uids = pool_alloc(pool, (out->count ? out->count : 1) * sizeof(uint32_t));
    out->first_unseen = 0;
    for (size_t i = 0; i < out->count; i++) {
        out->uids[i] = (uint32_t)mailstore_i64(r, (int)i, 0);
        if (!out->first_unseen && PQgetvalue(r, (int)i, 1)[0] != 't')
            out->first_unseen = i + 1;
    }
    PQclear(r);
    return db_commit(c);
}

int mailstore_new_uids(pool_t *pool, int64_t account_id, int64_t mailbox_id,
                       uint32_t after_uid, uint32_t **uids, size_t *n, int64_t *uidnext)
{
    PGconn *c = db_conn();
    if (!c)
        return -1;
    char id[24], mbox[24], after[16];
    snprintf(id, sizeof(id), "%" PRId64, account_id);
    snprintf(mbox, sizeof(mbox), "%" PRId64, mailbox_id);
    snprintf(after, sizeof(after), "%" PRIu32, after_uid);
    const char *p[] = {id, mbox, after};
    /* UIDNEXT first: any message it does not count is not listed either. */
    PGresult *r = db_exec(c, "refresh_uidnext",
                          "SELECT uidnext FROM mailboxes WHERE account_id = $1 "
                          "AND mailbox_id = $2",
                          2, p);
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return 1;
    }
    *uidnext = mailstore_i64(r, 0, 0);
    PQclear(r);
    r = db_exec(c, "refresh_uids",
                "SELECT uid FROM messages WHERE account_id = $1 AND mailbox_id = $2 "
                "AND uid > $3 ORDER BY uid",
                3, p);
    if (!r)
        return -1;
    *n = (size_t)PQntuples(r);
    *uids = pool_alloc(pool, (*n ? *n : 1) * sizeof(uint32_t));
    for (size_t i = 0; i < *n; i++)
        (*uids)[i] = (uint32_t)mailstore_i64(r, (int)i, 0);
    PQclear(r);
    return 0;
}

int mailstore_fetch_meta(pool_t *pool, int64_t account_id, int64_t mailbox_id,
                         const uint32_t *uids, size_t n, struct mailstore_message **out,
                         size_t *nout)
{
    PGconn *c = db_conn();
    if (!c)
        return -1;
    char id[24], mbox[24];
    snprintf(id, sizeof(id), "%" PRId64, account_id);
    snprintf(mbox, sizeof(mbox), "%" PRId64, mailbox_id);
    const char *p[] = {id, mbox, mailstore_uid_array(pool, uids, n)};
    PGresult *r = db_exec(c, "fetch_meta",
                          "SELECT uid, array_to_string(flags, ' '), "
                          "extract(epoch from internaldate)::bigint, size, envelope, "
                          "bodystructure FROM messages WHERE account_id = $1 "
                          "AND mailbox_id = $2 AND uid = ANY($3::bigint[]) ORDER BY uid",
                          3, p);
    if (!r)
        return -1;
    *nout = (size_t)PQntuples(r);
    *out = pool_zalloc(pool, (*nout ? *nout : 1) * sizeof(**out));
    for (size_t i = 0; i < *nout; i++) {
        struct mailstore_message *m = &(*out)[i];
        m->uid = (uint32_t)mailstore_i64(r, (int)i, 0);
        m->flags = mailstore_text(pool, r, (int)i, 1);
        if (!m->flags)
            m->flags = "";
        m->internaldate = mailstore_i64(r, (int)i, 2);
        m->size = mailstore_i64(r, (int)i, 3);
        m->envelope = mailstore_text(pool, r, (int)i, 4);
        m->bodystructure = mailstore_text(pool, r, (int)i, 5);
    }
    PQclear(r);
    return 0;
}

int mailstore_fetch_data(pool_t *pool, int64_t account_id, int64_t mailbox_id,
                         struct mailstore_message *msgs, size_t n)
{
    PGconn *c = db_conn();
    if (!c)
        return -1;
    uint32_t *uids = pool_alloc(pool, (n ? n : 1) * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++)
        uids[i] = msgs[i].uid;
    char id[24], mbox[24];
    snprintf(id, sizeof(id), "%" PRId64, account_id);
    snprintf(mbox, sizeof(mbox), "%" PRId64, mailbox_id);
    const char *p[] = {id, mbox, mailstore_uid_array(pool, uids, n)};
    /* uid as text: in binary format that is its plain digits. */
    PGresult *r = db_query(
        c, "fetch_data",
        "SELECT m.uid::text, coalesce(m.header_prefix, ''::bytea) || b.data "
        "FROM messages m JOIN message_blobs b ON b.sha256 = m.blob_sha256 "
        "WHERE m.account_id = $1 AND m.mailbox_id = $2 AND m.uid = ANY($3::bigint[])",
        3, p, NULL, NULL, 1);
    if (!r)
        return -1;
    for (int row = 0; row < PQntuples(r); row++) {
        uint32_t uid = (uint32_t)strtoul(PQgetvalue(r, row, 0), NULL, 10);
        for (size_t i = 0; i < n; i++) {
            if (msgs[i].uid != uid)
                continue;
            msgs[i].len = (size_t)PQgetlength(r, row, 1);
            msgs[i].data = pool_memdup(pool, PQgetvalue(r, row, 1), msgs[i].len);
            break;
        }
    }
    PQclear(r);
    return 0;
}

int mailstore_set_seen(pool_t *pool, int64_t account_id, int64_t mailbox_id,
                       const uint32_t *uids, size_t n, uint32_t **changed, size_t *nchanged)
{
    PGconn *c = db_conn();
    if (!c)
        return -1;
    char id[24], mbox[24];
    snprintf(id, sizeof(id), "%" PRId64, account_id);
    snprintf(mbox, sizeof(mbox), "%" PRId64, mailbox_id);
    const char *p[] = {id, mbox, mailstore_uid_array(pool, uids, n), MAILSTORE_SEEN};
    /* The mailbox row is locked by its UPDATE, so concurrent flag changes get distinct,
     * increasing MODSEQs; nothing is bumped when every message was already \Seen. */
    PGresult *r = db_exec(
        c, "set_seen",
        "WITH target AS (SELECT uid FROM messages WHERE account_id = $1 AND mailbox_id = $2 "
        "  AND uid = ANY($3::bigint[]) AND NOT ($4::text = ANY(flags))), "
        "ms AS (UPDATE mailboxes SET highestmodseq = highestmodseq + 1 "
        "  WHERE account_id = $1 AND mailbox_id = $2 AND EXISTS (SELECT 1 FROM target) "
        "  RETURNING highestmodseq) "
        "UPDATE messages m SET flags = array_append(m.flags, $4::text), "
        "  modseq = ms.highestmodseq FROM ms "
        "WHERE m.account_id = $1 AND m.mailbox_id = $2 AND m.uid IN (SELECT uid FROM target) "
        "  AND NOT ($4::text = ANY(m.flags)) RETURNING m.uid",
        4, p);
    if (!r)
        return -1;
    *nchanged = (size_t)PQntuples(r);
    *changed = pool_alloc(pool, (*nchanged ? *nchanged : 1) * sizeof(uint32_t));
    for (size_t i = 0; i < *nchanged; i++)
        (*changed)[i] = (uint32_t)mailstore_i64(r, (int)i, 0);
    PQclear(r);
    if (*nchanged == 0)
        return 0;
    /* Wakes the sessions that have this mailbox open, on any replica (as delivery does).
     * The flags are already changed: a lost wake-up (logged) only delays other sessions. */
    const char *pn[] = {pool_printf(pool, "%s:%s", id, mbox)};
    r = db_exec(c, "set_seen_notify", "SELECT pg_notify('mailstack_mailbox', $1)", 1, pn);
    PQclear(r);
    return 0;
}

int mailstore_ping(void)
{
    PGconn *c = db_conn();
    if (!c)
        return -1;
    PGresult *r = db_exec(c, "ping", "SELECT 1", 0, NULL);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}
