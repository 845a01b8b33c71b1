/* saslauth_test: the SASL glue with the real libsasl2 and its PLAIN and LOGIN plugins —
 * what is advertised with and without plaintext allowed, the exchanges' first steps and
 * challenges, malformed, cancelled and refused input, and an unreachable auth-service
 * read as a temporary failure, never as bad credentials. (Answers from a live
 * auth-service are the integration tests' part.) */
#include "saslauth/saslauth.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_init_needs_the_secret(void)
{
    unsetenv("MAILSTACK_AUTH_SECRET");
    CU_ASSERT_EQUAL(saslauth_init("imap"), -1);
}

static void test_init_with_a_secret(void)
{
    char url[64];
    /* A port nothing listens on: auth-service is down. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", testkit_free_port());
    setenv("MAILSTACK_AUTH_URL", url, 1);
    setenv("MAILSTACK_AUTH_SECRET", "0123456789abcdef0123", 1);
    setenv("MAILSTACK_AUTH_TIMEOUT_MS", "2000", 1);
    CU_ASSERT_FATAL(saslauth_init("imap") == 0);
}

static void test_mechanisms_follow_the_plaintext_policy(void)
{
    const char *plain = saslauth_mechanisms(1);
    CU_ASSERT_PTR_NOT_NULL(strstr(plain, "PLAIN"));
    CU_ASSERT_PTR_NOT_NULL(strstr(plain, "LOGIN"));
    CU_ASSERT_PTR_NULL(strstr(plain, "ANONYMOUS"));
    CU_ASSERT_PTR_NULL(strstr(plain, "CRAM-MD5")); /* installed, but not in our mech_list */
    CU_ASSERT_STRING_EQUAL(saslauth_mechanisms(0), "");
}

static void test_plain_without_initial_response_asks_for_it(void)
{
    saslauth_t *a = saslauth_new("192.0.2.1", 1);
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT_EQUAL(saslauth_start(a, "PLAIN", NULL), SASLAUTH_CONTINUE);
    CU_ASSERT_STRING_EQUAL(saslauth_challenge(a), "");
    CU_ASSERT_EQUAL(saslauth_step(a, "*"), SASLAUTH_CANCELLED);
    saslauth_free(a);
}

static void test_login_asks_for_user_then_password(void)
{
    saslauth_t *a = saslauth_new("192.0.2.1", 1);
    CU_ASSERT_EQUAL(saslauth_start(a, "LOGIN", NULL), SASLAUTH_CONTINUE);
    CU_ASSERT_STRING_EQUAL(saslauth_challenge(a), "VXNlcm5hbWU6"); /* "Username:" */
    CU_ASSERT_EQUAL(saslauth_step(a, "aHVyZA=="), SASLAUTH_CONTINUE);
    CU_ASSERT_STRING_EQUAL(saslauth_challenge(a), "UGFzc3dvcmQ6"); /* "Password:" */
    /* auth-service cannot be reached: temporary, not "wrong password" */
    CU_ASSERT_EQUAL(saslauth_step(a, "c2VjcmV0"), SASLAUTH_UNAVAILABLE);
    CU_ASSERT_STRING_EQUAL(saslauth_username(a), "hurd");
    CU_ASSERT_PTR_NULL(saslauth_account(a));
    saslauth_free(a);
}

static void test_plain_initial_response_reaches_the_check(void)
{
    saslauth_t *a = saslauth_new("192.0.2.1", 1);
    /* "\0hurd\0secret" */
    CU_ASSERT_EQUAL(saslauth_start(a, "PLAIN", "AGh1cmQAc2VjcmV0"), SASLAUTH_UNAVAILABLE);
    CU_ASSERT_STRING_EQUAL(saslauth_username(a), "hurd");
    saslauth_free(a);
    a = saslauth_new("192.0.2.1", 1);
    CU_ASSERT_EQUAL(saslauth_checkpass(a, "hurd", "secret"), SASLAUTH_UNAVAILABLE);
    saslauth_free(a);
}

static void test_malformed_and_refused_input(void)
{
    saslauth_t *a = saslauth_new("192.0.2.1", 1);
    CU_ASSERT_EQUAL(saslauth_start(a, "PLAIN", "not base64!"), SASLAUTH_BADPROT);
    saslauth_free(a);
    a = saslauth_new("192.0.2.1", 1);
    /* "=" is an empty initial response: PLAIN cannot parse it */
    CU_ASSERT_EQUAL(saslauth_start(a, "PLAIN", "="), SASLAUTH_BADPROT);
    CU_ASSERT_PTR_NULL(saslauth_username(a));
    saslauth_free(a);
    a = saslauth_new("192.0.2.1", 1);
    CU_ASSERT_EQUAL(saslauth_start(a, "CRAM-MD5", NULL), SASLAUTH_NOMECH);
    saslauth_free(a);
    a = saslauth_new("192.0.2.1", 1);
    CU_ASSERT_EQUAL(saslauth_start(a, "LOGIN", NULL), SASLAUTH_CONTINUE);
    CU_ASSERT_EQUAL(saslauth_step(a, "%%%"), SASLAUTH_BADPROT);
    saslauth_free(a);
}

static void test_plaintext_mechanisms_refused_without_tls(void)
{
    saslauth_t *a = saslauth_new("192.0.2.1", 0);
    CU_ASSERT_EQUAL(saslauth_start(a, "PLAIN", "AGh1cmQAc2VjcmV0"), SASLAUTH_NOMECH);
    CU_ASSERT_PTR_NULL(saslauth_username(a)); /* refused before any password check */
    saslauth_free(a);
    a = saslauth_new("192.0.2.1", 0);
    CU_ASSERT_EQUAL(saslauth_start(a, "LOGIN", NULL), SASLAUTH_NOMECH);
    saslauth_free(a);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"init needs the secret", test_init_needs_the_secret},
        {"init with a secret", test_init_with_a_secret},
        {"mechanisms follow the plaintext policy", test_mechanisms_follow_the_plaintext_policy},
        {"PLAIN without initial response asks for it",
         test_plain_without_initial_response_asks_for_it},
        {"LOGIN asks for user then password", test_login_asks_for_user_then_password},
        {"PLAIN initial response reaches the check",
         test_plain_initial_response_reaches_the_check},
        {"malformed and refused input", test_malformed_and_refused_input},
        {"plaintext mechanisms refused without TLS", test_plaintext_mechanisms_refused_without_tls},
        {NULL, NULL}};
    int rc = testkit_run("saslauth", cases);
    saslauth_done();
    return rc;
}
