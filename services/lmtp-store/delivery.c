/* delivery: the plan and its execution behind delivery.h.
 *
 * One transaction for the whole LMTP message, one savepoint per recipient. Why not one
 * transaction per recipient: no 250 is sent before the single COMMIT, so a recipient's
 * failure can never undo another's answered 250 either way, and a savepoint gives what
 * separate transactions would (a failing recipient is rolled back alone, the others go
 * on) at the cost of one WAL flush per message instead of one per recipient, with the body
 * written once and never left behind unreferenced: it is inserted inside the savepoint of
 * the first recipient that files it.
 *
 * Locks: recipients are handled in account order; within one, the target mailbox rows
 * (which give out UIDs) before the account's quota row, the order schema 005 asks of every
 * writer, so deliveries that share accounts wait for each other instead of deadlocking. */
#include "delivery.h"
#include "config/config.h"
#include "db/db.h"
#include "mailboxes/mailboxes.h"
#include "dedup.h"
#include "header.h"
#include "log/log.h"
#include "outbound.h"
#include "quota.h"
#include "sievehook.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Where one copy of the message goes. */
struct delivery_target {
    const char *name;
    const char *flags;      /* a PostgreSQL text[] literal */
    long long mailbox_id;
    long long uid;
};

/* A recipient's plan: the targets to file into, or a reject, or nothing (discard). */
struct delivery_plan {
    struct delivery_target *targets;
    size_t ntargets;
    const char *reject;
    const struct delivery_action *outbound[16];
    size_t noutbound;
};

/* What the whole transaction shares. */
struct delivery_tx {
    pool_t *pool;
    PGconn *db;
    const struct delivery_message *msg;
    unsigned char sha[SHA256_DIGEST_LENGTH];
    int blob_written;
    const char *msgid;
    size_t idlen;
};

