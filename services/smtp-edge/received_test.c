/* received_test: the Received: header — its fields, folding, and that client text
 * cannot break it. */
#include "received.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <string.h>

static void test_fields(void)
{
    pool_t *pool = pool_create(0);
    struct received_info r = {"client.example.org", "192.0.2.7", "mail.example.test",
                              "ESMTP", "0A1B2C3D4E5F", "hurd@example.test", 0};
    char *h = received_header(pool, &r);
    CU_ASSERT_STRING_EQUAL(h, "Received: from client.example.org ([192.0.2.7])\r\n"
                              "\tby mail.example.test (mailstack) with ESMTP id 0A1B2C3D4E5F\r\n"
                              "\tfor <hurd@example.test>;\r\n"
                              "\tThu, 01 Jan 1970 00:00:00 +0000\r\n");
    r.peer = "2001:db8::1";
    r.rcpt = NULL;
    r.helo = NULL;
    h = received_header(pool, &r);
    CU_ASSERT_PTR_NOT_NULL(strstr(h, "from unknown ([IPv6:2001:db8::1])"));
    CU_ASSERT_PTR_NULL(strstr(h, "for <"));
    pool_destroy(pool);
}

static void test_hostile_text(void)
{
    pool_t *pool = pool_create(0);
    struct received_info r = {"evil)\r\nX-Injected: 1 (", "127.0.0.1", "mx", "SMTP", "ID",
                              "a>b@example.test", 1700000000};
    char *h = received_header(pool, &r);
    CU_ASSERT_PTR_NULL(strstr(h, "X-Injected: 1 ("));
    CU_ASSERT_PTR_NULL(strstr(h, "a>b"));
    /* Only the folding CRLFs, each followed by a tab, and the final one. */
    int crlf = 0;
    for (const char *p = h; (p = strstr(p, "\r\n")); p += 2) {
        crlf++;
        CU_ASSERT(p[2] == '\t' || p[2] == 0);
    }
    CU_ASSERT_EQUAL(crlf, 3);
    char longhelo[600];
    memset(longhelo, 'h', sizeof(longhelo) - 1);
    longhelo[sizeof(longhelo) - 1] = 0;
    r.helo = longhelo;
    h = received_header(pool, &r);
    CU_ASSERT(strlen(h) < 400);
    pool_destroy(pool);
}

static void test_protocols(void)
{
    CU_ASSERT_STRING_EQUAL(received_protocol(0, 0, 0), "SMTP");
    CU_ASSERT_STRING_EQUAL(received_protocol(1, 0, 0), "ESMTP");
    CU_ASSERT_STRING_EQUAL(received_protocol(1, 1, 0), "ESMTPS");
    CU_ASSERT_STRING_EQUAL(received_protocol(1, 0, 1), "UTF8SMTP");
    CU_ASSERT_STRING_EQUAL(received_protocol(1, 1, 1), "UTF8SMTPS");
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"fields and folding", test_fields},
        {"client text cannot break the header", test_hostile_text},
        {"with-protocol keywords", test_protocols},
        {NULL, NULL},
    };
    return testkit_run("received", cases);
}
