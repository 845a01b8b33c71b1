/* mboxname_test: CUnit tests for INBOX case folding, LIST wildcards and hierarchy. */
#include "mboxname.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <string.h>
#include <time.h>

static void test_normalize(void)
{
    pool_t *pool = pool_create(0);
    CU_ASSERT_STRING_EQUAL(mboxname_normalize(pool, "inbox"), "INBOX");
    CU_ASSERT_STRING_EQUAL(mboxname_normalize(pool, "InBox.Sent"), "INBOX.Sent");
    CU_ASSERT_STRING_EQUAL(mboxname_normalize(pool, "inboxes"), "inboxes");
    CU_ASSERT_STRING_EQUAL(mboxname_normalize(pool, "Inbox%"), "Inbox%");
    pool_destroy(pool);
}

static void test_match(void)
{
    pool_t *pool = pool_create(0);
    CU_ASSERT(mboxname_match(pool, "*", "INBOX"));
    CU_ASSERT(mboxname_match(pool, "*", "INBOX.OUTBOX.x"));
    CU_ASSERT(mboxname_match(pool, "%", "INBOX"));
    CU_ASSERT(!mboxname_match(pool, "%", "INBOX.OUTBOX"));
    CU_ASSERT(mboxname_match(pool, "INBOX.%", "INBOX.TEMP"));
    CU_ASSERT(!mboxname_match(pool, "INBOX.%", "INBOX"));
    CU_ASSERT(mboxname_match(pool, "INBOX*", "INBOX"));
    CU_ASSERT(mboxname_match(pool, "I*X.T%P", "INBOX.TEMP"));
    CU_ASSERT(!mboxname_match(pool, "INBOX", "INBOX.TEMP"));
    CU_ASSERT(!mboxname_match(pool, "inbox", "INBOX"));
    CU_ASSERT(mboxname_match(pool, "", ""));
    pool_destroy(pool);
}

/* A pattern that makes backtracking matchers exponential stays quick. */
static void test_match_is_not_exponential(void)
{
    pool_t *pool = pool_create(0);
    char pattern[202], name[201];
    for (int i = 0; i < 200; i++)
        pattern[i] = i % 2 ? '%' : '*';
    pattern[200] = 0;
    memset(name, 'a', 200);
    name[199] = '.';
    name[200] = 0;
    clock_t start = clock();
    CU_ASSERT(mboxname_match(pool, pattern, name));
    pattern[200] = 'b';
    pattern[201] = 0;
    CU_ASSERT(!mboxname_match(pool, pattern, name));
    CU_ASSERT((double)(clock() - start) / CLOCKS_PER_SEC < 1.0);
    pool_destroy(pool);
}

static void test_children(void)
{
    CU_ASSERT(mboxname_is_child("INBOX", "INBOX.TRASH"));
    CU_ASSERT(!mboxname_is_child("INBOX", "INBOXES"));
    CU_ASSERT(!mboxname_is_child("INBOX", "INBOX"));
    CU_ASSERT(!mboxname_is_child("INBOX", "INBOX."));
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"INBOX normalisation", test_normalize},
        {"wildcards", test_match},
        {"matching is not exponential", test_match_is_not_exponential},
        {"children", test_children},
        {NULL, NULL},
    };
    return testkit_run("mboxname", cases);
}
