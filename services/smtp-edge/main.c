/* smtp-edge: the inbound ESMTP server (the seed's Postfix smtpd for our domains). Accepts
 * mail for MAILSTACK_DOMAIN(S) only — never an open relay — resolving recipients through
 * directory-sync and handing messages to the LMTP stores before answering DATA. Serves the
 * control API; /readyz says "degraded" while the directory does not answer (mail is then
 * refused with 451 at RCPT, so clients retry). SIGTERM stops accepting and lets sessions
 * finish their transaction. */
#include "config/config.h"
#include "control/control.h"
#include "jsonhttp/jsonhttp.h"
#include "log/log.h"
#include "net/net.h"
#include "probe/probe.h"
#include "smtp_session.h"
#include "workq/workq.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static struct smtp_settings settings;
static workq_t *workers;
static struct evconnlistener *listener;
static probe_t *directory_probe;

static void on_accept(struct bufferevent *bev, const char *peer, int is_loopback, void *arg)
{
    (void)is_loopback;
    (void)arg;
    smtp_session_start(&settings, bev, peer);
}

static int directory_answers(void *arg)
{
    (void)arg;
    char url[1024];
    snprintf(url, sizeof(url), "%s/readyz", settings.directory_url);
    jsonhttp_result_t r;
    int ok = jsonhttp_get(url, settings.lookup_timeout_ms, &r) == 0 && r.status == 200;
    jsonhttp_result_free(&r);
    return ok;
}

static int ready(void *arg, char *reason, size_t len)
{
    (void)arg;
    if (probe_ok(directory_probe))
        return CONTROL_READY;
    snprintf(reason, len, "directory unreachable");
    return CONTROL_DEGRADED;
}

static void status(void *arg, json_t *st)
{
    (void)arg;
    json_object_set_new(st, "sessions", json_integer(smtp_session_count()));
    json_object_set_new(st, "directory", json_boolean(probe_ok(directory_probe)));
    json_object_set_new(st, "starttls", json_boolean(settings.tls != NULL));
}

static int busy(void *arg)
{
    (void)arg;
    return smtp_session_count() > 0 || workq_pending(workers) > 0;
}

static void on_stop(void *arg)
{
    (void)arg;
    if (listener)
        evconnlistener_disable(listener);
    probe_stop(directory_probe);
    smtp_session_close_all();
}

static void describe_metrics(void)
{
    metrics_describe("smtp_sessions", "gauge", "SMTP sessions open now.");
    metrics_describe("smtp_connections_total", "counter", "SMTP connections accepted.");
    metrics_describe("smtp_recipients_total", "counter", "RCPT commands by result.");
    metrics_describe("smtp_messages_total", "counter", "Messages by final reply.");
    metrics_describe("smtp_directory_up", "gauge", "1 when directory-sync answered the last check.");
}

int main(void)
{
    log_init("smtp-edge");
    if (config_load() != 0)
        return 1;
    static char host[256];
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "localhost");
    settings.hostname = config_str("MAILSTACK_HOSTNAME", host);
    settings.directory_url = config_str("MAILSTACK_DIRECTORY_URL", "http://127.0.0.1:8389");
    settings.lookup_timeout_ms = config_long("MAILSTACK_LOOKUP_TIMEOUT_MS", 5000);
    settings.size_limit = (size_t)config_size("MAILSTACK_MESSAGE_SIZE_LIMIT", 20971520);
    settings.header_limit = (size_t)config_size("MAILSTACK_HEADER_SIZE_LIMIT", 102400);
    long rcpts = config_long("MAILSTACK_RECIPIENT_LIMIT", 1000);
    settings.recipient_limit = rcpts > 0 ? (size_t)rcpts : 1000;
    long idle = config_long("MAILSTACK_COMMAND_TIME_LIMIT", 300);
    settings.idle_timeout_s = idle > 0 ? (int)idle : 300;
    settings.bare_lf_reject = config_bool("MAILSTACK_SMTP_REJECT_BARE_LF", 0);
    long errors = config_long("MAILSTACK_SMTP_ERROR_LIMIT", 20);
    settings.error_limit = errors > 0 ? (int)errors : 20;
    settings.relay.lhlo_name = settings.hostname;
    settings.relay.transports = config_str("MAILSTACK_LMTP_TRANSPORTS", "");
    settings.relay.default_port = config_port("MAILSTACK_LMTP_DEFAULT_PORT", 24);
    settings.relay.timeout_ms = (int)config_long("MAILSTACK_LMTP_TIMEOUT_MS", 120000);
    const char *cert = config_str("MAILSTACK_TLS_CERT", NULL);
    if (cert && !(settings.tls = net_tls_server_ctx(cert, config_str("MAILSTACK_TLS_KEY", NULL))))
        return 1;

    struct event_base *base = net_base_new();
    control_t *control = control_start(base, "smtp-edge", NULL,
                                       config_port("MAILSTACK_SMTP_EDGE_CONTROL_PORT", 8025));
    if (!control)
        return 1;
    /* Deliveries hold a worker for a whole LMTP transaction: keep enough for lookups. */
    workers = workq_create(base, (int)config_long("MAILSTACK_SMTP_WORKERS", 16));
    settings.workers = workers;
    listener = net_listen_tcp(base, NULL, config_port("MAILSTACK_SMTP_PORT", 25), NULL,
                              on_accept, NULL);
    if (!listener)
        return 1;
    control_set_ready(control, ready, NULL);
    control_set_status(control, status, NULL);
    describe_metrics();
    directory_probe = probe_start(base, workers, &(struct probe_spec){
        .up_event = "smtp.directory_up", .down_event = "smtp.directory_down",
        .gauge = "smtp_directory_up", .interval_ms = 5000, .check = directory_answers});
    if (!directory_probe)
        return 1;
    net_on_shutdown(base, on_stop, NULL, (int)config_long("MAILSTACK_SHUTDOWN_GRACE_MS", 10000));
    net_shutdown_when_idle(busy, NULL);
    log_emit(LOG_INFO, "service.started", "hostname", settings.hostname, NULL);
    event_base_dispatch(base);
    workq_destroy(workers);
    probe_free(directory_probe); /* after the queue: a check may have been in flight */
    net_listener_free(listener);
    control_stop(control);
    event_base_free(base);
    if (settings.tls)
        SSL_CTX_free(settings.tls);
    log_emit(LOG_INFO, "service.stopped", NULL);
    return 0;
}
