/* auth_api: POST /v1/auth, the JSON face of auth_check for the other services. */
#ifndef AUTH_API_H
#define AUTH_API_H

#include "control/control.h"
#include "workq/workq.h"

void auth_api_register(control_t *control, workq_t *workers);

#endif
