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
#include "session.h"

#include <stdio.h>

#define MAIN_PING_SECONDS 5
#define MAIN_SHUTDOWN_GRACE_MS 3000

static control_t *control;
static struct evconnlistener *listener;
static struct event *ping_timer;
static int pg_ok;          /* loop thread only */
static int ping_result;    /* written by the worker, read in ping_done */
static int ping_running;

static void ping_work(void *arg)
{
    (void)arg;
    ping_result = mailstore_ping();
}

static void ping_done(void *arg)
{
    (void)arg;
    ping_running = 0;
    if (pg_ok != (ping_result == 0))
        log_emit(ping_result == 0 ? LOG_INFO : LOG_WARN,
                 ping_result == 0 ? "imap.postgres_up" : "imap.postgres_down", NULL);
    pg_ok = ping_result == 0;
    metrics_set("imap_postgres_up", pg_ok);
}

static void ping_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (!ping_running && workq_submit(gateway.workers, ping_work, ping_done, NULL) == 0)
        ping_running = 1;
}

static int ready(void *arg, char *reason, size_t len)
{
    (void)arg;
    if (!pg_ok)
        snprintf(reason, len, "postgresql unreachable");
    return pg_ok;
}

static void status(void *arg, json_t *st)
{
    (void)arg;
    json_object_set_new(st, "sessions", json_integer(session_count()));
    json_object_set_new(st, "postgres", json_boolean(pg_ok));
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
    event_del(ping_timer);
    session_shutdown_all("Server shutting down");
}

static void describe_metrics(void)
{
    metrics_describe("imap_sessions", "gauge", "IMAP sessions open now.");
    metrics_describe("imap_connections_total", "counter", "IMAP connections accepted.");
    metrics_describe("imap_commands_total", "counter", "IMAP commands by name.");
    metrics_describe("imap_logins_total", "counter", "LOGIN attempts by result.");
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
    ping_timer = event_new(base, -1, EV_PERSIST, ping_tick, NULL);
    struct timeval every = {MAIN_PING_SECONDS, 0};
    event_add(ping_timer, &every);
    ping_tick(-1, 0, NULL);
    net_on_shutdown(base, on_stop, NULL, MAIN_SHUTDOWN_GRACE_MS);
    net_shutdown_when_idle(busy, NULL);
    log_emit(LOG_INFO, "service.started", NULL);
    event_base_dispatch(base);
    workq_destroy(gateway.workers);
    session_free_all();
    net_listener_free(listener);
    control_stop(control);
    event_free(ping_timer);
    if (gateway.tls)
        SSL_CTX_free(gateway.tls);
    event_base_free(base);
    log_emit(LOG_INFO, "service.stopped", NULL);
    return 0;
}
