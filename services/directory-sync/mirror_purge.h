/* mirror_purge: hard-deletes, with their mail, the accounts soft-deleted (mirror_store.h)
 * more than MAILSTACK_ACCOUNT_RETENTION_DAYS ago (default 30, fractions allowed; 0 = never
 * automatically). A thread of its own does it at start and then hourly, so neither the
 * loop nor the lookup workers wait on it; POST /v1/accounts/purge runs it now, with the
 * same retention, on a worker, and answers {"purged": n, "retention_days": d}. */
#ifndef MIRROR_PURGE_H
#define MIRROR_PURGE_H

#include "control/control.h"
#include "workq/workq.h"

/* Reads the setting, starts the thread, adds the route; -1 (logged) on a bad setting. */
int mirror_purge_start(control_t *control, workq_t *workers);
/* Asks the thread to end; does not wait. */
void mirror_purge_stop(void);
/* Waits for the thread; after the loop has ended. */
void mirror_purge_free(void);

#endif
