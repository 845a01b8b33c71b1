/* control: the control HTTP server behind control.h, on libevent's evhttp. */
#include "control/control.h"
#include "config/config.h"
#include "control/metrics.h"
#include "log/log.h"

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CONTROL_MAX_BODY (64 * 1024)

/* An admin route: the handler behind the token check. */
struct control_admin_route {
    control_t *c;
    control_handler_fn fn;
    void *arg;
    struct control_admin_route *next;
};

struct control {
    struct evhttp *http;
    int admin_enabled;
    unsigned char admin_sha[SHA256_DIGEST_LENGTH];
    struct control_admin_route *admin_routes;
    const char *service;
    time_t started;
    control_ready_fn ready;
    void *ready_arg;
    control_status_fn status;
    void *status_arg;
};

void control_reply_json(struct evhttp_request *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    struct evbuffer *out = evbuffer_new();
    if (text) {
        evbuffer_add(out, text, strlen(text));
        evbuffer_add(out, "\n", 1);
        free(text);
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, status, status < 400 ? "OK" : "Error", out);
    evbuffer_free(out);
}

void control_reply_error(struct evhttp_request *req, int status, const char *code,
                         const char *message)
{
    control_reply_json(req, status,
                       json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

json_t *control_request_json(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len == 0 || len > CONTROL_MAX_BODY)
        return NULL;
    const char *data = (const char *)evbuffer_pullup(in, (ssize_t)len);
    json_error_t err;
    json_t *j = json_loadb(data, len, 0, &err);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

char *control_query_param(struct evhttp_request *req, const char *name)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    /* A decoded NUL would cut the value short unseen ("a@b.test%00x" read as a@b.test):
     * no caller can take one, so such a query has no parameters. */
    if (!query || strstr(query, "%00"))
        return NULL;
    struct evkeyvalq params;
    TAILQ_INIT(&params);
    if (evhttp_parse_query_str(query, &params) != 0) {
        evhttp_clear_headers(&params);
        return NULL;
    }
    const char *v = evhttp_find_header(&params, name);
    char *copy = v ? strdup(v) : NULL;
    evhttp_clear_headers(&params);
    return copy;
}

static int control_only_get(struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET)
        return 1;
    control_reply_error(req, 405, "method_not_allowed", "use GET");
    return 0;
}

static void control_healthz(struct evhttp_request *req, void *arg)
{
    control_t *c = arg;
    if (!control_only_get(req))
        return;
    control_reply_json(req, 200, json_pack("{s:s,s:s}", "status", "ok", "service", c->service));
}

static void control_readyz(struct evhttp_request *req, void *arg)
{
    control_t *c = arg;
    if (!control_only_get(req))
        return;
    char reason[256] = "";
    int ready = c->ready ? c->ready(c->ready_arg, reason, sizeof(reason)) : CONTROL_READY;
    if (ready == CONTROL_READY)
        control_reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
    else if (ready == CONTROL_DEGRADED)
        control_reply_json(req, 200, json_pack("{s:s,s:s}", "status", "degraded", "reason",
                                               reason[0] ? reason : "degraded"));
    else
        control_reply_json(req, 503, json_pack("{s:s,s:s}", "status", "not_ready", "reason",
                                               reason[0] ? reason : "not ready"));
}

