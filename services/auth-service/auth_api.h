/* auth_api: POST /v1/auth, the JSON face of auth_check for the other services, with the
 * shared-secret check and the brute-force lockout in front of it. */
#ifndef AUTH_API_H
#define AUTH_API_H

#include "control/control.h"
#include "workq/workq.h"

#include <stddef.h>

/* Adds the route. -1 (logged) when MAILSTACK_AUTH_SECRET is missing or too short: the
 * service must not answer anyone then. */
int auth_api_register(struct event_base *base, control_t *control, workq_t *workers);
/* Requests not answered yet (waiting on a timer or a worker), for a clean shutdown. */
size_t auth_api_pending(void);
/* Shutdown: answers what only waits on a timer now; new requests get 503. */
void auth_api_stop(void);
/* After the loop: frees the lockout table. */
void auth_api_free(void);

#endif
