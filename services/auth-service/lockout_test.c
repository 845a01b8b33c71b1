/* lockout_test: the brute-force counters — penalties that start after the threshold and
 * double up to the cap, the lock and its cooling time, per-pair and per-IP independence,
 * success resetting only the pair, forgetting, case-folding, and the size bound. */
#include "lockout.h"

#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdio.h>

static const struct lockout_settings settings = {
    .user_delay_after = 3, .user_lock_after = 6, .ip_delay_after = 10, .ip_lock_after = 20,
    .penalty_ms = 100, .penalty_max_ms = 400, .lock_ms = 5000, .forget_ms = 60000,
    .max_entries = 1000};

static void fail_n(lockout_t *lo, const char *user, const char *ip, int n, long now)
{
    for (int i = 0; i < n; i++)
        lockout_failure(lo, user, ip, now);
}

static void test_penalty_doubles_then_locks(void)
{
    lockout_t *lo = lockout_new(&settings);
    long now = 1000;
    struct lockout_verdict v = lockout_check(lo, "hurd", "192.0.2.1", now);
    CU_ASSERT_EQUAL(v.locked, 0);
    CU_ASSERT_EQUAL(v.delay_ms, 0);
    long expect[] = {0, 0, 0, 100, 200, 400};
    for (int i = 0; i < 6; i++) {
        v = lockout_check(lo, "hurd", "192.0.2.1", now);
        CU_ASSERT_EQUAL(v.locked, 0);
        CU_ASSERT_EQUAL(v.delay_ms, expect[i]);
        lockout_failure(lo, "hurd", "192.0.2.1", now);
    }
    v = lockout_check(lo, "hurd", "192.0.2.1", now + 1000);
    CU_ASSERT_EQUAL(v.locked, 1);
    CU_ASSERT_EQUAL(v.retry_after_ms, 4000);
    /* the cooling time ends the lock and the count starts over */
    v = lockout_check(lo, "hurd", "192.0.2.1", now + 5000);
    CU_ASSERT_EQUAL(v.locked, 0);
    CU_ASSERT_EQUAL(v.delay_ms, 0);
    lockout_free(lo);
}

static void test_penalty_is_capped(void)
{
    struct lockout_settings s = settings;
    s.user_lock_after = s.ip_lock_after = 0; /* never lock: only the cap stops the doubling */
    lockout_t *lo = lockout_new(&s);
    fail_n(lo, "hurd", "192.0.2.1", 9, 0);
    CU_ASSERT_EQUAL(lockout_check(lo, "hurd", "192.0.2.1", 1).delay_ms, 400);
    fail_n(lo, "hurd", "192.0.2.1", 100, 1);
    struct lockout_verdict v = lockout_check(lo, "hurd", "192.0.2.1", 2);
    CU_ASSERT_EQUAL(v.locked, 0);
    CU_ASSERT_EQUAL(v.delay_ms, 400);
    lockout_free(lo);
}

static void test_other_users_and_ips_unaffected(void)
{
    lockout_t *lo = lockout_new(&settings);
    fail_n(lo, "hurd", "192.0.2.1", 6, 0);
    CU_ASSERT_EQUAL(lockout_check(lo, "hurd", "192.0.2.1", 1).locked, 1);
    struct lockout_verdict v = lockout_check(lo, "cyrus", "192.0.2.1", 1);
    CU_ASSERT_EQUAL(v.locked, 0);
    CU_ASSERT_EQUAL(v.delay_ms, 0);
    v = lockout_check(lo, "hurd", "192.0.2.2", 1);
    CU_ASSERT_EQUAL(v.locked, 0);
    CU_ASSERT_EQUAL(v.delay_ms, 0);
    lockout_free(lo);
}

