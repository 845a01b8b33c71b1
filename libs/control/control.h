/* control: the HTTP control API every service serves (libevent's evhttp): GET /healthz,
 * GET /readyz, GET /metrics (Prometheus text), GET /v1/status, plus the service's own JSON
 * routes (directory-sync's /v1/lookup, auth-service's /v1/auth). Also the process-wide
 * metrics registry those endpoints render. */
#ifndef MAILSTACK_CONTROL_H
#define MAILSTACK_CONTROL_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stddef.h>

typedef struct control control_t;

/* addr NULL = MAILSTACK_BIND_ADDR or 127.0.0.1. NULL (and logged) on failure. */
control_t *control_start(struct event_base *base, const char *service, const char *addr,
                         int port);
void control_stop(control_t *c);

/* /readyz: the callback returns CONTROL_READY; CONTROL_NOT_READY with a reason (503: do
 * not route traffic here); or CONTROL_DEGRADED with a reason (200 with status "degraded":
 * still serving, e.g. from the mirror while LDAP is down, so a load balancer must keep
 * sending traffic). Runs on the loop thread: answer from state already at hand. */
enum { CONTROL_NOT_READY = 0, CONTROL_READY = 1, CONTROL_DEGRADED = 2 };
typedef int (*control_ready_fn)(void *arg, char *reason, size_t reasonlen);
void control_set_ready(control_t *c, control_ready_fn fn, void *arg);

/* /v1/status: the callback adds fields to the object (uptime and service are built in). */
typedef void (*control_status_fn)(void *arg, json_t *status);
void control_set_status(control_t *c, control_status_fn fn, void *arg);

/* A route: exact path match; the handler must answer the request (now or later, e.g.
 * after workq work) with control_reply_*. */
typedef void (*control_handler_fn)(struct evhttp_request *req, void *arg);
void control_route(control_t *c, const char *path, control_handler_fn fn, void *arg);
/* An admin route (changes the system or shows its data): served only to requests with
 * `Authorization: Bearer <MAILSTACK_ADMIN_TOKEN>` (else 401, logged without the token);
 * while no token of at least CONTROL_MIN_TOKEN characters is set, 403 admin_disabled —
 * the control port may be reachable from the whole cluster, so off is the safe default. */
#define CONTROL_MIN_TOKEN 16
void control_route_admin(control_t *c, const char *path, control_handler_fn fn, void *arg);

/* Shared-secret checks for any route: the secret's SHA-256, and whether a request's
 * `Authorization: Bearer` token has that digest (constant-time; *why set when not). */
#define CONTROL_DIGEST_LEN 32
void control_bearer_digest(const char *secret, unsigned char out[CONTROL_DIGEST_LEN]);
int control_bearer_matches(struct evhttp_request *req,
                           const unsigned char want[CONTROL_DIGEST_LEN], const char **why);

/* Answers `req` with `body` (reference stolen) as application/json. */
void control_reply_json(struct evhttp_request *req, int status, json_t *body);
/* Answers {"error":{"code":code,"message":message}} with the HTTP status. */
void control_reply_error(struct evhttp_request *req, int status, const char *code,
                         const char *message);
/* The request body parsed as a JSON object, or NULL (caller answers 400). Bodies over
 * 64 KiB are refused. New reference. */
json_t *control_request_json(struct evhttp_request *req);
/* A query-string parameter, decoded, malloc'ed (caller frees), or NULL if absent (or if
 * the query holds an encoded NUL, %00). */
char *control_query_param(struct evhttp_request *req, const char *name);

/* Metrics registry: counters and gauges by full Prometheus name, labels included, e.g.
 * metrics_add("smtp_messages_total{result=\"accepted\"}", 1). Thread-safe. */
void metrics_add(const char *name, double delta);
void metrics_set(const char *name, double value);
double metrics_get(const char *name);
/* Declares HELP/TYPE for a metric family ("counter" or "gauge"). */
void metrics_describe(const char *family, const char *type, const char *help);

#endif
