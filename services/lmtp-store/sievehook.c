/* sievehook: until libs/sieve is here every recipient gets the implicit keep; the engine
 * plugs in by loading the active row of sieve_scripts here and mapping sieve_run's actions
 * onto struct delivery_action. */
#include "sievehook.h"

int sievehook_actions(pool_t *pool, PGconn *db, const struct delivery_message *msg,
                      const struct delivery_rcpt *rcpt, const struct delivery_action **out)
{
    (void)db;
    (void)msg;
    (void)rcpt;
    struct delivery_action *keep = pool_zalloc(pool, sizeof(*keep));
    keep->kind = DELIVERY_KEEP;
    *out = keep;
    return 0;
}
