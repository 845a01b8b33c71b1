/* auth_api: POST /v1/auth {username, password, service, remote_ip} → 200 {account, dn},
 * 400 malformed, 401 bad credentials, 429 locked out (Retry-After), 503 LDAP unreachable
 * (a temporary failure the protocols report as such, never as a wrong password).
 *
 * Only our services may ask: a request without `Authorization: Bearer <secret>`
 * (MAILSTACK_AUTH_SECRET, compared in constant time) gets 401 "unauthorized_client" and
 * is logged without the value. The LDAP work runs on a worker; every wait — a brute-force
 * penalty before the check, the failure floor after it — is a timer on the loop, so
 * neither the loop nor a worker sleeps. Every failure is answered no sooner than
 * MAILSTACK_AUTH_FAILURE_DELAY_MS after its check began: an unknown user and a wrong
 * password get the same status, the same body and the same timing. */
#include "auth_api.h"
#include "auth_check.h"
#include "config/config.h"
#include "lockout.h"
#include "log/log.h"

#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define AUTH_MAX_FIELD 1024
#define AUTH_MIN_SECRET 16

enum auth_call_state {
    AUTH_CALL_WAITING,   /* a penalty timer runs before the check */
    AUTH_CALL_CHECKING,  /* on a worker */
    AUTH_CALL_ANSWERING  /* a failure waits for its floor */
};

struct auth_call {
    struct auth_call *prev, *next;
    struct evhttp_request *req;
    struct event *timer;
    enum auth_call_state state;
    long started_ms;
    struct auth_request ar;
};

static struct {
    struct event_base *base;
    workq_t *workers;
    lockout_t *lockout;
    unsigned char secret_sha[CONTROL_DIGEST_LEN];
    long failure_floor_ms;
    struct auth_call *calls;
    size_t ncalls;
    int stopping;
} auth_api;

static long auth_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void auth_call_free(struct auth_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        auth_api.calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    auth_api.ncalls--;
    if (c->timer)
        event_free(c->timer);
    explicit_bzero((char *)c->ar.password, strlen(c->ar.password));
    pool_destroy(c->ar.pool);
}

static void auth_reply_failed(struct auth_call *c)
{
    control_reply_error(c->req, 401, "invalid_credentials", "invalid credentials");
    auth_call_free(c);
}

static void auth_reply_shutting_down(struct evhttp_request *req)
{
    control_reply_error(req, 503, "shutting_down", "service is shutting down");
}

static void auth_call_after(struct auth_call *c, long ms, event_callback_fn fn)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    c->timer = evtimer_new(auth_api.base, fn, c);
    evtimer_add(c->timer, &tv);
}

static void auth_call_floor_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    auth_reply_failed(arg);
}

static void auth_call_work(void *arg)
{
    struct auth_call *c = arg;
    auth_check(&c->ar);
}

static void auth_call_done(void *arg)
{
    struct auth_call *c = arg;
    struct auth_request *r = &c->ar;
    long now = auth_now_ms();
    switch (r->result) {
    case AUTH_OK:
        lockout_success(auth_api.lockout, r->username, r->remote_ip, now);
        metrics_add("auth_requests_total{result=\"ok\"}", 1);
        log_emit(LOG_INFO, "auth.ok", "user", r->username, "account", r->account, "protocol",
                 r->service, "client", r->remote_ip, NULL);
        control_reply_json(c->req, 200,
                           json_pack("{s:s,s:s}", "account", r->account, "dn", r->dn));
        auth_call_free(c);
        return;
    case AUTH_UNAVAILABLE:
        metrics_add("auth_requests_total{result=\"unavailable\"}", 1);
        log_emit(LOG_WARN, "auth.unavailable", "user", r->username, "protocol", r->service,
                 "client", r->remote_ip, "reason", r->reason, NULL);
        control_reply_error(c->req, 503, "ldap_unavailable", "directory temporarily unavailable");
        auth_call_free(c);
        return;
    case AUTH_FAILED:
        break;
    }
    lockout_failure(auth_api.lockout, r->username, r->remote_ip, now);
    metrics_set("auth_lockout_keys", (double)lockout_entries(auth_api.lockout));
    metrics_add("auth_requests_total{result=\"failed\"}", 1);
    log_emit(LOG_INFO, "auth.failed", "user", r->username, "protocol", r->service, "client",
             r->remote_ip, "reason", r->reason, NULL);
    long wait = auth_api.failure_floor_ms - (now - c->started_ms);
    if (wait <= 0 || auth_api.stopping) {
        auth_reply_failed(c);
        return;
    }
    c->state = AUTH_CALL_ANSWERING;
    auth_call_after(c, wait, auth_call_floor_done);
}

static void auth_call_submit(struct auth_call *c)
{
    c->state = AUTH_CALL_CHECKING;
    c->started_ms = auth_now_ms();
    if (workq_submit(auth_api.workers, auth_call_work, auth_call_done, c) != 0) {
        auth_reply_shutting_down(c->req);
        auth_call_free(c);
    }
}

static void auth_call_penalty_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct auth_call *c = arg;
    event_free(c->timer);
    c->timer = NULL;
    auth_call_submit(c);
}

