/* mirror_scope_test: CUnit tests for the mirrored subtrees: which domain a DN belongs to,
 * how bases are grouped into sync roots, and DN comparison (case, spacing, escapes). */
#include "mirror_scope.h"
#include "log/log.h"

#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

static void scope_env(const char *domains, const char *bases, const char *sync_bases)
{
    setenv("MAILSTACK_LDAP_BASE", "dc=example,dc=test", 1);
    setenv("MAILSTACK_LDAP_USER_BASE", "ou=People,dc=example,dc=test", 1);
    unsetenv("MAILSTACK_LDAP_GROUP_BASE");
    setenv("MAILSTACK_DOMAIN", "example.test", 1);
    setenv("MAILSTACK_DOMAINS", domains, 1);
    setenv("MAILSTACK_LDAP_DOMAIN_BASES", bases, 1);
    if (sync_bases)
        setenv("MAILSTACK_LDAP_SYNC_BASES", sync_bases, 1);
    else
        unsetenv("MAILSTACK_LDAP_SYNC_BASES");
}

static void test_shared_bases_make_one_root(void)
{
    scope_env("", "", NULL);
    char err[256] = "";
    mirror_scope_t *s = mirror_scope_load(err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(mirror_scope_roots(s), 1);
    CU_ASSERT_STRING_EQUAL(mirror_scope_root(s, 0), "dc=example,dc=test");
    pool_t *p = pool_create(0);
    CU_ASSERT_STRING_EQUAL(mirror_scope_domain(s, p, "uid=hurd,ou=People,dc=example,dc=test"), "");
    CU_ASSERT_STRING_EQUAL(mirror_scope_domain(s, p, "UID=hurd, OU=people, DC=Example,dc=TEST"),
                           "");
    CU_ASSERT_STRING_EQUAL(mirror_scope_domain(s, p, "cn=staff,ou=Group,dc=example,dc=test"), "");
    CU_ASSERT_PTR_NULL(mirror_scope_domain(s, p, "cn=admin,dc=example,dc=test"));
    CU_ASSERT_PTR_NULL(mirror_scope_domain(s, p, "uid=x,ou=People,dc=other,dc=test"));
    CU_ASSERT_PTR_NULL(mirror_scope_domain(s, p, "not a dn"));
    /* An escaped comma is part of the value, not an RDN boundary. */
    CU_ASSERT_PTR_NULL(mirror_scope_domain(s, p, "cn=a\\,ou=People,dc=example,dc=test"));
    CU_ASSERT_STRING_EQUAL(
        mirror_scope_domain(s, p, "cn=a\\,b,ou=People,dc=example,dc=test"), "");
    pool_destroy(p);
    mirror_scope_free(s);
}

static void test_domain_bases_inside_and_outside_the_suffix(void)
{
    scope_env("other.test, Third.Example,unbased.test",
              "other.test=ou=Other,dc=example,dc=test;third.example=dc=third,dc=example;"
              "shadow.test=ou=Shadow,dc=example,dc=test",
              NULL);
    char err[256] = "";
    mirror_scope_t *s = mirror_scope_load(err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    /* Two naming contexts, two sessions; shadow.test is not served, so not mirrored. */
    CU_ASSERT_EQUAL(mirror_scope_roots(s), 2);
    int found_example = 0, found_third = 0;
    for (int i = 0; i < mirror_scope_roots(s); i++) {
        found_example |= strcmp(mirror_scope_root(s, i), "dc=example,dc=test") == 0;
        found_third |= strcmp(mirror_scope_root(s, i), "dc=third,dc=example") == 0;
    }
    CU_ASSERT_TRUE(found_example && found_third);
    pool_t *p = pool_create(0);
    CU_ASSERT_STRING_EQUAL(mirror_scope_domain(s, p, "uid=a,ou=other,dc=example,dc=test"),
                           "other.test");
    CU_ASSERT_STRING_EQUAL(mirror_scope_domain(s, p, "uid=a,ou=People,dc=third,dc=example"),
                           "third.example");
    CU_ASSERT_PTR_NULL(mirror_scope_domain(s, p, "uid=a,ou=Shadow,dc=example,dc=test"));
    CU_ASSERT_STRING_EQUAL(mirror_scope_domain(s, p, "uid=a,ou=People,dc=example,dc=test"), "");
    pool_destroy(p);
    const char *fp = mirror_scope_fingerprint(s);
    CU_ASSERT_PTR_NOT_NULL(strstr(fp, "other.test=ou=other,dc=example,dc=test"));
    mirror_scope_free(s);
}

static void test_nested_base_is_more_specific(void)
{
    scope_env("inner.test", "inner.test=ou=Inner,ou=People,dc=example,dc=test", NULL);
    char err[256] = "";
    mirror_scope_t *s = mirror_scope_load(err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    pool_t *p = pool_create(0);
    CU_ASSERT_STRING_EQUAL(
        mirror_scope_domain(s, p, "uid=a,ou=inner,ou=People,dc=example,dc=test"), "inner.test");
    CU_ASSERT_STRING_EQUAL(mirror_scope_domain(s, p, "uid=a,ou=People,dc=example,dc=test"), "");
    pool_destroy(p);
    mirror_scope_free(s);
}

static void test_explicit_roots_and_bad_settings(void)
{
    scope_env("a.test", "a.test=dc=a,dc=org", "dc=example,dc=test; dc=a,dc=org");
    char err[256] = "";
    mirror_scope_t *s = mirror_scope_load(err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(mirror_scope_roots(s), 2);
    CU_ASSERT_STRING_EQUAL(mirror_scope_roots_array(s), "{\"dc=example,dc=test\",\"dc=a,dc=org\"}");
    mirror_scope_free(s);
    scope_env("", "", "dc=example,,=x");
    CU_ASSERT_PTR_NULL(mirror_scope_load(err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "MAILSTACK_LDAP_SYNC_BASES"));
    scope_env("", "", NULL);
    setenv("MAILSTACK_LDAP_USER_BASE", "ou=People,,", 1);
    CU_ASSERT_PTR_NULL(mirror_scope_load(err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "MAILSTACK_LDAP_USER_BASE"));
}

static void test_dn_key_and_array(void)
{
    pool_t *p = pool_create(0);
    CU_ASSERT_STRING_EQUAL(mirror_dn_key(p, "UID=Hurd, ou=People,dc=Example,dc=test"),
                           "uid=hurd,ou=people,dc=example,dc=test");
    CU_ASSERT_PTR_NULL(mirror_dn_key(p, ""));
    CU_ASSERT_PTR_NULL(mirror_dn_key(p, "=,="));
    char *arr = mirror_array_add(p, NULL, "a\"b");
    arr = mirror_array_add(p, arr, "c\\d");
    CU_ASSERT_STRING_EQUAL(arr, "\"a\\\"b\",\"c\\\\d\"");
    pool_destroy(p);
}

int main(void)
{
    log_init("mirror_scope_test");
    log_set_level(LOG_ERROR);
    static const testkit_case_t cases[] = {
        {"shared bases make one root", test_shared_bases_make_one_root},
        {"domain bases inside and outside the suffix",
         test_domain_bases_inside_and_outside_the_suffix},
        {"a nested base is more specific", test_nested_base_is_more_specific},
        {"explicit roots and bad settings", test_explicit_roots_and_bad_settings},
        {"DN keys and array literals", test_dn_key_and_array},
        {NULL, NULL},
    };
    return testkit_run("mirror_scope", cases);
}
