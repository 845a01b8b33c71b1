/* directory-sync: keeps the PostgreSQL mirror of the LDAP directory live with syncrepl
 * (mirror_sync.h, on threads of its own), purges the accounts soft-deleted longer than the
 * retention period (mirror_purge.h) and serves the recipient lookup API
 * (GET /v1/lookup) on its control port. /readyz is ready while the mirror follows LDAP,
 * degraded while it serves without LDAP, not ready without PostgreSQL. */
#include "config/config.h"
#include "control/control.h"
#include "db/db.h"
#include "log/log.h"
#include "lookup.h"
#include "mirror_purge.h"
#include "mirror_sync.h"
#include "net/net.h"
#include "probe/probe.h"
#include "workq/workq.h"

#include <stdio.h>

static workq_t *workers;
static control_t *control;
static probe_t *db_probe;

static int db_answers(void *arg)
{
    (void)arg;
    return db_ping(NULL) == 0;
}

/* Lookups need PostgreSQL; then the mirror's own state (mirror_sync.h). */
static int ready(void *arg, char *reason, size_t len)
{
    if (!probe_ok(db_probe)) {
        snprintf(reason, len, "postgresql unreachable");
        return CONTROL_NOT_READY;
    }
    return mirror_sync_ready(arg, reason, len);
}

static int busy(void *arg)
{
    (void)arg;
    return workq_pending(workers) > 0;
}

static void on_stop(void *arg)
{
    (void)arg;
    probe_stop(db_probe);
    mirror_sync_stop();
    mirror_purge_stop();
}

static void thread_end(void)
{
    db_close_thread();
}

int main(void)
{
    log_init("directory-sync");
    if (config_load() != 0)
        return 1;
    struct event_base *base = net_base_new();
    control = control_start(base, "directory-sync", NULL,
                            config_port("MAILSTACK_DIRECTORY_SYNC_CONTROL_PORT", 8389));
    if (!control)
        return 1;
    workers = workq_create(base, (int)config_long("MAILSTACK_DIRECTORY_WORKERS", 4));
    workq_on_thread_exit(workers, thread_end);
    db_probe = probe_start(base, workers, &(struct probe_spec){
        .up_event = "db.up", .down_event = "db.down", .interval_ms = 5000, .check = db_answers});
    if (!db_probe || mirror_sync_start(base) != 0 || mirror_purge_start(control, workers) != 0)
        return 1;
    control_set_ready(control, ready, NULL);
    control_set_status(control, mirror_sync_status, NULL);
    lookup_register(control, workers);
    lookup_set_refresher(mirror_sync_refresh);
    net_on_shutdown(base, on_stop, NULL, 2000);
    net_shutdown_when_idle(busy, NULL);
    log_emit(LOG_INFO, "service.started", NULL);
    event_base_dispatch(base);
    workq_destroy(workers);
    probe_free(db_probe); /* after the queue: a check may have been in flight */
    mirror_sync_free();
    mirror_purge_free();
    control_stop(control);
    event_base_free(base);
    log_emit(LOG_INFO, "service.stopped", NULL);
    return 0;
}