static void control_metrics(struct evhttp_request *req, void *arg)
{
    (void)arg;
    if (!control_only_get(req))
        return;
    struct evbuffer *out = evbuffer_new();
    metrics_render(out);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

static void control_status(struct evhttp_request *req, void *arg)
{
    control_t *c = arg;
    if (!control_only_get(req))
        return;
    json_t *st = json_pack("{s:s,s:I}", "service", c->service, "uptime_seconds",
                           (json_int_t)(time(NULL) - c->started));
    if (c->status)
        c->status(c->status_arg, st);
    control_reply_json(req, 200, st);
}

static void control_notfound(struct evhttp_request *req, void *arg)
{
    (void)arg;
    control_reply_error(req, 404, "not_found", "no such endpoint");
}

control_t *control_start(struct event_base *base, const char *service, const char *addr,
                         int port)
{
    if (!addr)
        addr = config_str("MAILSTACK_BIND_ADDR", "127.0.0.1");
    control_t *c = calloc(1, sizeof(*c));
    c->service = service;
    c->started = time(NULL);
    c->http = evhttp_new(base);
    evhttp_set_max_body_size(c->http, CONTROL_MAX_BODY);
    evhttp_set_max_headers_size(c->http, 16 * 1024);
    evhttp_set_timeout(c->http, 30);
    evhttp_set_allowed_methods(c->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
    if (evhttp_bind_socket(c->http, addr, (ev_uint16_t)port) != 0) {
        char p[16];
        snprintf(p, sizeof(p), "%d", port);
        log_emit(LOG_ERROR, "control.listen_failed", "address", addr, "port", p, NULL);
        evhttp_free(c->http);
        free(c);
        return NULL;
    }
    const char *token = config_str("MAILSTACK_ADMIN_TOKEN", "");
    if (strlen(token) >= CONTROL_MIN_TOKEN) {
        control_bearer_digest(token, c->admin_sha);
        c->admin_enabled = 1;
    }
    evhttp_set_cb(c->http, "/healthz", control_healthz, c);
    evhttp_set_cb(c->http, "/readyz", control_readyz, c);
    evhttp_set_cb(c->http, "/metrics", control_metrics, c);
    evhttp_set_cb(c->http, "/v1/status", control_status, c);
    evhttp_set_gencb(c->http, control_notfound, c);
    char p[16];
    snprintf(p, sizeof(p), "%d", port);
    log_emit(LOG_INFO, "control.listening", "address", addr, "port", p, NULL);
    return c;
}

void control_stop(control_t *c)
{
    if (!c)
        return;
    evhttp_free(c->http);
    while (c->admin_routes) {
        struct control_admin_route *r = c->admin_routes;
        c->admin_routes = r->next;
        free(r);
    }
    free(c);
}

void control_set_ready(control_t *c, control_ready_fn fn, void *arg)
{
    c->ready = fn;
    c->ready_arg = arg;
}

void control_set_status(control_t *c, control_status_fn fn, void *arg)
{
    c->status = fn;
    c->status_arg = arg;
}

void control_route(control_t *c, const char *path, control_handler_fn fn, void *arg)
{
    evhttp_set_cb(c->http, path, fn, arg);
}

void control_bearer_digest(const char *secret, unsigned char out[CONTROL_DIGEST_LEN])
{
    SHA256((const unsigned char *)secret, strlen(secret), out);
}

/* Digests are compared in constant time, so neither the secret's bytes nor its length
 * leak through timing. */
int control_bearer_matches(struct evhttp_request *req,
                           const unsigned char want[CONTROL_DIGEST_LEN], const char **why)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        *why = "no bearer token";
        return 0;
    }
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    unsigned char got[CONTROL_DIGEST_LEN];
    control_bearer_digest(token, got);
    if (CRYPTO_memcmp(got, want, CONTROL_DIGEST_LEN) != 0) {
        *why = "wrong bearer token";
        return 0;
    }
    return 1;
}

static void control_admin_gate(struct evhttp_request *req, void *arg)
{
    struct control_admin_route *r = arg;
    const char *why = "admin API disabled (MAILSTACK_ADMIN_TOKEN unset)";
    if (r->c->admin_enabled && control_bearer_matches(req, r->c->admin_sha, &why)) {
        r->fn(req, r->arg);
        return;
    }
    char *addr = NULL;
    ev_uint16_t port = 0;
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (conn)
        evhttp_connection_get_peer(conn, &addr, &port);
    log_emit(LOG_WARN, "control.admin_refused", "peer", addr, "path", evhttp_request_get_uri(req),
             "reason", why, NULL);
    metrics_add("control_admin_refused_total", 1);
    if (!r->c->admin_enabled) {
        control_reply_error(req, 403, "admin_disabled",
                            "the admin API is off: set MAILSTACK_ADMIN_TOKEN");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                      "Bearer realm=\"mailstack-admin\"");
    control_reply_error(req, 401, "unauthorized", "missing or wrong admin token");
}

void control_route_admin(control_t *c, const char *path, control_handler_fn fn, void *arg)
{
    struct control_admin_route *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->c = c;
    r->fn = fn;
    r->arg = arg;
    r->next = c->admin_routes;
    c->admin_routes = r;
    evhttp_set_cb(c->http, path, control_admin_gate, r);
}
