/* lmtp-store: the LMTP server (RFC 2033) that files mail into mailboxes in PostgreSQL, the
 * seed's Cyrus lmtpd. Listens on TCP (MAILSTACK_LMTP_PORT) and, when MAILSTACK_LMTP_SOCKET
 * is set, on a UNIX socket as the seed's lmtpunix does; serves the control API. /readyz
 * reflects a PostgreSQL check made every few seconds on a worker. As the seed's
 * lmtp_sasl_auth_enable has it, TCP clients outside MAILSTACK_LMTP_TRUSTED_NETWORKS must
 * AUTH before MAIL (MAILSTACK_LMTP_REQUIRE_AUTH); the UNIX socket is local, so trusted. */
#include "cidr/cidr.h"
#include "config/config.h"
#include "control/control.h"
#include "db/db.h"
#include "lmtp_session.h"
#include "log/log.h"
#include "net/net.h"
#include "probe/probe.h"
#include "saslauth/saslauth.h"
#include "workq/workq.h"

#include <stdio.h>
#include <stdlib.h>

static struct lmtp_settings settings;
static workq_t *workers;
static struct evconnlistener *tcp_listener, *unix_listener;
static probe_t *db_probe;
static cidr_list_t *trusted;
static int require_auth;
static int unix_socket_marker; /* the UNIX listener's arg, telling its clients apart */

static void on_accept(struct bufferevent *bev, const char *peer, int is_loopback, void *arg)
{
    int must_auth = require_auth && arg != &unix_socket_marker && !cidr_match(trusted, peer);
    lmtp_session_start(&settings, bev, peer, is_loopback, must_auth);
}

/* Reads the AUTH settings; -1 (logged) when they cannot be honoured. */
static int auth_setup(void)
{
    const char *nets = config_str("MAILSTACK_LMTP_TRUSTED_NETWORKS", "127.0.0.0/8,::1/128");
    const char *bad;
    trusted = cidr_parse(nets, &bad);
    if (!trusted) {
        log_emit(LOG_ERROR, "config.invalid", "setting", "MAILSTACK_LMTP_TRUSTED_NETWORKS",
                 "entry", bad ? bad : "(out of memory)", NULL);
        return -1;
    }
    require_auth = config_bool("MAILSTACK_LMTP_REQUIRE_AUTH", 1);
    settings.allow_plaintext_loopback = config_bool("MAILSTACK_ALLOW_PLAINTEXT_LOOPBACK", 0);
    const char *cert = config_str("MAILSTACK_TLS_CERT", "");
    const char *key = config_str("MAILSTACK_TLS_KEY", "");
    if ((*cert || *key) && !(settings.tls = net_tls_server_ctx(cert, key)))
        return -1; /* a certificate was asked for: running without it would downgrade */
    if (require_auth) {
        /* Without auth-service untrusted clients could never deliver: refuse to start. */
        if (saslauth_init("lmtp") != 0)
            return -1;
        settings.sasl = 1;
    }
    return 0;
}

static int db_answers(void *arg)
{
    (void)arg;
    PGconn *db = db_conn();
    PGresult *r = db ? db_exec(db, "ping", "SELECT 1", 0, NULL) : NULL;
    if (r)
        PQclear(r);
    return r != NULL;
}

static int ready(void *arg, char *reason, size_t len)
{
    (void)arg;
    int db_ok = probe_ok(db_probe);
    if (!db_ok)
        snprintf(reason, len, "postgresql unreachable");
    return db_ok ? CONTROL_READY : CONTROL_NOT_READY;
}

static void status(void *arg, json_t *st)
{
    (void)arg;
    json_object_set_new(st, "sessions", json_integer(lmtp_session_count()));
}

static int busy(void *arg)
{
    (void)arg;
    return lmtp_session_count() > 0 || workq_pending(workers) > 0;
}

static void on_stop(void *arg)
{
    (void)arg;
    if (tcp_listener)
        evconnlistener_disable(tcp_listener);
    if (unix_listener)
        evconnlistener_disable(unix_listener);
    probe_stop(db_probe);
    lmtp_session_close_all();
}

static void thread_end(void)
{
    db_close_thread();
}

int main(void)
{
    log_init("lmtp-store");
    if (config_load() != 0)
        return 1;
    settings.hostname = config_str("MAILSTACK_HOSTNAME", "localhost");
    settings.size_limit = (unsigned long long)config_size("MAILSTACK_MESSAGE_SIZE_LIMIT", 20971520);
    settings.header_limit = (size_t)config_size("MAILSTACK_HEADER_SIZE_LIMIT", 102400);
    settings.bare_lf_reject = config_bool("MAILSTACK_LMTP_REJECT_BARE_LF", 0);
    settings.recipient_limit = (int)config_long("MAILSTACK_RECIPIENT_LIMIT", 1000);
    settings.command_timeout_s = (int)config_long("MAILSTACK_COMMAND_TIME_LIMIT", 300);
    if (auth_setup() != 0)
        return 1;

    struct event_base *base = net_base_new();
    control_t *control = control_start(base, "lmtp-store", NULL,
                                       config_port("MAILSTACK_LMTP_STORE_CONTROL_PORT", 8024));
    if (!control)
        return 1;
    workers = workq_create(base, (int)config_long("MAILSTACK_LMTP_WORKERS", 4));
    workq_on_thread_exit(workers, thread_end);
    settings.workers = workers;
    tcp_listener = net_listen_tcp(base, NULL, config_port("MAILSTACK_LMTP_PORT", 24), NULL,
                                  on_accept, NULL);
    if (!tcp_listener)
        return 1;
    const char *sock = config_str("MAILSTACK_LMTP_SOCKET", NULL);
    if (sock && !(unix_listener = net_listen_unix(base, sock, on_accept, &unix_socket_marker)))
        return 1;
    control_set_ready(control, ready, NULL);
    control_set_status(control, status, NULL);
    metrics_describe("lmtp_deliveries_total", "counter", "Recipients delivered or deferred.");
    metrics_describe("lmtp_sessions", "gauge", "LMTP sessions open now.");
    metrics_describe("lmtp_connections_total", "counter", "LMTP connections accepted.");
    metrics_describe("lmtp_auth_total", "counter", "LMTP AUTH exchanges by result.");
    db_probe = probe_start(base, workers, &(struct probe_spec){
        .up_event = "db.up", .down_event = "db.down", .interval_ms = 5000, .check = db_answers});
    if (!db_probe)
        return 1;
    net_on_shutdown(base, on_stop, NULL, (int)config_long("MAILSTACK_SHUTDOWN_GRACE_MS", 10000));
    net_shutdown_when_idle(busy, NULL);
    log_emit(LOG_INFO, "service.started", NULL);
    event_base_dispatch(base);
    workq_destroy(workers);
    probe_free(db_probe); /* after the queue: a check may have been in flight */
    if (tcp_listener)
        net_listener_free(tcp_listener);
    if (unix_listener)
        net_listener_free(unix_listener);
    control_stop(control);
    event_base_free(base);
    if (settings.sasl)
        saslauth_done();
    if (settings.tls)
        SSL_CTX_free(settings.tls);
    cidr_free(trusted);
    log_emit(LOG_INFO, "service.stopped", NULL);
    return 0;
}
