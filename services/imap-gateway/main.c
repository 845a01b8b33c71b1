/* imap-gateway: the IMAP4rev1 server. One libevent loop carries every session; the
 * PostgreSQL and auth-service calls run on worker threads. Beside it, the control API
 * (/readyz = PostgreSQL answers, checked every few seconds on a worker). On SIGTERM every
 * session gets "* BYE" and is closed before the process exits. */
#include "config/config.h"
#include "control/control.h"
#include "db/db.h"
#include "gateway.h"
#include "log/log.h"
#include "mailstore.h"
#include "net/net.h"
#include "probe/probe.h"
#include "saslauth/saslauth.h"
#include "session.h"

#include <stdio.h>

#define MAIN_PING_SECONDS 5
#define MAIN_SHUTDOWN_GRACE_MS 3000

static control_t *control;
static struct evconnlistener *listener;
static probe_t *pg_probe;

static int pg_answers(void *arg)
{
    (void)arg;
    return mailstore_ping() == 0;
}

static int ready(void *arg, char *reason, size_t len)
{
    (void)arg;
    int pg_ok = probe_ok(pg_probe);
    if (!pg_ok)
        snprintf(reason, len, "postgresql unreachable");
    return pg_ok;
}

static void status(void *arg, json_t *st)
{
    (void)arg;
    json_object_set_new(st, "sessions", json_integer(session_count()));
    json_object_set_new(st, "postgres", json_boolean(probe_ok(pg_probe)));
    json_object_set_new(st, "starttls", json_boolean(gateway.tls != NULL));
}

/* Until every session has said BYE and gone, and no job is left, shutdown waits. */
static int busy(void *arg)
{
    (void)arg;
    return session_count() > 0 || workq_pending(gateway.workers) > 0;
}

static void on_stop(void *arg)
{
    (void)arg;
    evconnlistener_disable(listener);
    probe_stop(pg_probe);
    session_shutdown_all("Server shutting down");
}

static void describe_metrics(void)
{
    metrics_describe("imap_sessions", "gauge", "IMAP sessions open now.");
    metrics_describe("imap_connections_total", "counter", "IMAP connections accepted.");
    metrics_describe("imap_commands_total", "counter", "IMAP commands by name.");
    metrics_describe("imap_logins_total", "counter", "LOGIN and AUTHENTICATE by result.");
    metrics_describe("imap_protocol_errors_total", "counter", "Malformed command lines.");
    metrics_describe("imap_autologouts_total", "counter", "Sessions closed for idleness.");
    metrics_describe("imap_postgres_up", "gauge", "1 when PostgreSQL answered the last check.");
}

int main(void)
{
    log_init("imap-gateway");
    if (config_load() != 0)
        return 1;
    gateway_config_load();
    if (saslauth_init("imap") != 0)
        return 1;
    struct event_base *base = net_base_new();
    const char *cert = config_str("MAILSTACK_TLS_CERT", "");
    const char *key = config_str("MAILSTACK_TLS_KEY", "");
    if (*cert || *key) {
        gateway.tls = net_tls_server_ctx(cert, key);
        if (!gateway.tls)
            return 1; /* a certificate was asked for: running without it would downgrade */
    }
    control = control_start(base, "imap-gateway", NULL,
                            config_port("MAILSTACK_IMAP_GATEWAY_CONTROL_PORT", 8143));
    if (!control)
        return 1;
    gateway.workers = workq_create(base, (int)config_long("MAILSTACK_IMAP_WORKERS", 8));
    workq_on_thread_exit(gateway.workers, db_close_thread);
    control_set_ready(control, ready, NULL);
    control_set_status(control, status, NULL);
    describe_metrics();
    listener = net_listen_tcp(base, NULL, config_port("MAILSTACK_IMAP_PORT", 143), NULL,
                              session_accept, NULL);
    if (!listener)
        return 1;
    pg_probe = probe_start(base, gateway.workers, &(struct probe_spec){
        .up_event = "imap.postgres_up", .down_event = "imap.postgres_down",
        .gauge = "imap_postgres_up", .interval_ms = MAIN_PING_SECONDS * 1000,
        .check = pg_answers});
    if (!pg_probe)
        return 1;
    net_on_shutdown(base, on_stop, NULL, MAIN_SHUTDOWN_GRACE_MS);
    net_shutdown_when_idle(busy, NULL);
    log_emit(LOG_INFO, "service.started", NULL);
    event_base_dispatch(base);
    workq_destroy(gateway.workers);
    session_free_all();
    net_listener_free(listener);
    control_stop(control);
    probe_free(pg_probe); /* after the queue: a check may have been in flight */
    if (gateway.tls)
        SSL_CTX_free(gateway.tls);
    saslauth_done();
    event_base_free(base);
    log_emit(LOG_INFO, "service.stopped", NULL);
    return 0;
}