/* A flag list as a text[] literal: every element quoted, '"' and '\' escaped. */
static const char *delivery_flags_literal(pool_t *pool, const char *const *flags, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += 2 * strlen(flags[i]) + 3;
    char *s = pool_alloc(pool, cap), *o = s;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '"';
        for (const char *c = flags[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                *o++ = '\\';
            *o++ = *c;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = 0;
    return s;
}

/* INBOX is case-insensitive, also as the prefix of its children (as imap-gateway's
 * mboxname_normalize has it), so "inbox.lists" files into the row named "INBOX.lists". */
static const char *delivery_mailbox_name(pool_t *pool, const char *name)
{
    char *n = pool_strdup(pool, name);
    if (strncasecmp(n, "INBOX", 5) == 0 && (n[5] == 0 || n[5] == '.'))
        memcpy(n, "INBOX", 5);
    return n;
}

static void delivery_add_target(pool_t *pool, struct delivery_plan *plan, size_t cap,
                                const char *name, const struct delivery_action *a)
{
    if (plan->ntargets == cap)
        return;
    struct delivery_target *t = &plan->targets[plan->ntargets++];
    t->name = name;
    t->flags = delivery_flags_literal(pool, a->flags, a->nflags);
}

/* Turns the recipient's action list into its plan. The default mailbox is the +detail
 * folder below INBOX (INBOX.lists for hurd+lists) when it exists - Cyrus also wants the
 * sender to have the post right on it; until mailboxes have ACLs (issue 6) an existing
 * folder is open to +detail - else INBOX. */
static void delivery_plan_actions(pool_t *pool, const struct delivery_action *actions,
                                  const struct delivery_rcpt *rc, struct delivery_plan *plan)
{
    size_t cap = 0;
    for (const struct delivery_action *a = actions; a; a = a->next)
        cap++;
    memset(plan, 0, sizeof(*plan));
    plan->targets = pool_zalloc(pool, (cap ? cap : 1) * sizeof(*plan->targets));
    const char *keep = rc->detail && *rc->detail
                           ? delivery_mailbox_name(pool, pool_printf(pool, "INBOX.%s", rc->detail))
                           : "INBOX";
    for (const struct delivery_action *a = actions; a; a = a->next) {
        switch (a->kind) {
        case DELIVERY_KEEP:
            delivery_add_target(pool, plan, cap, keep, a);
            break;
        case DELIVERY_FILEINTO:
            delivery_add_target(pool, plan, cap, delivery_mailbox_name(pool, a->mailbox), a);
            break;
        case DELIVERY_DISCARD:
            break;
        case DELIVERY_REJECT:
            plan->reject = a->reason ? a->reason : "";
            break;
        case DELIVERY_REDIRECT:
        case DELIVERY_VACATION:
            if (plan->noutbound < sizeof(plan->outbound) / sizeof(plan->outbound[0]))
                plan->outbound[plan->noutbound++] = a;
            break;
        }
    }
    /* RFC 5429: reject cancels the implicit keep and is not combined with filing. */
    if (plan->reject)
        plan->ntargets = plan->noutbound = 0;
}

/* The reject reason as reply text: one line of printable octets, not too long. */
static const char *delivery_reply_text(pool_t *pool, const char *reason)
{
    size_t n = strlen(reason);
    if (n > 400)
        n = 400;
    char *s = pool_strndup(pool, reason, n);
    for (char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    return s;
}

/* Finds the mailbox row and locks it; INBOX is made on first delivery. 0, 1 when there is
 * no such mailbox, -1 on a database error. */
static int delivery_lock_mailbox(PGconn *db, const char *acct, struct delivery_target *t)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *p[2] = {acct, t->name};
        PGresult *r = db_exec(db, "delivery.mailbox",
                              "SELECT mailbox_id FROM mailboxes"
                              " WHERE account_id = $1 AND name = $2 FOR UPDATE",
                              2, p);
        if (!r)
            return -1;
        int found = PQntuples(r) == 1;
        if (found)
            t->mailbox_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        if (found)
            return 0;
        if (strcmp(t->name, "INBOX") != 0 || attempt > 0)
            return 1;
        if (mailboxes_create_inbox(db, acct) != 0)
            return -1;
    }
    return 1;
}

/* A body into message_blobs; one that is there already (same bytes) costs nothing. */
static int delivery_put_blob(PGconn *db, pool_t *pool, const unsigned char *sha,
                             const char *data, size_t len)
{
    const char *p[3] = {(const char *)sha, pool_printf(pool, "%zu", len), data};
    int lengths[3] = {SHA256_DIGEST_LENGTH, 0, (int)len};
    int formats[3] = {1, 0, 1};
    PGresult *r = db_exec_bin(db, "delivery.blob",
                              "INSERT INTO message_blobs (sha256, size, data)"
                              " VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
                              3, p, lengths, formats);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int delivery_store_blob(struct delivery_tx *tx)
{
    if (tx->blob_written)
        return 0;
    if (delivery_put_blob(tx->db, tx->pool, tx->sha, tx->msg->data, tx->msg->len) != 0)
        return -1;
    tx->blob_written = 1;
    return 0;
}

/* Files one copy: the next UID of the (locked) mailbox, the message row, the NOTIFY that
 * wakes IDLE sessions (payload "account_id:mailbox_id", as imap-gateway expects). */
static int delivery_file(PGconn *db, pool_t *pool, const char *acct, const unsigned char *sha,
                         const char *prefix, size_t size, struct delivery_target *t)
{
    const char *mbox = pool_printf(pool, "%lld", t->mailbox_id);
    const char *p[7] = {acct, mbox, t->flags, pool_printf(pool, "%zu", size),
                        (const char *)sha, prefix, pool_printf(pool, "%s:%s", acct, mbox)};
    int lengths[7] = {0, 0, 0, 0, SHA256_DIGEST_LENGTH, (int)strlen(prefix), 0};
    int formats[7] = {0, 0, 0, 0, 1, 1, 0};
    PGresult *r = db_exec_bin(
        db, "delivery.file",
        "WITH mb AS (UPDATE mailboxes SET uidnext = uidnext + 1,"
        "  highestmodseq = highestmodseq + 1"
        "  WHERE account_id = $1 AND mailbox_id = $2 RETURNING uidnext - 1 AS uid, highestmodseq)"
        " INSERT INTO messages (account_id, mailbox_id, uid, modseq, flags, size, blob_sha256,"
        "  header_prefix)"
        " SELECT $1, $2, mb.uid, mb.highestmodseq, $3::text[], $4, $5, $6 FROM mb"
        " RETURNING uid, pg_notify('mailstack_mailbox', $7)",
        7, p, lengths, formats);
    if (!r)
        return -1;
    int ok = PQntuples(r) == 1;
    if (ok)
        t->uid = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return ok ? 0 : -1;
}

/* The quotawarn notice, filed into INBOX like Dovecot's quota-warning script would, counted
 * against the quota like any message and left out when it would not fit. */
static int delivery_quota_notice(struct delivery_tx *tx, const struct delivery_rcpt *rc,
                                 const char *acct, struct quota *q, int percent)
{
    const char *host = config_str("MAILSTACK_HOSTNAME", "localhost");
    char date[64];
    header_date_now(date, sizeof(date));
    const char *limit_kb = q->storage_limit_kb < 0 ? "unlimited"
                                                    : pool_printf(tx->pool, "%lld KiB",
                                                                  q->storage_limit_kb);
    const char *limit_msgs = q->message_limit < 0 ? "unlimited"
                                                   : pool_printf(tx->pool, "%lld",
                                                                 q->message_limit);
    const char *text = pool_printf(
        tx->pool,
        "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <%s>\r\n"
        "Subject: Quota warning: your mailbox is over %d%% full\r\nDate: %s\r\n"
        "Message-ID: <quota-warning.%s.%lld@%s>\r\nAuto-Submitted: auto-generated\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "Your mailbox now uses %lld KiB of %s and %lld messages of %s.\r\n"
        "Mail that would take it over its quota will be refused. Please delete or\r\n"
        "archive some messages.\r\n",
        host, rc->address, percent, date, acct, (long long)time(NULL), host, quota_storage_kb(q),
        limit_kb, q->messages_used, limit_msgs);
    const char *prefix = pool_printf(tx->pool, "Return-Path: <>\r\nDelivered-To: %s\r\n",
                                     rc->address);
    size_t size = strlen(prefix) + strlen(text);
    log_emit(LOG_WARN, "lmtp.quota_warning", "rcpt", rc->address, "storage_kb",
             pool_printf(tx->pool, "%lld", quota_storage_kb(q)), "storage_limit", limit_kb,
             "messages", pool_printf(tx->pool, "%lld", q->messages_used), "message_limit",
             limit_msgs, NULL);
    if (!quota_fits(q, (long long)size, 1))
        return 0;
    unsigned char sha[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)text, strlen(text), sha);
    if (delivery_put_blob(tx->db, tx->pool, sha, text, strlen(text)) != 0)
        return -1;
    struct delivery_target inbox = {.name = "INBOX", .flags = "{}"};
    if (delivery_lock_mailbox(tx->db, acct, &inbox) != 0)
        return -1;
    if (delivery_file(tx->db, tx->pool, acct, sha, prefix, size, &inbox) != 0)
        return -1;
    q->storage_used += (long long)size;
    q->messages_used++;
    return 0;
}

/* Resolves and locks the targets, then the quota row: a missing folder falls back to
 * INBOX, and two targets that end in one mailbox file one copy (RFC 5228 4.1). A single
 * target whose rows exist (nearly every delivery) takes one statement. */
static int delivery_lock_targets(struct delivery_tx *tx, const struct delivery_rcpt *rc,
                                 const char *acct, struct delivery_plan *plan, struct quota *q)
{
    if (plan->ntargets == 0)
        return 0;
    if (plan->ntargets == 1) {
        struct delivery_target *t = &plan->targets[0];
        int r = quota_lock_with_mailbox(tx->db, rc->account_id, t->name, &t->mailbox_id, q);
        if (r <= 0)
            return r;
    }
    size_t n = 0;
    for (size_t i = 0; i < plan->ntargets; i++) {
        struct delivery_target *t = &plan->targets[i];
        int r = delivery_lock_mailbox(tx->db, acct, t);
        if (r == 1 && strncmp(t->name, "INBOX", 5) != 0) {
            /* The seed's users keep their folders below INBOX (Cyrus shows "lists" for
             * INBOX.lists in its alternate namespace): fileinto "lists" means that. */
            const char *written = t->name;
            t->name = pool_printf(tx->pool, "INBOX.%s", written);
            r = delivery_lock_mailbox(tx->db, acct, t);
            if (r == 1)
                t->name = written;
        }
        if (r == 1) {
            log_emit(LOG_INFO, "lmtp.folder_missing", "rcpt", rc->address, "mailbox", t->name,
                     NULL);
            t->name = "INBOX";
            r = delivery_lock_mailbox(tx->db, acct, t);
        }
        if (r != 0)
            return -1;
        int seen = 0;
        for (size_t j = 0; j < n; j++)
            seen |= plan->targets[j].mailbox_id == t->mailbox_id;
        if (!seen)
            plan->targets[n++] = *t;
    }
    plan->ntargets = n;
    return quota_lock(tx->db, rc->account_id, q);
}

/* One recipient inside its savepoint. Returns 0 to keep what it wrote, 1 to roll it back
 * with the outcome already decided (over quota, duplicate, discard), -1 on a database
 * error. */
static int delivery_recipient(struct delivery_tx *tx, struct delivery_rcpt *rc,
                              struct delivery_plan *plan)
{
    pool_t *pool = tx->pool;
    const char *acct = pool_printf(pool, "%lld", rc->account_id);
    /* The body goes in before any lock is taken, so the locks are held for less; a
     * recipient that files nothing after all rolls it back with its savepoint. */
    if ((plan->ntargets > 0 || plan->noutbound > 0) && delivery_store_blob(tx) != 0)
        return -1;
    struct quota q = {0};
    if (delivery_lock_targets(tx, rc, acct, plan, &q) != 0)
        return -1;
    size_t n = plan->ntargets;
    /* Duplicates: a target that already has this Message-ID within the window is dropped. */
    if (tx->msgid) {
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            int c = dedup_claim(tx->db, rc->account_id, plan->targets[i].mailbox_id, tx->msgid,
                                tx->idlen);
            if (c < 0)
                return -1;
            if (c)
                plan->targets[kept++] = plan->targets[i];
            else
                log_emit(LOG_INFO, "lmtp.duplicate_suppressed", "rcpt", rc->address, "mailbox",
                         plan->targets[i].name, "message_id",
                         pool_strndup(pool, tx->msgid, tx->idlen), NULL);
        }
        if (kept == 0 && n > 0)
            rc->note = DELIVERY_NOTE_DUPLICATE;
        n = plan->ntargets = kept;
    }
    if (n == 0 && plan->noutbound == 0) {
        if (rc->note == DELIVERY_NOTE_NONE)
            rc->note = DELIVERY_NOTE_DISCARDED;
        rc->outcome = DELIVERY_DELIVERED;
        return 1;
    }
    const char *prefix = pool_printf(pool, "Return-Path: <%s>\r\nDelivered-To: %s\r\n",
                                     tx->msg->sender, rc->address);
    size_t size = strlen(prefix) + tx->msg->len;
    int percent = (int)config_long("MAILSTACK_QUOTA_WARN_PERCENT", 80);
    if (n > 0) {
        if (q.warned && !quota_above(&q, percent)) {
            q.warned = 0; /* usage fell back below the threshold: warn again next time */
            if (quota_set_warned(tx->db, rc->account_id, 0) != 0)
                return -1;
        }
        if (!quota_fits(&q, (long long)(size * n), (long long)n)) {
            log_emit(LOG_INFO, "lmtp.over_quota", "rcpt", rc->address, "size",
                     pool_printf(pool, "%zu", size), "storage_used",
                     pool_printf(pool, "%lld", q.storage_used), "messages_used",
                     pool_printf(pool, "%lld", q.messages_used), NULL);
            rc->outcome = DELIVERY_OVER_QUOTA;
            return 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (delivery_file(tx->db, pool, acct, tx->sha, prefix, size, &plan->targets[i]) != 0)
            return -1;
        q.storage_used += (long long)size;
        q.messages_used++;
    }
    for (size_t i = 0; i < plan->noutbound; i++)
        if (outbound_record(tx->db, pool, rc->account_id, rc->address, tx->msg, tx->sha,
                            prefix, plan->outbound[i]) != 0)
            return -1;
    if (n > 0 && !q.warned && quota_above(&q, percent)) {
        if (delivery_quota_notice(tx, rc, acct, &q, percent) != 0 ||
            quota_set_warned(tx->db, rc->account_id, 1) != 0)
            return -1;
    }
    rc->outcome = DELIVERY_DELIVERED;
    if (n > 0) {
        rc->mailbox = pool_strdup(pool, plan->targets[0].name);
        rc->uid = plan->targets[0].uid;
    }
    return 0;
}

static int delivery_savepoint(PGconn *db, const char *sql)
{
    PGresult *r = db_exec(db, sql, sql, 0, NULL);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int delivery_by_account(const void *a, const void *b)
{
    const struct delivery_rcpt *x = *(struct delivery_rcpt *const *)a;
    const struct delivery_rcpt *y = *(struct delivery_rcpt *const *)b;
    if (x->account_id != y->account_id)
        return (x->account_id > y->account_id) - (x->account_id < y->account_id);
    return (x > y) - (x < y); /* stable: RCPT order within an account */
}

void delivery_run(pool_t *pool, const struct delivery_message *msg, struct delivery_rcpt *rcpts,
                  size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rcpts[i].outcome = DELIVERY_TEMPFAIL;
        rcpts[i].note = DELIVERY_NOTE_NONE;
    }
    if (msg->len > 0x7fffffff)
        return;
    PGconn *db = db_conn();
    if (!db)
        return;
    struct delivery_tx tx = {.pool = pool, .db = db, .msg = msg};
    SHA256((const unsigned char *)msg->data, msg->len, tx.sha);
    tx.msgid = dedup_message_id(pool, msg->data, msg->len, &tx.idlen);
    /* Plans first: running Sieve only reads, so it happens outside the transaction. */
    struct delivery_plan *plans = pool_zalloc(pool, n * sizeof(*plans));
    int *planned = pool_zalloc(pool, n * sizeof(*planned));
    for (size_t i = 0; i < n; i++) {
        const struct delivery_action *actions;
        if (sievehook_actions(pool, db, msg, &rcpts[i], &actions) != 0)
            continue;
        delivery_plan_actions(pool, actions, &rcpts[i], &plans[i]);
        planned[i] = 1;
    }
    struct delivery_rcpt **order = pool_alloc(pool, n * sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = &rcpts[i];
    qsort(order, n, sizeof(*order), delivery_by_account);
    /* A lone recipient needs no savepoint: rolling back the transaction is rolling back
     * the recipient. */
    int savepoints = n > 1;
    if (db_begin(db) != 0)
        return;
    for (size_t k = 0; k < n; k++) {
        struct delivery_rcpt *rc = order[k];
        size_t i = (size_t)(rc - rcpts);
        if (!planned[i])
            continue;
        if (plans[i].reject) {
            rc->outcome = DELIVERY_REJECTED;
            rc->reason = delivery_reply_text(pool, plans[i].reject);
            continue;
        }
        int blob_before = tx.blob_written;
        if (savepoints && delivery_savepoint(db, "SAVEPOINT rcpt") != 0)
            goto fail;
        int r = delivery_recipient(&tx, rc, &plans[i]);
        if (r == 0) {
            if (savepoints && delivery_savepoint(db, "RELEASE SAVEPOINT rcpt") != 0)
                goto fail;
            continue;
        }
        if (r < 0) {
            rc->outcome = DELIVERY_TEMPFAIL;
            rc->note = DELIVERY_NOTE_NONE;
        }
        tx.blob_written = blob_before;
        if (!savepoints) {
            db_rollback(db); /* its outcome (over quota, duplicate) stands */
            return;
        }
        if (delivery_savepoint(db, "ROLLBACK TO SAVEPOINT rcpt") != 0)
            goto fail;
    }
    if (db_commit(db) == 0)
        return;
fail:
    db_rollback(db);
    /* Nothing was committed: whatever was decided, the client must try again. */
    for (size_t i = 0; i < n; i++)
        rcpts[i].outcome = DELIVERY_TEMPFAIL;
}
