/* control_test: the control API over real HTTP (jsonhttp as the client, from a worker):
 * health, readiness with a reason, metrics text, status, a JSON route and errors. */
#include "control/control.h"
#include "jsonhttp/jsonhttp.h"
#include "log/log.h"
#include "net/net.h"
#include "workq/workq.h"

#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

static struct event_base *base;
static int port;
static int ready_flag;

static int ready_cb(void *arg, char *reason, size_t len)
{
    (void)arg;
    if (ready_flag == 0)
        snprintf(reason, len, "ldap unreachable");
    if (ready_flag == 2)
        snprintf(reason, len, "serving the mirror");
    return ready_flag == 0 ? CONTROL_NOT_READY : ready_flag == 1 ? CONTROL_READY : CONTROL_DEGRADED;
}

static void status_cb(void *arg, json_t *st)
{
    (void)arg;
    json_object_set_new(st, "mirror_entries", json_integer(2));
}

static void echo_route(struct evhttp_request *req, void *arg)
{
    (void)arg;
    json_t *body = control_request_json(req);
    if (!body) {
        control_reply_error(req, 400, "bad_request", "body must be a JSON object");
        return;
    }
    char *who = control_query_param(req, "who");
    json_object_set_new(body, "who", who ? json_string(who) : json_null());
    free(who);
    control_reply_json(req, 200, body);
}

struct results {
    long healthz, readyz_down, readyz_up, readyz_degraded, metrics, status, echo, echo_bad, missing;
    char reason[64], degraded_status[32];
    char metrics_text_has_help, metrics_value_ok;
    json_int_t mirror_entries;
    char who[64];
};
static struct results res;

static char url_buf[256];
static const char *url(const char *path)
{
    snprintf(url_buf, sizeof(url_buf), "http://127.0.0.1:%d%s", port, path);
    return url_buf;
}

static void client_work(void *arg)
{
    (void)arg;
    jsonhttp_result_t r;
    jsonhttp_get(url("/healthz"), 2000, &r);
    res.healthz = r.status;
    jsonhttp_result_free(&r);
    jsonhttp_get(url("/readyz"), 2000, &r);
    res.readyz_down = r.status;
    if (r.body && json_string_value(json_object_get(r.body, "reason")))
        snprintf(res.reason, sizeof(res.reason), "%s",
                 json_string_value(json_object_get(r.body, "reason")));
    jsonhttp_result_free(&r);
    __atomic_store_n(&ready_flag, 1, __ATOMIC_SEQ_CST);
    jsonhttp_get(url("/readyz"), 2000, &r);
    res.readyz_up = r.status;
    jsonhttp_result_free(&r);
    __atomic_store_n(&ready_flag, 2, __ATOMIC_SEQ_CST);
    jsonhttp_get(url("/readyz"), 2000, &r);
    res.readyz_degraded = r.status;
    if (r.body && json_string_value(json_object_get(r.body, "status")))
        snprintf(res.degraded_status, sizeof(res.degraded_status), "%s",
                 json_string_value(json_object_get(r.body, "status")));
    jsonhttp_result_free(&r);
    jsonhttp_get(url("/v1/status"), 2000, &r);
    res.status = r.status;
    res.mirror_entries = json_integer_value(json_object_get(r.body, "mirror_entries"));
    jsonhttp_result_free(&r);
    json_t *body = json_pack("{s:s}", "address", "hurd@example.test");
    jsonhttp_post(url("/v1/echo?who=h%C3%BCrd"), body, 2000, &r);
    res.echo = r.status;
    if (r.body && json_string_value(json_object_get(r.body, "who")))
        snprintf(res.who, sizeof(res.who), "%s", json_string_value(json_object_get(r.body, "who")));
    jsonhttp_result_free(&r);
    json_decref(body);
    body = json_string("not an object");
    jsonhttp_post(url("/v1/echo"), body, 2000, &r);
    res.echo_bad = r.status;
    jsonhttp_result_free(&r);
    json_decref(body);
    jsonhttp_get(url("/nope"), 2000, &r);
    res.missing = r.status;
    jsonhttp_result_free(&r);
    jsonhttp_get(url("/metrics"), 2000, &r);
    res.metrics = r.status;
    jsonhttp_result_free(&r);
}

static void client_done(void *arg)
{
    (void)arg;
    event_base_loopbreak(base);
}

static void test_control_api(void)
{
    base = net_base_new();
    port = testkit_free_port();
    control_t *c = control_start(base, "control_test", "127.0.0.1", port);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    control_set_ready(c, ready_cb, NULL);
    control_set_status(c, status_cb, NULL);
    control_route(c, "/v1/echo", echo_route, NULL);
    workq_t *q = workq_create(base, 1);
    workq_submit(q, client_work, client_done, NULL);
    struct timeval tv = {10, 0};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    CU_ASSERT_EQUAL(res.healthz, 200);
    CU_ASSERT_EQUAL(res.readyz_down, 503);
    CU_ASSERT_STRING_EQUAL(res.reason, "ldap unreachable");
    CU_ASSERT_EQUAL(res.readyz_up, 200);
    CU_ASSERT_EQUAL(res.readyz_degraded, 200);
    CU_ASSERT_STRING_EQUAL(res.degraded_status, "degraded");
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_EQUAL(res.mirror_entries, 2);
    CU_ASSERT_EQUAL(res.echo, 200);
    CU_ASSERT_STRING_EQUAL(res.who, "h\xc3\xbcrd");
    CU_ASSERT_EQUAL(res.echo_bad, 400);
    CU_ASSERT_EQUAL(res.missing, 404);
    CU_ASSERT_EQUAL(res.metrics, 200);
    workq_destroy(q);
    control_stop(c);
    event_base_free(base);
}

static void test_metrics_registry(void)
{
    metrics_describe("smtp_messages_total", "counter", "Messages by result.");
    metrics_add("smtp_messages_total{result=\"accepted\"}", 1);
    metrics_add("smtp_messages_total{result=\"accepted\"}", 2);
    metrics_set("queue_size", 7);
    metrics_set("queue_size", 5);
    CU_ASSERT_DOUBLE_EQUAL(metrics_get("smtp_messages_total{result=\"accepted\"}"), 3, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(metrics_get("queue_size"), 5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(metrics_get("never_set"), 0, 1e-9);
}

int main(void)
{
    log_init("control_test");
    log_set_level(LOG_ERROR);
    static const testkit_case_t cases[] = {
        {"metrics registry", test_metrics_registry},
        {"control API over HTTP", test_control_api},
        {NULL, NULL},
    };
    return testkit_run("control", cases);
}
