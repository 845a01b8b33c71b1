/* envelope_test: CUnit tests for ENVELOPE from a header — display names (quoted, with
 * commas, raw UTF-8 as a literal), comments, groups, defaults for Sender/Reply-To. */
#include "envelope.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

static char *build(pool_t *pool, const char *hdr, size_t *n)
{
    return envelope_build(pool, (const unsigned char *)hdr, strlen(hdr), n);
}

static void test_simple(void)
{
    pool_t *pool = pool_create(0);
    size_t n;
    char *e = build(pool,
                    "Date: Mon, 7 May 2001 04:20:24 +0900\r\n"
                    "From: hurd <hurd@sds.co.kr>\r\n"
                    "To: \"Doe, John\" <john@example.test>, jane@example.test (Jane)\r\n"
                    "Subject: Test!!\r\n"
                    "Message-ID: <1@x>\r\n\r\n", &n);
    CU_ASSERT_EQUAL(n, strlen(e));
    CU_ASSERT_STRING_EQUAL(
        e, "(\"Mon, 7 May 2001 04:20:24 +0900\" \"Test!!\" "
           "((\"hurd\" NIL \"hurd\" \"sds.co.kr\")) ((\"hurd\" NIL \"hurd\" \"sds.co.kr\")) "
           "((\"hurd\" NIL \"hurd\" \"sds.co.kr\")) "
           "((\"Doe, John\" NIL \"john\" \"example.test\")(\"Jane\" NIL \"jane\" \"example.test\")) "
           "NIL NIL NIL \"<1@x>\")");
    pool_destroy(pool);
}

static void test_groups_and_missing(void)
{
    pool_t *pool = pool_create(0);
    size_t n;
    char *e = build(pool, "To: undisclosed-recipients:;\r\nCc: team: a@x, b@y;\r\n\r\n", &n);
    CU_ASSERT_STRING_EQUAL(
        e, "(NIL NIL NIL NIL NIL "
           "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
           "((NIL NIL \"team\" NIL)(NIL NIL \"a\" \"x\")(NIL NIL \"b\" \"y\")(NIL NIL NIL NIL)) "
           "NIL NIL NIL)");
    e = build(pool, "", &n);
    CU_ASSERT_STRING_EQUAL(e, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    pool_destroy(pool);
}

static void test_8bit_is_literal(void)
{
    pool_t *pool = pool_create(0);
    size_t n;
    const char *name = "\xec\xb5\x9c\xec\x98\x81\xeb\xb4\x89"; /* 최영봉 */
    char hdr[200];
    snprintf(hdr, sizeof(hdr), "From: %s <foo@example.test>\r\nSender: s@example.test\r\n\r\n", name);
    char *e = build(pool, hdr, &n);
    char want[300];
    snprintf(want, sizeof(want),
             "(NIL NIL (({9}\r\n%s NIL \"foo\" \"example.test\")) "
             "((NIL NIL \"s\" \"example.test\")) (({9}\r\n%s NIL \"foo\" \"example.test\")) "
             "NIL NIL NIL NIL NIL)", name, name);
    CU_ASSERT_EQUAL(n, strlen(want));
    CU_ASSERT_STRING_EQUAL(e, want);
    pool_destroy(pool);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"simple header", test_simple},
        {"groups and missing fields", test_groups_and_missing},
        {"8-bit names as literals", test_8bit_is_literal},
        {NULL, NULL},
    };
    return testkit_run("envelope", cases);
}
