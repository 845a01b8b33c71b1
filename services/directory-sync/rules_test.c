/* rules_test: the database-free lookup rules — settings, keys, the seed's maildrop
 * filter and what alias targets and list members name. */
#include "rules.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

static void test_settings(void)
{
    unsetenv("MAILSTACK_LOOKUP_CASE_INSENSITIVE");
    unsetenv("MAILSTACK_RECIPIENT_DELIMITER");
    unsetenv("MAILSTACK_ALIAS_DEPTH_LIMIT");
    unsetenv("MAILSTACK_ALIAS_EXPANSION_LIMIT");
    struct rules_settings set;
    rules_settings_load(&set);
    CU_ASSERT_EQUAL(set.fold, 1);
    CU_ASSERT_STRING_EQUAL(set.delimiters, "+");
    CU_ASSERT_EQUAL(set.depth_limit, 20);
    CU_ASSERT_EQUAL(set.expansion_limit, 1000);
    setenv("MAILSTACK_LOOKUP_CASE_INSENSITIVE", "0", 1);
    setenv("MAILSTACK_RECIPIENT_DELIMITER", "+-", 1);
    setenv("MAILSTACK_ALIAS_DEPTH_LIMIT", "0", 1); /* nonsense falls back to the default */
    setenv("MAILSTACK_ALIAS_EXPANSION_LIMIT", "50", 1);
    rules_settings_load(&set);
    CU_ASSERT_EQUAL(set.fold, 0);
    CU_ASSERT_STRING_EQUAL(set.delimiters, "+-");
    CU_ASSERT_EQUAL(set.depth_limit, 20);
    CU_ASSERT_EQUAL(set.expansion_limit, 50);
    unsetenv("MAILSTACK_LOOKUP_CASE_INSENSITIVE");
    unsetenv("MAILSTACK_RECIPIENT_DELIMITER");
    unsetenv("MAILSTACK_ALIAS_DEPTH_LIMIT");
    unsetenv("MAILSTACK_ALIAS_EXPANSION_LIMIT");
}

static void test_keys(void)
{
    pool_t *pool = pool_create(0);
    struct rules_settings set = {1, "+", 20, 1000};
    CU_ASSERT_STRING_EQUAL(rules_key(pool, &set, "HuRd"), "hurd");
    CU_ASSERT_STRING_EQUAL(rules_key(pool, &set, "최영봉"), "최영봉");
    set.fold = 0;
    CU_ASSERT_STRING_EQUAL(rules_key(pool, &set, "HuRd"), "HuRd");
    pool_destroy(pool);
}

static void test_maildrop_filter(void)
{
    CU_ASSERT_TRUE(rules_maildrop_deliverable("hurd@lmtp-store"));
    CU_ASSERT_TRUE(rules_maildrop_deliverable("hurd@imap.mydomain.com"));
    CU_ASSERT_FALSE(rules_maildrop_deliverable("|/usr/bin/procmail"));
    CU_ASSERT_FALSE(rules_maildrop_deliverable("hurd|x@lmtp-store"));   /* "*|*" */
    CU_ASSERT_FALSE(rules_maildrop_deliverable("prog:/usr/local/bin/filter"));
    CU_ASSERT_FALSE(rules_maildrop_deliverable("hurd@lmtp-store:"));    /* "*:*" */
    CU_ASSERT_FALSE(rules_maildrop_deliverable(""));
    CU_ASSERT_FALSE(rules_maildrop_deliverable(NULL));
}

static void test_classify(void)
{
    pool_t *pool = pool_create(0);
    struct rules_target t;
    rules_classify(pool, "root", &t);
    CU_ASSERT_EQUAL(t.kind, RULES_NAME);
    CU_ASSERT_STRING_EQUAL(t.name, "root");
    rules_classify(pool, "hurd+lists", &t);
    CU_ASSERT_EQUAL(t.kind, RULES_NAME);
    CU_ASSERT_STRING_EQUAL(t.name, "hurd+lists"); /* the resolver splits with its setting */
    rules_classify(pool, "\"john doe\"", &t);
    CU_ASSERT_EQUAL(t.kind, RULES_NAME);
    CU_ASSERT_STRING_EQUAL(t.name, "john doe");
    rules_classify(pool, "Hurd@Example.TEST", &t);
    CU_ASSERT_EQUAL(t.kind, RULES_ADDRESS);
    CU_ASSERT_STRING_EQUAL(t.addr.local, "Hurd");
    CU_ASSERT_STRING_EQUAL(t.addr.domain, "example.test");
    rules_classify(pool, "\"a, b\"@example.org", &t);
    CU_ASSERT_EQUAL(t.kind, RULES_ADDRESS);
    CU_ASSERT_STRING_EQUAL(t.addr.local, "a, b");
    const char *forbidden[] = {"|/usr/bin/procmail", "|prog", "\"|/usr/bin/vacation hurd\"",
                               "/var/mail/copy", "\"/var/mail/with space\"",
                               ":include:/etc/mail/list", ":INCLUDE:/x", NULL};
    for (int i = 0; forbidden[i]; i++) {
        rules_classify(pool, forbidden[i], &t);
        CU_ASSERT_EQUAL(t.kind, RULES_FORBIDDEN);
        CU_ASSERT_PTR_NOT_NULL(t.why);
    }
    const char *bad[] = {"", "a b", "hurd@", "@example.test", "*)(uid=*", "hurd\r\nRCPT",
                         "\"unterminated", "a'); DROP TABLE accounts; --", NULL};
    for (int i = 0; bad[i]; i++) {
        rules_classify(pool, bad[i], &t);
        CU_ASSERT_EQUAL(t.kind, RULES_BAD);
    }
    /* Quotes and other atext are names, never SQL or filter syntax. */
    rules_classify(pool, "o'brien", &t);
    CU_ASSERT_EQUAL(t.kind, RULES_NAME);
    pool_destroy(pool);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"settings and their defaults", test_settings},
        {"lookup keys fold case when set", test_keys},
        {"the seed's maildrop filter", test_maildrop_filter},
        {"alias targets and list members", test_classify},
        {NULL, NULL},
    };
    return testkit_run("rules", cases);
}
