/* mailaddr_test: valid and hostile mailboxes, sub-addresses, limits. */
#include "mailaddr/mailaddr.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

static pool_t *pool;

static int parse(const char *s, mailaddr_t *a)
{
    return mailaddr_parse(pool, s, a);
}

static void test_plain_and_detail(void)
{
    pool = pool_create(0);
    mailaddr_t a;
    CU_ASSERT_EQUAL_FATAL(parse("hurd@Example.TEST", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.local, "hurd");
    CU_ASSERT_STRING_EQUAL(a.domain, "example.test");
    CU_ASSERT_PTR_NULL(a.detail);
    CU_ASSERT_EQUAL_FATAL(parse("Hurd+lists@example.test", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.local, "Hurd");
    CU_ASSERT_STRING_EQUAL(a.detail, "lists");
    CU_ASSERT_EQUAL_FATAL(parse("hurd+a+b@example.test", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.detail, "a+b");
    CU_ASSERT_EQUAL_FATAL(parse("hurd", &a), 0);
    CU_ASSERT_PTR_NULL(a.domain);
    CU_ASSERT_EQUAL_FATAL(parse("+x@example.test", &a), 0); /* a leading + is no detail */
    CU_ASSERT_STRING_EQUAL(a.local, "+x");
    pool_destroy(pool);
}

static void test_quoted_utf8_literal(void)
{
    pool = pool_create(0);
    mailaddr_t a;
    CU_ASSERT_EQUAL_FATAL(parse("\"john doe\"@example.test", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.local, "john doe");
    CU_ASSERT_EQUAL_FATAL(parse("\"a@b\\\"c\"@example.test", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.local, "a@b\"c");
    CU_ASSERT_EQUAL_FATAL(parse("최영봉@예제.test", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.local, "최영봉");
    CU_ASSERT_STRING_EQUAL(a.domain, "예제.test");
    CU_ASSERT_EQUAL(parse("postmaster@[192.0.2.1]", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.domain, "[192.0.2.1]");
    CU_ASSERT_EQUAL(parse("postmaster@[IPv6:2001:DB8::1]", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.domain, "[ipv6:2001:db8::1]");
    CU_ASSERT_EQUAL_FATAL(parse("\"hurd+x\"@example.test", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.local, "hurd");
    CU_ASSERT_STRING_EQUAL(a.detail, "x");
    CU_ASSERT_EQUAL_FATAL(parse("hurd+@example.test", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.detail, "");
    pool_destroy(pool);
}

static void test_rejects(void)
{
    pool = pool_create(0);
    mailaddr_t a;
    const char *bad[] = {"", "@example.test", "hurd@", "hurd@@example.test", "a b@example.test",
                         ".hurd@example.test", "hurd.@example.test", "hu..rd@example.test",
                         "hurd@exa mple.test", "hurd@.example.test", "hurd@example..test",
                         "hurd@example.test.", "\"unterminated@example.test", "hurd\r\n@x.test",
                         "<hurd@example.test>", "hurd@-bad.test", "hurd@bad-.test",
                         "hurd@[300.1.1.1]", "hurd@[IPv6:zz::1]", "hurd@[]", "hurd@[1.2.3.4",
                         "\"ab\"x@example.test", "\"\"@example.test",
                         "hu\xc0\xafrd@example.test",  /* overlong '/' */
                         "hurd@ex\xed\xa0\x80.test",   /* UTF-16 surrogate */
                         "\xe4\xbd@example.test",        /* truncated sequence */
                         "hurd@exa_mple.test", "hurd@example.test@x.test", "\"a\rb\"@x.test",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        int rc = parse(bad[i], &a);
        CU_ASSERT_EQUAL(rc, -1);
        if (rc != -1)
            printf("\naccepted: %s\n", bad[i]);
    }
    char local[80];
    memset(local, 'a', 65);
    strcpy(local + 65, "@example.test");
    CU_ASSERT_EQUAL(parse(local, &a), -1);
    memset(local, 'a', 64);
    strcpy(local + 64, "@example.test");
    CU_ASSERT_EQUAL(parse(local, &a), 0);
    char path[300];
    memset(path, 'b', 299);
    path[299] = 0;
    path[10] = '@';
    CU_ASSERT_EQUAL(parse(path, &a), -1);
    /* The path limit counts the angle brackets: 254 octets of mailbox fit, 255 do not. */
    char dom[300];
    memcpy(dom, "a@", 2);
    size_t n = 2;
    while (n < 254) {
        size_t label = 254 - n > 60 ? 60 : 254 - n;
        memset(dom + n, 'd', label);
        n += label;
        if (n < 254)
            dom[n - 1] = '.';
    }
    dom[254] = 0;
    CU_ASSERT_EQUAL(parse(dom, &a), 0);
    dom[253] = '.';
    dom[254] = 'e';
    dom[255] = 0;
    CU_ASSERT_EQUAL(parse(dom, &a), -1);
    char label[80];
    memset(label, 'l', 64);
    strcpy(label + 64, ".test");
    char addr[100];
    snprintf(addr, sizeof(addr), "a@%s", label);
    CU_ASSERT_EQUAL(parse(addr, &a), -1); /* a 64-octet label */
    pool_destroy(pool);
}

static void test_lower(void)
{
    pool = pool_create(0);
    CU_ASSERT_STRING_EQUAL(mailaddr_lower(pool, "HuRD최"), "hurd최");
    pool_destroy(pool);
}

static void test_full_local_and_delimiters(void)
{
    pool = pool_create(0);
    mailaddr_t a;
    CU_ASSERT_EQUAL_FATAL(parse("Hurd+lists+x@example.test", &a), 0);
    CU_ASSERT_STRING_EQUAL(mailaddr_local_full(pool, &a), "Hurd+lists+x");
    CU_ASSERT_EQUAL_FATAL(parse("hurd+@example.test", &a), 0);
    CU_ASSERT_STRING_EQUAL(mailaddr_local_full(pool, &a), "hurd+");
    CU_ASSERT_EQUAL_FATAL(parse("hurd@example.test", &a), 0);
    CU_ASSERT_STRING_EQUAL(mailaddr_local_full(pool, &a), "hurd");
    CU_ASSERT_EQUAL(mailaddr_detail_at("hurd+lists", "+"), 4);
    CU_ASSERT_EQUAL(mailaddr_detail_at("hurd-lists+x", "+-"), 4);
    CU_ASSERT_EQUAL(mailaddr_detail_at("hurd+lists", "-"), 10);
    CU_ASSERT_EQUAL(mailaddr_detail_at("hurd+lists", ""), 10);
    CU_ASSERT_EQUAL(mailaddr_detail_at("hurd+lists", NULL), 10);
    CU_ASSERT_EQUAL(mailaddr_detail_at("+x", "+"), 2);   /* a leading + names, not splits */
    CU_ASSERT_EQUAL(mailaddr_detail_at("hurd+", "+"), 4);
    CU_ASSERT_EQUAL(mailaddr_detail_at("", "+"), 0);
    pool_destroy(pool);
}

static void test_format_round_trip(void)
{
    pool = pool_create(0);
    const char *in[] = {"hurd+lists@example.test", "hurd", "\"john doe\"@example.test",
                        "\"a\\\\b\"@example.test", "최영봉+메모@예제.test", NULL};
    for (int i = 0; in[i]; i++) {
        mailaddr_t a, b;
        CU_ASSERT_EQUAL_FATAL(parse(in[i], &a), 0);
        char *text = mailaddr_format(pool, &a);
        CU_ASSERT_EQUAL_FATAL(parse(text, &b), 0);
        CU_ASSERT_STRING_EQUAL(a.local, b.local);
        CU_ASSERT((a.detail == NULL) == (b.detail == NULL));
        if (a.detail && b.detail)
            CU_ASSERT_STRING_EQUAL(a.detail, b.detail);
        CU_ASSERT((a.domain == NULL) == (b.domain == NULL));
    }
    mailaddr_t a;
    CU_ASSERT_EQUAL_FATAL(parse("Hurd+X@EXAMPLE.test", &a), 0);
    CU_ASSERT_STRING_EQUAL(mailaddr_format(pool, &a), "Hurd+X@example.test");
    pool_destroy(pool);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"plain addresses and sub-addresses", test_plain_and_detail},
        {"quoted, UTF-8 and literal domains", test_quoted_utf8_literal},
        {"malformed and oversized", test_rejects},
        {"ASCII lower-casing", test_lower},
        {"whole local part and delimiter sets", test_full_local_and_delimiters},
        {"format parses back to the same parts", test_format_round_trip},
        {NULL, NULL},
    };
    return testkit_run("mailaddr", cases);
}
