/* header_test: header fields as delivery reads them - folded values, case, LF-only lines,
 * the end of the header section, 8-bit octets - and the Message-ID taken from them. */
#include "dedup.h"
#include "header.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <string.h>

static pool_t *pool;

static const char *get(const char *msg, const char *name)
{
    size_t n;
    return header_get(pool, msg, strlen(msg), name, &n);
}

static const char *msgid(const char *msg)
{
    size_t n = 0;
    const char *v = dedup_message_id(pool, msg, strlen(msg), &n);
    return v ? pool_strndup(pool, v, n) : NULL;
}

static void test_header_get(void)
{
    pool = pool_create(0);
    const char *m = "Subject: 아싸 테스트\r\nX-Folded: one\r\n two\r\n\tthree  \r\n"
                    "subject : second\r\n\r\nMessage-ID: <body@x>\r\n";
    CU_ASSERT_STRING_EQUAL(get(m, "subject"), "아싸 테스트");
    CU_ASSERT_STRING_EQUAL(get(m, "X-Folded"), "one two\tthree");
    CU_ASSERT_PTR_NULL(get(m, "Message-ID")); /* in the body, not the header */
    CU_ASSERT_PTR_NULL(get(m, "Subjec"));
    CU_ASSERT_STRING_EQUAL(get("A: 1\nB:2\n\nC: 3\n", "b"), "2");
    CU_ASSERT_STRING_EQUAL(get("A:", "a"), "");
    CU_ASSERT_STRING_EQUAL(get("A: x\r\n b", "a"), "x b"); /* no final line break */
    CU_ASSERT_PTR_NULL(get("no colon here\r\n\r\n", "no colon here"));
    pool_destroy(pool);
}

static void test_message_id(void)
{
    pool = pool_create(0);
    CU_ASSERT_STRING_EQUAL(msgid("From: a\r\nMessage-ID: <abc@example.test>\r\n\r\nx"),
                           "<abc@example.test>");
    CU_ASSERT_STRING_EQUAL(msgid("message-id:\r\n  <folded@example.test> (comment)\r\n\r\n"),
                           "<folded@example.test>");
    CU_ASSERT_STRING_EQUAL(msgid("Message-Id: bare-id\r\n\r\n"), "bare-id");
    CU_ASSERT_STRING_EQUAL(msgid("Message-ID: <\xed\x95\x9c@\xb0\xa1>\r\n"), "<\xed\x95\x9c@\xb0\xa1>");
    CU_ASSERT_STRING_EQUAL(msgid("Message-ID: <first@x>\r\nMessage-ID: <second@x>\r\n"),
                           "<first@x>");
    CU_ASSERT_PTR_NULL(msgid("Subject: none\r\n\r\nMessage-ID: <late@x>\r\n"));
    CU_ASSERT_PTR_NULL(msgid("Message-ID:   \r\n\r\n"));
    CU_ASSERT_PTR_NULL(msgid(""));
    char big[1200] = "Message-ID: <";
    memset(big + 13, 'a', 1100);
    strcpy(big + 1113, ">\r\n");
    CU_ASSERT_PTR_NULL(msgid(big));
    pool_destroy(pool);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"header fields: folding, case, end of header", test_header_get},
        {"Message-ID extraction", test_message_id},
        {NULL, NULL},
    };
    return testkit_run("header", cases);
}
