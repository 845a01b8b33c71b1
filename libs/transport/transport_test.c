/* transport_test: MAILSTACK_LMTP_TRANSPORTS parsing — names, ports, IPv6, UNIX sockets,
 * names not in the map, malformed entries. */
#include "testkit/testkit.h"
#include "transport/transport.h"

#include <CUnit/Basic.h>

static void test_map_entries(void)
{
    const char *map = " lmtp-store = 127.0.0.1:2424 , store2=[::1]:2525,sock=/run/lmtp.sock,"
                      "plain=store.internal";
    transport_t t;
    CU_ASSERT_EQUAL_FATAL(transport_resolve(map, "lmtp-store", 24, &t), 0);
    CU_ASSERT_STRING_EQUAL(t.host, "127.0.0.1");
    CU_ASSERT_EQUAL(t.port, 2424);
    CU_ASSERT_EQUAL_FATAL(transport_resolve(map, "LMTP-Store", 24, &t), 0);
    CU_ASSERT_EQUAL(t.port, 2424);
    CU_ASSERT_EQUAL_FATAL(transport_resolve(map, "store2", 24, &t), 0);
    CU_ASSERT_STRING_EQUAL(t.host, "::1");
    CU_ASSERT_EQUAL(t.port, 2525);
    CU_ASSERT_EQUAL_FATAL(transport_resolve(map, "sock", 24, &t), 0);
    CU_ASSERT_STRING_EQUAL(t.host, "/run/lmtp.sock");
    CU_ASSERT_EQUAL_FATAL(transport_resolve(map, "plain", 24, &t), 0);
    CU_ASSERT_STRING_EQUAL(t.host, "store.internal");
    CU_ASSERT_EQUAL(t.port, 24);
}

static void test_unmapped_names_are_hosts(void)
{
    transport_t t;
    CU_ASSERT_EQUAL_FATAL(transport_resolve("lmtp-store=127.0.0.1:2424", "imap2.example", 2003,
                                            &t), 0);
    CU_ASSERT_STRING_EQUAL(t.host, "imap2.example");
    CU_ASSERT_EQUAL(t.port, 2003);
    CU_ASSERT_EQUAL_FATAL(transport_resolve(NULL, "lmtp-store", 24, &t), 0);
    CU_ASSERT_STRING_EQUAL(t.host, "lmtp-store");
    CU_ASSERT_EQUAL(t.port, 24);
    /* A prefix of a mapped name is another name. */
    CU_ASSERT_EQUAL_FATAL(transport_resolve("lmtp-store=10.0.0.1:1", "lmtp", 24, &t), 0);
    CU_ASSERT_STRING_EQUAL(t.host, "lmtp");
}

static void test_malformed_entries(void)
{
    transport_t t;
    const char *bad[] = {"x=host:0", "x=host:65536", "x=host:12a", "x=:24", "x=",
                         "x=[::1", "x=[::1]24", "x=[]:24", "x=host:", NULL};
    for (int i = 0; bad[i]; i++)
        CU_ASSERT_EQUAL(transport_resolve(bad[i], "x", 24, &t), -1);
    CU_ASSERT_EQUAL(transport_resolve("", "", 24, &t), -1);
}

static void test_format(void)
{
    const char *map = "a=127.0.0.1:2424,b=[2001:db8::1]:24,c=/run/lmtp.sock";
    transport_t t;
    char out[300];
    CU_ASSERT_EQUAL_FATAL(transport_resolve(map, "a", 24, &t), 0);
    transport_format(&t, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "127.0.0.1:2424");
    CU_ASSERT_EQUAL_FATAL(transport_resolve(map, "b", 24, &t), 0);
    transport_format(&t, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "[2001:db8::1]:24");
    CU_ASSERT_EQUAL_FATAL(transport_resolve(map, "c", 24, &t), 0);
    transport_format(&t, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "/run/lmtp.sock");
    CU_ASSERT_EQUAL_FATAL(transport_resolve(map, "lmtp.example", 2003, &t), 0);
    transport_format(&t, out, sizeof(out));
    CU_ASSERT_STRING_EQUAL(out, "lmtp.example:2003");
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"map entries", test_map_entries},
        {"unmapped names are hosts", test_unmapped_names_are_hosts},
        {"malformed entries", test_malformed_entries},
        {"endpoints as text", test_format},
        {NULL, NULL},
    };
    return testkit_run("transport", cases);
}