static void test_per_ip_counts_every_user(void)
{
    lockout_t *lo = lockout_new(&settings);
    char user[32];
    for (int i = 0; i < 10; i++) {
        snprintf(user, sizeof(user), "guess%d", i);
        lockout_failure(lo, user, "198.51.100.7", 0);
    }
    /* a fresh name from that IP waits; the same name elsewhere does not */
    CU_ASSERT_EQUAL(lockout_check(lo, "fresh", "198.51.100.7", 1).delay_ms, 100);
    CU_ASSERT_EQUAL(lockout_check(lo, "fresh", "198.51.100.8", 1).delay_ms, 0);
    for (int i = 10; i < 20; i++) {
        snprintf(user, sizeof(user), "guess%d", i);
        lockout_failure(lo, user, "198.51.100.7", 2);
    }
    CU_ASSERT_EQUAL(lockout_check(lo, "fresh", "198.51.100.7", 3).locked, 1);
    CU_ASSERT_EQUAL(lockout_check(lo, "fresh", "198.51.100.8", 3).locked, 0);
    lockout_free(lo);
}

static void test_success_resets_pair_not_ip(void)
{
    struct lockout_settings s = settings;
    s.ip_delay_after = 4;
    lockout_t *lo = lockout_new(&s);
    fail_n(lo, "hurd", "192.0.2.1", 4, 0);
    CU_ASSERT_EQUAL(lockout_check(lo, "hurd", "192.0.2.1", 1).delay_ms, 200);
    lockout_success(lo, "hurd", "192.0.2.1", 1);
    /* the pair is forgotten, the IP's four failures are not */
    CU_ASSERT_EQUAL(lockout_check(lo, "hurd", "192.0.2.1", 2).delay_ms, 100);
    CU_ASSERT_EQUAL(lockout_check(lo, "cyrus", "192.0.2.1", 2).delay_ms, 100);
    lockout_free(lo);
}

static void test_names_fold_case_and_counters_are_forgotten(void)
{
    lockout_t *lo = lockout_new(&settings);
    fail_n(lo, "Hurd", "192.0.2.1", 2, 0);
    lockout_failure(lo, "HURD", "192.0.2.1", 0);
    CU_ASSERT_EQUAL(lockout_check(lo, "hurd", "192.0.2.1", 1).delay_ms, 100);
    CU_ASSERT_EQUAL(lockout_check(lo, "hurd", "192.0.2.1", 59999).delay_ms, 100);
    CU_ASSERT_EQUAL(lockout_check(lo, "hurd", "192.0.2.1", 60000).delay_ms, 0);
    CU_ASSERT_EQUAL(lockout_entries(lo), 0); /* both keys were dropped when looked at */
    lockout_free(lo);
}

static void test_keys_do_not_collide(void)
{
    lockout_t *lo = lockout_new(&settings);
    /* "a" at IP "b" must not be user "" at IP "ab" or the like */
    fail_n(lo, "a", "b", 3, 0);
    CU_ASSERT_EQUAL(lockout_check(lo, "", "ab", 1).delay_ms, 0);
    CU_ASSERT_EQUAL(lockout_check(lo, "b", "a", 1).delay_ms, 0);
    CU_ASSERT_EQUAL(lockout_check(lo, "a", "b", 1).delay_ms, 100);
    lockout_free(lo);
}

static void test_table_is_bounded(void)
{
    struct lockout_settings s = settings;
    s.max_entries = 50;
    lockout_t *lo = lockout_new(&s);
    char user[32], ip[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(user, sizeof(user), "user%d", i);
        snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 250, i % 250);
        lockout_failure(lo, user, ip, i);
        CU_ASSERT_FATAL(lockout_entries(lo) <= 50);
    }
    /* the newest keys survive, the oldest were dropped */
    fail_n(lo, "user4999", "10.0.19.249", 2, 5000);
    CU_ASSERT_EQUAL(lockout_check(lo, "user4999", "10.0.19.249", 5001).delay_ms, 100);
    CU_ASSERT_EQUAL(lockout_check(lo, "user0", "10.0.0.0", 5001).delay_ms, 0);
    lockout_free(lo);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"penalty doubles then locks", test_penalty_doubles_then_locks},
        {"penalty is capped", test_penalty_is_capped},
        {"other users and IPs unaffected", test_other_users_and_ips_unaffected},
        {"per-IP counts every user", test_per_ip_counts_every_user},
        {"success resets the pair, not the IP", test_success_resets_pair_not_ip},
        {"names fold case; counters are forgotten", test_names_fold_case_and_counters_are_forgotten},
        {"keys do not collide", test_keys_do_not_collide},
        {"table is bounded", test_table_is_bounded},
        {NULL, NULL}};
    return testkit_run("lockout", cases);
}
