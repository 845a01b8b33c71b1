/* lookup: the recipient lookup rules of the seed over the PostgreSQL mirror, served as
 * GET /v1/lookup?address=… (and POST /v1/mirror/refresh to reload the mirror now). */
#ifndef LOOKUP_H
#define LOOKUP_H

#include "control/control.h"
#include "workq/workq.h"

void lookup_register(control_t *control, workq_t *workers);

/* Set by main: runs a full mirror load now; `done(arg, ok)` is called on the loop thread. */
typedef void (*lookup_refresh_fn)(void (*done)(void *arg, int ok), void *arg);
void lookup_set_refresher(lookup_refresh_fn fn);

#endif
