/* pool_test: CUnit tests for the arena allocator (alignment, big blocks, clear, printf). */
#include "pool/pool.h"

#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdint.h>
#include <string.h>

static void test_alignment_and_copy(void)
{
    pool_t *p = pool_create(256);
    for (int i = 1; i < 100; i++) {
        void *a = pool_alloc(p, (size_t)i);
        CU_ASSERT_EQUAL(((uintptr_t)a) % 16, 0);
        memset(a, 0xab, (size_t)i);
    }
    char *s = pool_strdup(p, "hurd@example.test");
    CU_ASSERT_STRING_EQUAL(s, "hurd@example.test");
    CU_ASSERT_PTR_NULL(pool_strdup(p, NULL));
    char *n = pool_strndup(p, "abcdef", 3);
    CU_ASSERT_STRING_EQUAL(n, "abc");
    pool_destroy(p);
}

static void test_big_blocks_and_clear(void)
{
    pool_t *p = pool_create(128);
    char *big = pool_alloc(p, 100000);
    memset(big, 'x', 100000);
    char *small = pool_strdup(p, "still here");
    CU_ASSERT_STRING_EQUAL(small, "still here");
    CU_ASSERT(pool_used(p) >= 100000);
    pool_clear(p);
    CU_ASSERT_EQUAL(pool_used(p), 0);
    char *again = pool_zalloc(p, 64);
    for (int i = 0; i < 64; i++)
        CU_ASSERT_EQUAL(again[i], 0);
    pool_destroy(p);
}

static void test_printf(void)
{
    pool_t *p = pool_create(0);
    char *s = pool_printf(p, "%s=%d", "uid", 1005);
    CU_ASSERT_STRING_EQUAL(s, "uid=1005");
    char longbuf[20000];
    memset(longbuf, 'k', sizeof(longbuf) - 1);
    longbuf[sizeof(longbuf) - 1] = 0;
    char *l = pool_printf(p, "<%s>", longbuf);
    CU_ASSERT_EQUAL(strlen(l), sizeof(longbuf) + 1);
    pool_destroy(p);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"alignment and copies", test_alignment_and_copy},
        {"big blocks and clear", test_big_blocks_and_clear},
        {"printf", test_printf},
        {NULL, NULL},
    };
    return testkit_run("pool", cases);
}
