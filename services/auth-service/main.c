/* auth-service: checks credentials against LDAP for the other services over a JSON API
 * (POST /v1/auth), beside the control endpoints every service has. /readyz reflects a
 * bind as the service account, checked every few seconds on a worker. */
#include "auth_api.h"
#include "auth_check.h"
#include "config/config.h"
#include "control/control.h"
#include "log/log.h"
#include "net/net.h"
#include "workq/workq.h"

#include <stdio.h>
#include <stdlib.h>

static workq_t *workers;
static control_t *control;
static struct event *ping_timer;
static int ldap_ok;          /* loop thread only */
static int ping_result;      /* written by the worker, read in ping_done */
static int ping_running;

static void ping_work(void *arg)
{
    (void)arg;
    ping_result = auth_check_ping();
}

static void ping_done(void *arg)
{
    (void)arg;
    ping_running = 0;
    if (ldap_ok != (ping_result == 0))
        log_emit(ping_result == 0 ? LOG_INFO : LOG_WARN,
                 ping_result == 0 ? "auth.ldap_up" : "auth.ldap_down", NULL);
    ldap_ok = ping_result == 0;
    metrics_set("auth_ldap_up", ldap_ok);
}

static void ping_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (!ping_running && workq_submit(workers, ping_work, ping_done, NULL) == 0)
        ping_running = 1;
}

static int ready(void *arg, char *reason, size_t len)
{
    (void)arg;
    if (!ldap_ok)
        snprintf(reason, len, "ldap unreachable");
    return ldap_ok ? CONTROL_READY : CONTROL_NOT_READY;
}

static int busy(void *arg)
{
    (void)arg;
    return workq_pending(workers) > 0;
}

static void on_stop(void *arg)
{
    (void)arg;
    event_del(ping_timer);
}

int main(void)
{
    log_init("auth-service");
    if (config_load() != 0)
        return 1;
    struct event_base *base = net_base_new();
    control = control_start(base, "auth-service", NULL,
                            config_port("MAILSTACK_AUTH_SERVICE_CONTROL_PORT", 8088));
    if (!control)
        return 1;
    workers = workq_create(base, (int)config_long("MAILSTACK_AUTH_WORKERS", 4));
    workq_on_thread_exit(workers, auth_check_thread_end);
    control_set_ready(control, ready, NULL);
    auth_api_register(control, workers);
    metrics_describe("auth_ldap_up", "gauge", "1 when LDAP answered the last check.");
    ping_timer = event_new(base, -1, EV_PERSIST, ping_tick, NULL);
    struct timeval every = {5, 0};
    event_add(ping_timer, &every);
    ping_tick(-1, 0, NULL);
    net_on_shutdown(base, on_stop, NULL, 2000);
    net_shutdown_when_idle(busy, NULL);
    log_emit(LOG_INFO, "service.started", NULL);
    event_base_dispatch(base);
    workq_destroy(workers);
    event_free(ping_timer);
    control_stop(control);
    event_base_free(base);
    log_emit(LOG_INFO, "service.stopped", NULL);
    return 0;
}
