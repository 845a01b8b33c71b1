/* log_test: every line is one valid JSON object, whatever bytes a client sent. */
#include "log/log.h"

#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char captured[8192];

/* Runs fn with stdout redirected to a temp file, then reads what it wrote. */
static void capture(void (*fn)(void))
{
    char path[] = "/tmp/mailstack-log-XXXXXX";
    int fd = mkstemp(path);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    fn();
    dup2(saved, STDOUT_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, captured, sizeof(captured) - 1);
    captured[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
}

static void emit_hostile(void)
{
    log_emit(LOG_WARN, "smtp.bad_command", "line", "MAIL FROM:<\"a\\\"b\">\r\n\x01",
             "helo", "\xff\xfe bad utf8", "none", NULL, NULL);
    log_emit(LOG_DEBUG, "hidden", "k", "v", NULL);
}

static void test_hostile_values(void)
{
    log_init("log_test");
    log_set_level(LOG_INFO);
    capture(emit_hostile);
    CU_ASSERT_EQUAL(strchr(captured, '\n') - captured + 1, (long)strlen(captured));
    json_error_t err;
    json_t *j = json_loads(captured, 0, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "service")), "log_test");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "level")), "warn");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "event")), "smtp.bad_command");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "line")),
                           "MAIL FROM:<\"a\\\"b\">\r\n\x01");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "helo")), "?? bad utf8");
    CU_ASSERT(json_is_null(json_object_get(j, "none")));
    CU_ASSERT_PTR_NOT_NULL(json_object_get(j, "time"));
    json_decref(j);
}

static void emit_msg(void)
{
    log_msg(LOG_ERROR, "db.failed", "%d rows, %s", 3, "then gave up");
}

static void test_msg(void)
{
    capture(emit_msg);
    json_t *j = json_loads(captured, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "msg")), "3 rows, then gave up");
    json_decref(j);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"hostile values stay one JSON line", test_hostile_values},
        {"formatted message", test_msg},
        {NULL, NULL},
    };
    return testkit_run("log", cases);
}
