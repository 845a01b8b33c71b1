/* dedup: duplicate delivery suppression as the seed's Cyrus does it (its duplicate database
 * and `ctl_deliver -E` pruning): a Message-ID filed into a mailbox is not filed there again
 * within MAILSTACK_DUPLICATE_WINDOW_HOURS (default 72; a decimal, so tests can use seconds).
 * A message without a Message-ID is never suppressed. */
#ifndef DEDUP_H
#define DEDUP_H

#include "pool/pool.h"
#include "workq/workq.h"

#include <libpq-fe.h>
#include <stddef.h>

/* The Message-ID of a message (CRLF or LF lines): the first Message-ID field of the header
 * section, unfolded, the <...> part when there is one, else the whole trimmed value. NULL
 * when there is none or it is empty. Pure. *len gets its length (it may hold any octet). */
const char *dedup_message_id(pool_t *pool, const char *msg, size_t msglen, size_t *len);

/* The window in seconds (at least 1). */
double dedup_window_seconds(void);

/* Claims (account, mailbox, Message-ID) for a filing now. Returns 1 when claimed (no entry
 * within the window: file it), 0 when it is a duplicate, -1 on a database error. Called
 * with the mailbox row locked, inside the delivery transaction: a concurrent delivery of
 * the same message waits on the claim and then sees it. */
int dedup_claim(PGconn *db, long long account_id, long long mailbox_id, const char *msgid,
                size_t idlen);

/* Called on the loop thread after deliveries: at most every
 * MAILSTACK_DUPLICATE_PRUNE_INTERVAL_S (default 3600) it queues on a worker the deletion of
 * entries older than the window. Entries only accrue with deliveries, so delivery activity
 * is what drives pruning; no timer of its own is needed. */
void dedup_prune_maybe(workq_t *workers);

#endif
