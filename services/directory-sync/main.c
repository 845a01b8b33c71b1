/* directory-sync: keeps the PostgreSQL mirror of the LDAP directory (a full load at start
 * and then every MAILSTACK_DIRECTORY_REFRESH_SECONDS until live syncrepl arrives) and
 * serves the recipient lookup API (GET /v1/lookup) on its control port. /readyz is ready
 * once a load has succeeded and LDAP answered the last one. */
#include "config/config.h"
#include "control/control.h"
#include "db/db.h"
#include "log/log.h"
#include "lookup.h"
#include "mirror_load.h"
#include "net/net.h"
#include "workq/workq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static workq_t *workers;
static control_t *control;
static struct event *refresh_timer;
static struct mirror_load_result last_load;   /* loop thread only */
static struct mirror_load_result running_load;
static int loading, loaded_once;

/* Callers waiting for the load in progress (POST /v1/mirror/refresh). */
struct waiter {
    void (*done)(void *arg, int ok);
    void *arg;
    struct waiter *next;
};
static struct waiter *waiters;   /* answered when the running load ends */
static struct waiter *asked;     /* arrived during it: answered after the next one */

static void refresh_tick(evutil_socket_t fd, short what, void *arg);

static void load_work(void *arg)
{
    (void)arg;
    mirror_load(&running_load);
}

static void load_done(void *arg)
{
    (void)arg;
    loading = 0;
    last_load = running_load;
    char entries[32], secs[32];
    snprintf(entries, sizeof(entries), "%ld", last_load.entries);
    snprintf(secs, sizeof(secs), "%.3f", last_load.seconds);
    if (last_load.ok) {
        if (!loaded_once || log_enabled(LOG_DEBUG))
            log_emit(LOG_INFO, "mirror.loaded", "entries", entries, "seconds", secs, NULL);
        loaded_once = 1;
        metrics_add("directory_mirror_loads_total{result=\"ok\"}", 1);
        metrics_set("directory_mirror_entries", (double)last_load.entries);
    } else {
        log_emit(LOG_WARN, "mirror.load_failed", "error", last_load.error, "ldap_down",
                 last_load.ldap_down ? "true" : "false", NULL);
        metrics_add("directory_mirror_loads_total{result=\"failed\"}", 1);
    }
    while (waiters) {
        struct waiter *w = waiters;
        waiters = w->next;
        w->done(w->arg, last_load.ok);
        free(w);
    }
    if (asked) {
        waiters = asked;
        asked = NULL;
        refresh_tick(-1, 0, NULL);
    }
}

static void refresh_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (!loading && workq_submit(workers, load_work, load_done, NULL) == 0)
        loading = 1;
}

/* A reload on demand. A caller never gets the answer of a load that began before it
 * asked, so what it sees was read from LDAP after its own change. */
static void refresh_now(void (*done)(void *arg, int ok), void *arg)
{
    struct waiter *w = malloc(sizeof(*w));
    w->done = done;
    w->arg = arg;
    if (loading) {
        w->next = asked;
        asked = w;
        return;
    }
    w->next = waiters;
    waiters = w;
    refresh_tick(-1, 0, NULL);
}

static int ready(void *arg, char *reason, size_t len)
{
    (void)arg;
    if (!loaded_once) {
        snprintf(reason, len, "mirror not loaded yet%s%s", last_load.error[0] ? ": " : "",
                 last_load.error);
        return CONTROL_NOT_READY;
    }
    if (!last_load.ok) {
        snprintf(reason, len, "serving the mirror; last load failed: %s", last_load.error);
        return CONTROL_DEGRADED;
    }
    return CONTROL_READY;
}

static void status(void *arg, json_t *st)
{
    (void)arg;
    json_object_set_new(st, "mirror", json_pack("{s:b,s:I,s:I,s:f,s:s}", "loaded", loaded_once,
                                                "entries", (json_int_t)last_load.entries,
                                                "addresses", (json_int_t)last_load.addresses,
                                                "last_load_seconds", last_load.seconds,
                                                "last_error", last_load.error));
}

static int busy(void *arg)
{
    (void)arg;
    return workq_pending(workers) > 0;
}

static void on_stop(void *arg)
{
    (void)arg;
    event_del(refresh_timer);
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
    control_set_ready(control, ready, NULL);
    control_set_status(control, status, NULL);
    metrics_describe("directory_mirror_loads_total", "counter", "Full mirror loads by result.");
    metrics_describe("directory_mirror_entries", "gauge", "Entries in the mirror.");
    lookup_register(control, workers);
    lookup_set_refresher(refresh_now);
    refresh_timer = event_new(base, -1, EV_PERSIST, refresh_tick, NULL);
    struct timeval every = {config_long("MAILSTACK_DIRECTORY_REFRESH_SECONDS", 60), 0};
    event_add(refresh_timer, &every);
    refresh_tick(-1, 0, NULL);
    net_on_shutdown(base, on_stop, NULL, 2000);
    net_shutdown_when_idle(busy, NULL);
    log_emit(LOG_INFO, "service.started", NULL);
    event_base_dispatch(base);
    workq_destroy(workers);
    event_free(refresh_timer);
    control_stop(control);
    event_base_free(base);
    log_emit(LOG_INFO, "service.stopped", NULL);
    return 0;
}
