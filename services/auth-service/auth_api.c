/* auth_api: POST /v1/auth {username, password, service, remote_ip} → 200 {account, dn},
 * 400 malformed, 401 bad credentials, 503 LDAP unreachable (a temporary failure the
 * protocols report as such, never as a wrong password). The LDAP work runs on a worker;
 * the HTTP request is answered from the loop thread when it is done. */
#include "auth_api.h"
#include "auth_check.h"
#include "log/log.h"

#include <string.h>

#define AUTH_MAX_FIELD 1024

struct auth_call {
    struct evhttp_request *req;
    struct auth_request ar;
};

static workq_t *auth_workers;

static void auth_call_work(void *arg)
{
    struct auth_call *c = arg;
    auth_check(&c->ar);
}

static void auth_call_done(void *arg)
{
    struct auth_call *c = arg;
    struct auth_request *r = &c->ar;
    switch (r->result) {
    case AUTH_OK:
        metrics_add("auth_requests_total{result=\"ok\"}", 1);
        log_emit(LOG_INFO, "auth.ok", "user", r->username, "account", r->account, "protocol",
                 r->service, "client", r->remote_ip, NULL);
        control_reply_json(c->req, 200, json_pack("{s:s,s:s}", "account", r->account, "dn", r->dn));
        break;
    case AUTH_UNAVAILABLE:
        metrics_add("auth_requests_total{result=\"unavailable\"}", 1);
        log_emit(LOG_WARN, "auth.unavailable", "user", r->username, "protocol", r->service,
                 "client", r->remote_ip, "reason", r->reason, NULL);
        control_reply_error(c->req, 503, "ldap_unavailable", "directory temporarily unavailable");
        break;
    default:
        metrics_add("auth_requests_total{result=\"failed\"}", 1);
        log_emit(LOG_INFO, "auth.failed", "user", r->username, "protocol", r->service, "client",
                 r->remote_ip, "reason", r->reason, NULL);
        control_reply_error(c->req, 401, "invalid_credentials", "invalid credentials");
        break;
    }
    pool_destroy(r->pool);
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

static void auth_handle(struct evhttp_request *req, void *arg)
{
    (void)arg;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        control_reply_error(req, 405, "method_not_allowed", "use POST");
        return;
    }
    json_t *body = control_request_json(req);
    if (!body) {
        control_reply_error(req, 400, "bad_request", "body must be a JSON object");
        return;
    }
    const char *user = auth_field(body, "username", 1);
    const char *pass = auth_field(body, "password", 1);
    const char *service = auth_field(body, "service", 0);
    const char *ip = auth_field(body, "remote_ip", 0);
    if (!user || !pass || !service || !ip || !*user) {
        json_decref(body);
        control_reply_error(req, 400, "bad_request",
                            "username and password are required strings");
        return;
    }
    pool_t *pool = pool_create(0);
    struct auth_call *c = pool_zalloc(pool, sizeof(*c));
    c->req = req;
    c->ar.pool = pool;
    c->ar.username = pool_strdup(pool, user);
    c->ar.password = pool_strdup(pool, pass);
    c->ar.service = pool_strdup(pool, *service ? service : "unknown");
    c->ar.remote_ip = pool_strdup(pool, ip);
    json_decref(body);
    if (workq_submit(auth_workers, auth_call_work, auth_call_done, c) != 0) {
        pool_destroy(pool);
        control_reply_error(req, 503, "shutting_down", "service is shutting down");
    }
}

void auth_api_register(control_t *control, workq_t *workers)
{
    auth_workers = workers;
    metrics_describe("auth_requests_total", "counter", "Credential checks by result.");
    control_route(control, "/v1/auth", auth_handle, NULL);
}
