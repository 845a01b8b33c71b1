/* quota_test: limit edges (exactly at the limit, a byte or a message over), unlimited
 * resources, the quotawarn threshold and RFC 9208 KiB rounding. */
#include "quota.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <limits.h>

static void test_storage_edges(void)
{
    struct quota q = {.storage_limit_kb = 10, .message_limit = -1, .storage_used = 10000};
    CU_ASSERT_TRUE(quota_fits(&q, 10240 - 10000, 1));  /* exactly at the limit */
    CU_ASSERT_FALSE(quota_fits(&q, 10240 - 10000 + 1, 1)); /* one byte over */
    CU_ASSERT_TRUE(quota_fits(&q, 0, 1000000));
    q.storage_used = 10240;
    CU_ASSERT_FALSE(quota_fits(&q, 1, 1));
    CU_ASSERT_TRUE(quota_fits(&q, 0, 1));
    struct quota zero = {.storage_limit_kb = 0, .message_limit = -1};
    CU_ASSERT_FALSE(quota_fits(&zero, 1, 1));
}

static void test_message_count_edges(void)
{
    struct quota q = {.storage_limit_kb = -1, .message_limit = 3, .messages_used = 2};
    CU_ASSERT_TRUE(quota_fits(&q, 1 << 30, 1));
    CU_ASSERT_FALSE(quota_fits(&q, 1, 2));
    q.messages_used = 3;
    CU_ASSERT_FALSE(quota_fits(&q, 1, 1));
}

static void test_unlimited_and_huge(void)
{
    struct quota q = {.storage_limit_kb = -1, .message_limit = -1, .storage_used = LLONG_MAX - 5,
                      .messages_used = LLONG_MAX - 1};
    CU_ASSERT_TRUE(quota_fits(&q, 1 << 20, 1));
    CU_ASSERT_FALSE(quota_above(&q, 80));
    struct quota big = {.storage_limit_kb = LLONG_MAX / 512, .message_limit = LLONG_MAX};
    CU_ASSERT_TRUE(quota_fits(&big, LLONG_MAX / 2, 5));
    big.messages_used = LLONG_MAX - 1;
    CU_ASSERT_FALSE(quota_fits(&big, 1, 2));
    CU_ASSERT_TRUE(quota_above(&big, 80));
}

static void test_warn_threshold(void)
{
    struct quota q = {.storage_limit_kb = 100, .message_limit = -1};
    q.storage_used = 81920 - 1;
    CU_ASSERT_FALSE(quota_above(&q, 80));
    q.storage_used = 81920;
    CU_ASSERT_TRUE(quota_above(&q, 80));
    struct quota m = {.storage_limit_kb = -1, .message_limit = 10, .messages_used = 7};
    CU_ASSERT_FALSE(quota_above(&m, 80));
    m.messages_used = 8;
    CU_ASSERT_TRUE(quota_above(&m, 80));
    struct quota zero = {.storage_limit_kb = 0, .message_limit = -1};
    CU_ASSERT_TRUE(quota_above(&zero, 80));
}

static void test_storage_kb_rounds_up(void)
{
    struct quota q = {0};
    CU_ASSERT_EQUAL(quota_storage_kb(&q), 0);
    q.storage_used = 1;
    CU_ASSERT_EQUAL(quota_storage_kb(&q), 1);
    q.storage_used = 1024;
    CU_ASSERT_EQUAL(quota_storage_kb(&q), 1);
    q.storage_used = 1025;
    CU_ASSERT_EQUAL(quota_storage_kb(&q), 2);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"storage limit edges", test_storage_edges},
        {"message count edges", test_message_count_edges},
        {"unlimited and huge values", test_unlimited_and_huge},
        {"quotawarn threshold", test_warn_threshold},
        {"STORAGE usage rounds up to KiB", test_storage_kb_rounds_up},
        {NULL, NULL},
    };
    return testkit_run("quota", cases);
}