/* A required string field: present, a string, not too long, no NUL. */
static const char *auth_field(json_t *body, const char *key, int required)
{
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v))
        return required ? NULL : "";
    if (!json_is_string(v) || json_string_length(v) > AUTH_MAX_FIELD ||
        strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

static int auth_client_allowed(struct evhttp_request *req, const char **why)
{
    return control_bearer_matches(req, auth_api.secret_sha, why);
}

static void auth_refuse_client(struct evhttp_request *req, const char *why)
{
    char *addr = NULL;
    ev_uint16_t port = 0;
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (conn)
        evhttp_connection_get_peer(conn, &addr, &port);
    metrics_add("auth_requests_total{result=\"unauthorized_client\"}", 1);
    log_emit(LOG_WARN, "auth.unauthorized_client", "peer", addr, "reason", why, NULL);
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                      "Bearer realm=\"mailstack-auth\"");
    control_reply_error(req, 401, "unauthorized_client", "missing or wrong service secret");
}

static void auth_refuse_locked(struct evhttp_request *req, const char *user, const char *service,
                               const char *ip, long retry_after_ms)
{
    char retry[32];
    snprintf(retry, sizeof(retry), "%ld", (retry_after_ms + 999) / 1000);
    metrics_add("auth_requests_total{result=\"locked\"}", 1);
    log_emit(LOG_WARN, "auth.locked", "user", user, "protocol", service, "client", ip,
             "retry_after_s", retry, NULL);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", retry);
    control_reply_error(req, 429, "too_many_failures",
                        "too many failed attempts; try again later");
}

static void auth_handle(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const char *why;
    if (!auth_client_allowed(req, &why)) {
        auth_refuse_client(req, why);
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        control_reply_error(req, 405, "method_not_allowed", "use POST");
        return;
    }
    if (auth_api.stopping) {
        auth_reply_shutting_down(req);
        return;
    }
    json_t *body = control_request_json(req);
    const char *user = body ? auth_field(body, "username", 1) : NULL;
    const char *pass = body ? auth_field(body, "password", 1) : NULL;
    const char *service = body ? auth_field(body, "service", 0) : NULL;
    const char *ip = body ? auth_field(body, "remote_ip", 0) : NULL;
    if (!user || !pass || !service || !ip || !*user) {
        json_decref(body);
        metrics_add("auth_requests_total{result=\"bad_request\"}", 1);
        log_emit(LOG_INFO, "auth.bad_request", NULL);
        control_reply_error(req, 400, "bad_request",
                            "a JSON object with username and password strings is required");
        return;
    }
    if (!*service)
        service = "unknown";
    struct lockout_verdict v = lockout_check(auth_api.lockout, user, ip, auth_now_ms());
    if (v.locked) {
        auth_refuse_locked(req, user, service, ip, v.retry_after_ms);
        json_decref(body);
        return;
    }
    pool_t *pool = pool_create(0);
    struct auth_call *c = pool_zalloc(pool, sizeof(*c));
    c->req = req;
    c->ar.pool = pool;
    c->ar.username = pool_strdup(pool, user);
    c->ar.password = pool_strdup(pool, pass);
    c->ar.service = pool_strdup(pool, service);
    c->ar.remote_ip = pool_strdup(pool, ip);
    json_decref(body); /* Jansson's copy of the password goes with it */
    c->next = auth_api.calls;
    if (c->next)
        c->next->prev = c;
    auth_api.calls = c;
    auth_api.ncalls++;
    if (v.delay_ms > 0) {
        metrics_add("auth_penalties_total", 1);
        c->state = AUTH_CALL_WAITING;
        auth_call_after(c, v.delay_ms, auth_call_penalty_done);
        return;
    }
    auth_call_submit(c);
}

int auth_api_register(struct event_base *base, control_t *control, workq_t *workers)
{
    const char *secret = config_str("MAILSTACK_AUTH_SECRET", "");
    if (strlen(secret) < AUTH_MIN_SECRET) {
        log_emit(LOG_ERROR, "auth.no_secret", "reason",
                 "MAILSTACK_AUTH_SECRET must be set (16 characters or more)", NULL);
        return -1;
    }
    control_bearer_digest(secret, auth_api.secret_sha);
    struct lockout_settings ls;
    lockout_settings_load(&ls);
    auth_api.lockout = lockout_new(&ls);
    if (!auth_api.lockout)
        return -1;
    auth_api.base = base;
    auth_api.workers = workers;
    auth_api.failure_floor_ms = config_long("MAILSTACK_AUTH_FAILURE_DELAY_MS", 250);
    metrics_describe("auth_requests_total", "counter", "Credential checks by result.");
    metrics_describe("auth_penalties_total", "counter",
                     "Checks held back by a brute-force penalty.");
    metrics_describe("auth_lockout_keys", "gauge",
                     "(user, IP) pairs and IPs with failures on record.");
    control_route(control, "/v1/auth", auth_handle, NULL);
    return 0;
}

size_t auth_api_pending(void)
{
    return auth_api.ncalls;
}

void auth_api_stop(void)
{
    auth_api.stopping = 1;
    for (struct auth_call *c = auth_api.calls, *next; c; c = next) {
        next = c->next;
        if (c->state == AUTH_CALL_WAITING) {
            auth_reply_shutting_down(c->req);
            auth_call_free(c);
        } else if (c->state == AUTH_CALL_ANSWERING) {
            auth_reply_failed(c);
        }
    }
}

void auth_api_free(void)
{
    lockout_free(auth_api.lockout);
    auth_api.lockout = NULL;
}
