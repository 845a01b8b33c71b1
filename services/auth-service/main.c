/* auth-service: checks credentials against LDAP for the other services over a JSON API
 * (POST /v1/auth, shared secret, brute-force lockout), beside the control endpoints every
 * service has. /readyz reflects a search on a pooled LDAP connection, checked every few
 * seconds on a worker. */
#include "auth_api.h"
#include "auth_check.h"
#include "config/config.h"
#include "control/control.h"
#include "log/log.h"
#include "net/net.h"
#include "probe/probe.h"
#include "workq/workq.h"

#include <stdio.h>
#include <stdlib.h>

static workq_t *workers;
static control_t *control;
static probe_t *ldap_probe;

static int ldap_answers(void *arg)
{
    (void)arg;
    return auth_check_ping() == 0;
}

static int ready(void *arg, char *reason, size_t len)
{
    (void)arg;
    int ldap_ok = probe_ok(ldap_probe);
    if (!ldap_ok)
        snprintf(reason, len, "ldap unreachable");
    return ldap_ok ? CONTROL_READY : CONTROL_NOT_READY;
}

static int busy(void *arg)
{
    (void)arg;
    return workq_pending(workers) > 0 || auth_api_pending() > 0;
}

static void on_stop(void *arg)
{
    (void)arg;
    probe_stop(ldap_probe);
    auth_api_stop();
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
    if (auth_check_init() != 0)
        return 1;
    workers = workq_create(base, (int)config_long("MAILSTACK_AUTH_WORKERS", 4));
    control_set_ready(control, ready, NULL);
    if (auth_api_register(base, control, workers) != 0)
        return 1;
    metrics_describe("auth_ldap_up", "gauge", "1 when LDAP answered the last check.");
    ldap_probe = probe_start(base, workers, &(struct probe_spec){
        .up_event = "auth.ldap_up", .down_event = "auth.ldap_down", .gauge = "auth_ldap_up",
        .interval_ms = 5000, .check = ldap_answers});
    if (!ldap_probe)
        return 1;
    net_on_shutdown(base, on_stop, NULL, 2000);
    net_shutdown_when_idle(busy, NULL);
    log_emit(LOG_INFO, "service.started", NULL);
    event_base_dispatch(base);
    workq_destroy(workers);
    probe_free(ldap_probe); /* after the queue: a check may have been in flight */
    auth_check_end();
    auth_api_free();
    control_stop(control);
    event_base_free(base);
    log_emit(LOG_INFO, "service.stopped", NULL);
    return 0;
}
