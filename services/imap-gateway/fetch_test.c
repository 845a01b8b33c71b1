/* fetch_test: CUnit tests for FETCH plans (macros, UID, refusals) and the responses they
 * produce for one message: labels, literals byte for byte, partials, implied FLAGS. */
#include "fetch.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <event2/buffer.h>
#include <string.h>

static const char *msg_text = "Return-Path: <a@b>\r\nSubject: \xec\x95\x84\xec\x8b\xb8\r\n"
                              "From: x@y\r\n\r\nbody \xff\x00 bytes\r\n";
#define MSG_LEN 65 /* it holds a NUL byte */

static imapproto_arg_t atom(char *s)
{
    imapproto_arg_t a = {.type = IMAPPROTO_ATOM, .str = s, .len = strlen(s)};
    return a;
}

static const char *plan(pool_t *pool, const char *text, int uid, struct fetch_plan *p)
{
    /* A list argument from '|'-separated items (sections hold spaces). */
    imapproto_arg_t items[8], list = {.type = IMAPPROTO_LIST, .items = items};
    char *copy = pool_strdup(pool, text);
    if (!strchr(copy, '|')) {
        imapproto_arg_t a = atom(copy);
        return fetch_plan_build(pool, &a, uid, p);
    }
    for (char *tok = strtok(copy, "|"); tok; tok = strtok(NULL, "|"))
        items[list.count++] = atom(tok);
    return fetch_plan_build(pool, &list, uid, p);
}

static char *render(pool_t *pool, const struct fetch_plan *p, int seen_changed, size_t *len)
{
    struct mailstore_message m = {.uid = 42, .flags = "\\Seen", .internaldate = 837596665,
                                  .size = MSG_LEN, .data = (unsigned char *)msg_text,
                                  .len = MSG_LEN};
    struct evbuffer *out = evbuffer_new();
    fetch_render(pool, out, p, 7, &m, seen_changed);
    *len = evbuffer_get_length(out);
    char *s = pool_alloc(pool, *len + 1);
    evbuffer_remove(out, s, *len);
    s[*len] = 0;
    evbuffer_free(out);
    return s;
}

static void test_plans(void)
{
    pool_t *pool = pool_create(0);
    struct fetch_plan p;
    CU_ASSERT_PTR_NULL(plan(pool, "FAST", 0, &p));
    CU_ASSERT_EQUAL(p.n, 3);
    CU_ASSERT(!p.need_data);
    CU_ASSERT_PTR_NULL(plan(pool, "all", 1, &p));
    CU_ASSERT_EQUAL(p.n, 5);
    CU_ASSERT_EQUAL(p.items[0].kind, FETCH_UID);
    CU_ASSERT(p.need_data);
    CU_ASSERT(!p.sets_seen);
    CU_ASSERT_PTR_NULL(plan(pool, "FLAGS|UID|BODY.PEEK[HEADER]", 1, &p));
    CU_ASSERT_EQUAL(p.n, 3); /* UID only once */
    CU_ASSERT(!p.sets_seen);
    CU_ASSERT(p.has_flags);
    CU_ASSERT_PTR_NULL(plan(pool, "BODY[]", 0, &p));
    CU_ASSERT(p.sets_seen);
    CU_ASSERT_PTR_NULL(plan(pool, "RFC822.TEXT", 0, &p));
    CU_ASSERT(p.sets_seen);
    CU_ASSERT_PTR_NULL(plan(pool, "RFC822.HEADER", 0, &p));
    CU_ASSERT(!p.sets_seen);
    CU_ASSERT_PTR_NOT_NULL(plan(pool, "BODYSTRUCTURE", 0, &p));
    CU_ASSERT_PTR_NOT_NULL(plan(pool, "BODY[1]", 0, &p));
    CU_ASSERT_PTR_NOT_NULL(plan(pool, "BINARY[1]", 0, &p));
    CU_ASSERT_PTR_NOT_NULL(plan(pool, "FLAGS|FAST", 0, &p));
    CU_ASSERT_PTR_NOT_NULL(plan(pool, "NONSENSE", 0, &p));
    CU_ASSERT_PTR_NOT_NULL(plan(pool, "BODY[HEADER", 0, &p));
    pool_destroy(pool);
}

static void test_render_metadata(void)
{
    pool_t *pool = pool_create(0);
    struct fetch_plan p;
    size_t n;
    plan(pool, "FLAGS|INTERNALDATE|RFC822.SIZE", 1, &p);
    CU_ASSERT_STRING_EQUAL(render(pool, &p, 0, &n),
                           "* 7 FETCH (UID 42 FLAGS (\\Seen) INTERNALDATE "
                           "\"17-Jul-1996 09:44:25 +0000\" RFC822.SIZE 65)\r\n");
    pool_destroy(pool);
}

static void test_render_sections(void)
{
    pool_t *pool = pool_create(0);
    struct fetch_plan p;
    size_t n;
    size_t hdr = (size_t)(strstr(msg_text, "\r\n\r\n") - msg_text) + 4;
    plan(pool, "BODY[]", 0, &p);
    char *s = render(pool, &p, 1, &n);
    const char *head = "* 7 FETCH (BODY[] {65}\r\n";
    CU_ASSERT_EQUAL_FATAL(n, strlen(head) + MSG_LEN + strlen(" FLAGS (\\Seen))\r\n"));
    CU_ASSERT_EQUAL(memcmp(s, head, strlen(head)), 0);
    CU_ASSERT_EQUAL(memcmp(s + strlen(head), msg_text, MSG_LEN), 0);
    CU_ASSERT_EQUAL(memcmp(s + strlen(head) + MSG_LEN, " FLAGS (\\Seen))\r\n", 17), 0);

    plan(pool, "BODY.PEEK[HEADER]|BODY.PEEK[TEXT]", 0, &p);
    s = render(pool, &p, 0, &n);
    char want[256];
    int w = snprintf(want, sizeof(want), "* 7 FETCH (BODY[HEADER] {%zu}\r\n", hdr);
    memcpy(want + w, msg_text, hdr);
    w += (int)hdr;
    w += snprintf(want + w, sizeof(want) - (size_t)w, " BODY[TEXT] {%zu}\r\n", MSG_LEN - hdr);
    memcpy(want + w, msg_text + hdr, MSG_LEN - hdr);
    w += (int)(MSG_LEN - hdr);
    memcpy(want + w, ")\r\n", 3);
    w += 3;
    CU_ASSERT_EQUAL_FATAL(n, (size_t)w);
    CU_ASSERT_EQUAL(memcmp(s, want, n), 0);

    plan(pool, "BODY.PEEK[HEADER.FIELDS (subject \"X Y\")]<1.5>|BODY.PEEK[]<60.100>", 0, &p);
    s = render(pool, &p, 0, &n);
    const char *fields = "* 7 FETCH (BODY[HEADER.FIELDS (subject \"X Y\")]<1> {5}\r\nubjec"
                         " BODY[]<60> {5}\r\ntes\r\n)\r\n";
    CU_ASSERT_EQUAL(n, strlen(fields));
    CU_ASSERT_STRING_EQUAL(s, fields);

    plan(pool, "BODY.PEEK[]<99.5>", 0, &p);
    CU_ASSERT_STRING_EQUAL(render(pool, &p, 0, &n), "* 7 FETCH (BODY[]<99> {0}\r\n)\r\n");
    pool_destroy(pool);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"plans", test_plans},
        {"metadata", test_render_metadata},
        {"sections", test_render_sections},
        {NULL, NULL},
    };
    return testkit_run("fetch", cases);
}
