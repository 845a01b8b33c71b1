/* cidr_test: network lists — IPv4 and IPv6 prefixes, hosts, mapped addresses, odd prefix
 * lengths, non-addresses, malformed entries. */
#include "cidr/cidr.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <string.h>

static void test_default_loopback(void)
{
    const char *bad;
    cidr_list_t *l = cidr_parse("127.0.0.0/8,::1/128", &bad);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_TRUE(cidr_match(l, "127.0.0.1"));
    CU_ASSERT_TRUE(cidr_match(l, "127.255.1.2"));
    CU_ASSERT_TRUE(cidr_match(l, "::1"));
    CU_ASSERT_TRUE(cidr_match(l, "::ffff:127.0.0.1"));
    CU_ASSERT_FALSE(cidr_match(l, "128.0.0.1"));
    CU_ASSERT_FALSE(cidr_match(l, "::2"));
    CU_ASSERT_FALSE(cidr_match(l, "unix"));
    CU_ASSERT_FALSE(cidr_match(l, ""));
    cidr_free(l);
}

static void test_prefixes_and_hosts(void)
{
    const char *bad;
    cidr_list_t *l = cidr_parse(" 10.1.2.128/25  192.0.2.7, 2001:db8::/33,fe80::/10 ", &bad);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_TRUE(cidr_match(l, "10.1.2.128"));
    CU_ASSERT_TRUE(cidr_match(l, "10.1.2.255"));
    CU_ASSERT_FALSE(cidr_match(l, "10.1.2.127"));
    CU_ASSERT_TRUE(cidr_match(l, "192.0.2.7"));
    CU_ASSERT_FALSE(cidr_match(l, "192.0.2.8"));
    CU_ASSERT_TRUE(cidr_match(l, "2001:db8:7fff::1"));
    CU_ASSERT_FALSE(cidr_match(l, "2001:db8:8000::1"));
    CU_ASSERT_TRUE(cidr_match(l, "febf::1"));
    CU_ASSERT_FALSE(cidr_match(l, "fec0::1"));
    /* A v4 network never swallows v6 space beyond its mapped form. */
    CU_ASSERT_FALSE(cidr_match(l, "::10.1.2.200"));
    cidr_free(l);
    l = cidr_parse("0.0.0.0/0", &bad);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_TRUE(cidr_match(l, "203.0.113.9"));
    CU_ASSERT_FALSE(cidr_match(l, "2001:db8::1"));
    cidr_free(l);
    l = cidr_parse("", &bad);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_FALSE(cidr_match(l, "127.0.0.1"));
    cidr_free(l);
}

static void test_malformed(void)
{
    const char *bad;
    const char *cases[] = {"127.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0/8",
                           "host.example", "10.0.0.0/8x", "1.2.3.4/0008", NULL};
    for (int i = 0; cases[i]; i++) {
        CU_ASSERT_PTR_NULL(cidr_parse(cases[i], &bad));
        CU_ASSERT_PTR_EQUAL(bad, cases[i]);
    }
    const char *list = "127.0.0.0/8, nonsense, ::1";
    CU_ASSERT_PTR_NULL(cidr_parse(list, &bad));
    CU_ASSERT_PTR_EQUAL(bad, strstr(list, "nonsense"));
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"the default loopback list", test_default_loopback},
        {"prefixes and hosts", test_prefixes_and_hosts},
        {"malformed entries", test_malformed},
        {NULL, NULL},
    };
    return testkit_run("cidr", cases);
}
