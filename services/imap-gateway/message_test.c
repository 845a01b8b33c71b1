/* message_test: CUnit tests for header access — where the header ends (CRLF, bare LF,
 * none), HEADER.FIELDS selection with folded lines, and unfolded field values. */
#include "message.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <string.h>

#define MSG(s) (const unsigned char *)(s), strlen(s)

static const char *mail =
    "Return-Path: <foo@example.org>\r\n"
    "Subject: folded\r\n"
    "  across lines\r\n"
    "From: \xec\xb5\x9c\xec\x98\x81\xeb\xb4\x89 <foo@example.test>\r\n"
    "X-Subject: not the subject\r\n"
    "subject: second\r\n"
    "\r\n"
    "Subject: in the body\r\n";

static void test_header_length(void)
{
    size_t hdr = message_header_length(MSG(mail));
    CU_ASSERT_EQUAL(hdr, (size_t)(strstr(mail, "\r\n\r\n") - mail) + 4);
    CU_ASSERT_EQUAL(message_header_length(MSG("A: b\n\nbody\n")), 6);
    const char *no_blank = "A: b\r\nno blank line";
    CU_ASSERT_EQUAL(message_header_length(MSG(no_blank)), strlen(no_blank));
    CU_ASSERT_EQUAL(message_header_length(MSG("\r\nbody only")), 2);
    CU_ASSERT_EQUAL(message_header_length(MSG("")), 0);
}

static void test_header_fields(void)
{
    pool_t *pool = pool_create(0);
    size_t hdr = message_header_length(MSG(mail)), n;
    char *names[] = {"SUBJECT", "from"};
    unsigned char *f = message_header_fields(pool, (const unsigned char *)mail, hdr, names, 2, 0, &n);
    const char *want = "Subject: folded\r\n  across lines\r\n"
                       "From: \xec\xb5\x9c\xec\x98\x81\xeb\xb4\x89 <foo@example.test>\r\n"
                       "subject: second\r\n\r\n";
    CU_ASSERT_EQUAL_FATAL(n, strlen(want));
    CU_ASSERT_EQUAL(memcmp(f, want, n), 0);
    f = message_header_fields(pool, (const unsigned char *)mail, hdr, names, 2, 1, &n);
    want = "Return-Path: <foo@example.org>\r\nX-Subject: not the subject\r\n\r\n";
    CU_ASSERT_EQUAL_FATAL(n, strlen(want));
    CU_ASSERT_EQUAL(memcmp(f, want, n), 0);
    char *none[] = {"Nonexistent"};
    f = message_header_fields(pool, (const unsigned char *)mail, hdr, none, 1, 0, &n);
    CU_ASSERT_EQUAL(n, 2);
    pool_destroy(pool);
}

static void test_header_get(void)
{
    pool_t *pool = pool_create(0);
    size_t hdr = message_header_length(MSG(mail));
    const unsigned char *m = (const unsigned char *)mail;
    CU_ASSERT_STRING_EQUAL(message_header_get(pool, m, hdr, "Subject"), "folded  across lines");
    CU_ASSERT_STRING_EQUAL(message_header_get(pool, m, hdr, "from"),
                           "\xec\xb5\x9c\xec\x98\x81\xeb\xb4\x89 <foo@example.test>");
    CU_ASSERT_PTR_NULL(message_header_get(pool, m, hdr, "Cc"));
    /* The body is not the header. */
    CU_ASSERT_PTR_NULL(message_header_get(pool, m, hdr, "Date"));
    pool_destroy(pool);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"header length", test_header_length},
        {"header fields", test_header_fields},
        {"header field value", test_header_get},
        {NULL, NULL},
    };
    return testkit_run("message", cases);
}
