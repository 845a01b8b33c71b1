/* sievehook: where a recipient's Sieve script turns into delivery actions. delivery asks it
 * for the action list of each recipient before filing; the list it gets back says
 * everything that happens to that recipient's copy (implicit keep resolved). Blocking:
 * reads the account's active script on the caller's worker connection. */
#ifndef SIEVEHOOK_H
#define SIEVEHOOK_H

#include "delivery.h"

#include <libpq-fe.h>

/* Sets *out to the recipient's actions; 0, or -1 when they could not be found out now
 * (database error: the recipient is deferred). A script that cannot be run never costs
 * mail: its error is logged and the answer is a keep. */
int sievehook_actions(pool_t *pool, PGconn *db, const struct delivery_message *msg,
                      const struct delivery_rcpt *rcpt, const struct delivery_action **out);

#endif
