/* dedup: the duplicate database behind dedup.h - rows of delivery_duplicates keyed by
 * account, mailbox and Message-ID, claimed with one upsert so that the check and the
 * record cannot be split by a concurrent delivery of the same message. */
#include "dedup.h"
#include "config/config.h"
#include "db/db.h"
#include "header.h"
#include "log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longer Message-IDs (no real one is) are not used as keys: never suppressed. */
#define DEDUP_ID_MAX 998

const char *dedup_message_id(pool_t *pool, const char *msg, size_t msglen, size_t *len)
{
    size_t n;
    const char *v = header_get(pool, msg, msglen, "Message-ID", &n);
    if (!v)
        return NULL;
    const char *lt = memchr(v, '<', n);
    const char *gt = lt ? memchr(lt, '>', (size_t)(v + n - lt)) : NULL;
    if (lt && gt) {
        n = (size_t)(gt - lt) + 1;
        v = lt;
    }
    if (n == 0 || n > DEDUP_ID_MAX)
        return NULL;
    *len = n;
    return v;
}

double dedup_window_seconds(void)
{
    double hours = strtod(config_str("MAILSTACK_DUPLICATE_WINDOW_HOURS", "72"), NULL);
    double s = hours * 3600;
    return s >= 1 ? s : 1;
}

int dedup_claim(PGconn *db, long long account_id, long long mailbox_id, const char *msgid,
                size_t idlen)
{
    char acct[24], mbox[24], window[32];
    snprintf(acct, sizeof(acct), "%lld", account_id);
    snprintf(mbox, sizeof(mbox), "%lld", mailbox_id);
    snprintf(window, sizeof(window), "%.3f", dedup_window_seconds());
    const char *p[4] = {acct, mbox, msgid, window};
    int lengths[4] = {0, 0, (int)idlen, 0};
    int formats[4] = {0, 0, 1, 0};
    /* An entry within the window makes the DO UPDATE's condition false: no row comes back. */
    PGresult *r = db_exec_bin(db, "dedup.claim",
                              "INSERT INTO delivery_duplicates (account_id, mailbox_id, message_id)"
                              " VALUES ($1, $2, $3)"
                              " ON CONFLICT (account_id, mailbox_id, message_id) DO UPDATE"
                              " SET delivered_at = now()"
                              " WHERE delivery_duplicates.delivered_at"
                              "  <= now() - make_interval(secs => $4::double precision)"
                              " RETURNING 1",
                              4, p, lengths, formats);
    if (!r)
        return -1;
    int claimed = PQntuples(r) == 1;
    PQclear(r);
    return claimed;
}

/* Loop-thread state: set when a prune is queued, cleared by its done callback. */
static int dedup_pruning;
static time_t dedup_last_prune;

static void dedup_prune_work(void *arg)
{
    (void)arg;
    PGconn *db = db_conn();
    if (db) {
        char window[32];
        snprintf(window, sizeof(window), "%.3f", dedup_window_seconds());
        const char *p[1] = {window};
        PGresult *r = db_exec(db, "dedup.prune",
                              "DELETE FROM delivery_duplicates"
                              " WHERE delivered_at < now() - make_interval(secs => $1::double precision)",
                              1, p);
        if (r) {
            log_emit(LOG_INFO, "lmtp.duplicates_pruned", "deleted", PQcmdTuples(r), NULL);
            PQclear(r);
        }
    }
}

static void dedup_prune_done(void *arg)
{
    (void)arg;
    dedup_pruning = 0;
}

void dedup_prune_maybe(workq_t *workers)
{
    time_t now = time(NULL);
    long every = config_long("MAILSTACK_DUPLICATE_PRUNE_INTERVAL_S", 3600);
    if (now - dedup_last_prune < every || dedup_pruning)
        return;
    dedup_last_prune = now;
    dedup_pruning = workq_submit(workers, dedup_prune_work, dedup_prune_done, NULL) == 0;
}
