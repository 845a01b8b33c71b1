/* ldapconn_test: RFC 4515 escaping (hostile usernames must match nothing), the empty
 * password refusal, and how an unreachable server is reported. */
#include "ldapconn/ldapconn.h"

#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

static void test_escape(void)
{
    pool_t *p = pool_create(0);
    CU_ASSERT_STRING_EQUAL(ldapconn_escape(p, "hurd"), "hurd");
    CU_ASSERT_STRING_EQUAL(ldapconn_escape(p, "*)(uid=*"), "\\2A\\29\\28uid=\\2A");
    CU_ASSERT_STRING_EQUAL(ldapconn_escape(p, "a\\b"), "a\\5Cb");
    /* Non-ASCII octets are escaped too, so a UTF-8 name cannot smuggle syntax. */
    char *k = ldapconn_escape(p, "\xec\xb5\x9c");
    CU_ASSERT_PTR_NOT_NULL(k);
    CU_ASSERT(k && strchr(k, '(') == NULL && strchr(k, '*') == NULL);
    pool_destroy(p);
}

static void test_unreachable_and_empty_password(void)
{
    /* A port that was just free: nothing listens there. */
    char uri[64], err[128];
    snprintf(uri, sizeof(uri), "ldap://127.0.0.1:%d/", testkit_free_port());
    int rc = 0;
    LDAP *ld = ldapconn_open(uri, "cn=admin,dc=example,dc=test", "x", 1000, &rc, err, sizeof(err));
    CU_ASSERT_PTR_NULL(ld);
    CU_ASSERT(ldapconn_is_down(rc));
    CU_ASSERT(!ldapconn_is_down(LDAP_INVALID_CREDENTIALS));
    CU_ASSERT_EQUAL(ldapconn_bind(NULL, "uid=hurd,ou=People,dc=example,dc=test", ""),
                    LDAP_INVALID_CREDENTIALS);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"RFC 4515 escaping", test_escape},
        {"unreachable server, empty password", test_unreachable_and_empty_password},
        {NULL, NULL},
    };
    return testkit_run("ldapconn", cases);
}
