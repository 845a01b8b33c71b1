/* outbound: mail that delivery wants sent - Sieve redirect and vacation replies. They go
 * through smtp-edge, never straight to a remote MX; until smtp-edge has a submission or
 * queue API they are recorded in outbound_pending (schema 005) and logged, inside the
 * delivery transaction, so a redirect is recorded exactly when its message is committed. */
#ifndef OUTBOUND_H
#define OUTBOUND_H

#include "delivery.h"

#include <libpq-fe.h>

/* Records action (REDIRECT or VACATION) for the recipient `rcpt` of account_id. The
 * message's blob (sha) must already be stored; prefix is its per-recipient header prefix.
 * A vacation reply is recorded only when none went out under its key within its days
 * (RFC 5230 4.2); the script has already kept it away from lists and bounces. Returns 0
 * or -1 on a database error. */
int outbound_record(PGconn *db, pool_t *pool, long long account_id, const char *rcpt,
                    const struct delivery_message *msg, const unsigned char *sha,
                    const char *prefix, const struct delivery_action *action);

#endif
