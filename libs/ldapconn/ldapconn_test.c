/* ldapconn_test: RFC 4515 escaping (hostile usernames must match nothing), the empty
 * password refusal, and how an unreachable server is reported. */
#include "ldapconn/ldapconn.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    char uri[64], err[128];
    snprintf(uri, sizeof(uri), "ldap://127.0.0.1:%d/", ntohs(sa.sin_port));
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
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("ldapconn", NULL, NULL);
    CU_add_test(s, "RFC 4515 escaping", test_escape);
    CU_add_test(s, "unreachable server, empty password", test_unreachable_and_empty_password);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
