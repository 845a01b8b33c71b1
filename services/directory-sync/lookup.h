/* lookup: directory-sync's JSON routes for mail routing: GET /v1/lookup?address=… (the
 * seed's lookup rules over the PostgreSQL mirror, resolve.h), GET and PUT /v1/aliases
 * (the aliases table, aliases(5) text in) and POST /v1/mirror/refresh (a full syncrepl refresh now). */
#ifndef LOOKUP_H
#define LOOKUP_H

#include "control/control.h"
#include "workq/workq.h"

void lookup_register(control_t *control, workq_t *workers);

/* Set by main: forces a full syncrepl refresh (cookie dropped, unseen rows removed) now;
 * `done(arg, ok)` is called on the loop thread. */
typedef void (*lookup_refresh_fn)(void (*done)(void *arg, int ok), void *arg);
void lookup_set_refresher(lookup_refresh_fn fn);

#endif
