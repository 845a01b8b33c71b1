/* aliases_test: the aliases(5) parser — the seed's own file, comments, continuation lines,
 * quoting, folding, and every refusal naming its line. */
#include "aliases.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

static pool_t *pool;
static char err[256];

static long parse(const char *text, int fold, struct aliases_entry **out)
{
    err[0] = 0;
    return aliases_parse(pool, text, strlen(text), fold, out, err, sizeof(err));
}

/* The aliases file of the seed (§3.2), tabs and all. */
static void test_seed_file(void)
{
    pool = pool_create(0);
    const char *seed = "MAILER-DAEMON:  postmaster\n"
                       "postmaster:     root\n"
                       "bin:            root\n"
                       "manager:        root    \n"
                       "root:           hurd\n";
    struct aliases_entry *e;
    CU_ASSERT_EQUAL_FATAL(parse(seed, 1, &e), 5);
    CU_ASSERT_STRING_EQUAL(e->name, "mailer-daemon");
    CU_ASSERT_EQUAL(e->ntargets, 1);
    CU_ASSERT_STRING_EQUAL(e->targets[0], "postmaster");
    CU_ASSERT_EQUAL(e->line, 1);
    e = e->next->next->next;
    CU_ASSERT_STRING_EQUAL(e->name, "manager");
    CU_ASSERT_STRING_EQUAL(e->targets[0], "root");
    CU_ASSERT_STRING_EQUAL(e->next->name, "root");
    CU_ASSERT_STRING_EQUAL(e->next->targets[0], "hurd");
    CU_ASSERT_EQUAL(e->next->line, 5);
    CU_ASSERT_PTR_NULL(e->next->next);
    CU_ASSERT_EQUAL_FATAL(parse(seed, 0, &e), 5);
    CU_ASSERT_STRING_EQUAL(e->name, "MAILER-DAEMON"); /* case kept when lookups are exact */
    pool_destroy(pool);
}

static void test_comments_continuations_quotes(void)
{
    pool = pool_create(0);
    const char *text = "# the staff list\r\n"
                       "\r\n"
                       "staff: hurd, cyrus,\r\n"
                       "   # a comment amid the continuation\r\n"
                       "\t\"john doe\"@example.org ,\r\n"
                       "  \"a, b\"@example.org, hurd+lists@example.test\r\n"
                       "\"quoted name\": root\n"
                       "Forward: someone@yahoo.co.kr";
    struct aliases_entry *e;
    CU_ASSERT_EQUAL_FATAL(parse(text, 1, &e), 3);
    CU_ASSERT_STRING_EQUAL(e->name, "staff");
    CU_ASSERT_EQUAL(e->line, 3);
    CU_ASSERT_EQUAL_FATAL(e->ntargets, 5);
    CU_ASSERT_STRING_EQUAL(e->targets[0], "hurd");
    CU_ASSERT_STRING_EQUAL(e->targets[1], "cyrus");
    CU_ASSERT_STRING_EQUAL(e->targets[2], "\"john doe\"@example.org");
    CU_ASSERT_STRING_EQUAL(e->targets[3], "\"a, b\"@example.org");
    CU_ASSERT_STRING_EQUAL(e->targets[4], "hurd+lists@example.test");
    CU_ASSERT_STRING_EQUAL(e->next->name, "quoted name");
    CU_ASSERT_EQUAL(e->next->line, 7);
    CU_ASSERT_STRING_EQUAL(e->next->next->name, "forward");
    CU_ASSERT_STRING_EQUAL(e->next->next->targets[0], "someone@yahoo.co.kr");
    CU_ASSERT_EQUAL(parse("", 1, &e), 0);
    CU_ASSERT_EQUAL(parse("# nothing\n\n   \n", 1, &e), 0);
    /* Names that differ only in case are two names when lookups are exact. */
    CU_ASSERT_EQUAL(parse("Root: a\nroot: b\n", 0, &e), 2);
    pool_destroy(pool);
}

/* Every refusal names the physical line the offending text is on. */
static void test_refusals_name_the_line(void)
{
    pool = pool_create(0);
    struct {
        const char *text, *want;
    } cases[] = {
        {"root: hurd\nbad: |/usr/bin/procmail\n", "line 2: '|/usr/bin/procmail': pipe"},
        {"bad: \"|/usr/bin/vacation hurd\"\n", "line 1: '\"|/usr/bin/vacation hurd\"': pipe"},
        {"list: :include:/etc/mail/list\n", "line 1: ':include:/etc/mail/list': :include:"},
        {"log: /var/log/mail.copy\n", "line 1: '/var/log/mail.copy': file"},
        {"staff: hurd,\n  cyrus,\n  |evil\n", "line 3: '|evil': pipe"},
        {"root hurd\n", "line 1: missing ':'"},
        {": hurd\n", "line 1: missing alias name"},
        {"  hurd\n", "line 1: continuation line without an alias"},
        {"# c\n\tcontinued\n", "line 2: continuation line without an alias"},
        {"root:\n", "line 1: alias 'root' has no targets"},
        {"root: , ,\n", "line 1: alias 'root' has no targets"},
        {"root@example.test: hurd\n", "line 1: 'root@example.test' is not an alias name"},
        {"a b: hurd\n", "line 1: 'a b' is not an alias name"},
        {"root: a b\n", "line 1: 'a b': not an address"},
        {"root: hurd@\n", "line 1: 'hurd@': not an address"},
        {"root: hurd\n\nRoot: cyrus\n", "line 3: duplicate alias 'root' (first on line 1)"},
        {"x: a\ny: \"unterminated\n", "line 2: '\"unterminated': not an address"},
        {"root: hu\x01rd\n", "line 1: 'hu?rd': not an address"},
        {"root: hu\xffrd\n", "line 1: 'hu?rd': not an address"},
        {NULL, NULL},
    };
    for (int i = 0; cases[i].text; i++) {
        struct aliases_entry *e;
        long n = parse(cases[i].text, 1, &e);
        CU_ASSERT_EQUAL(n, -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].want));
        if (n != -1 || !strstr(err, cases[i].want))
            printf("\ncase %d: got %ld '%s', want '%s'\n", i, n, err, cases[i].want);
    }
    const char nul[] = "root: hurd\nx: a\0b\n";
    struct aliases_entry *e;
    CU_ASSERT_EQUAL(aliases_parse(pool, nul, sizeof(nul) - 1, 1, &e, err, sizeof(err)), -1);
    CU_ASSERT_STRING_EQUAL(err, "line 2: NUL byte");
    pool_destroy(pool);
}

/* Long or hostile text is shown bounded and printable. */
static void test_messages_are_bounded(void)
{
    pool = pool_create(0);
    char text[3000];
    memcpy(text, "root: ", 6);
    memset(text + 6, 'x', 2000);
    memcpy(text + 2006, " y\n", 4);
    struct aliases_entry *e;
    CU_ASSERT_EQUAL(parse(text, 1, &e), -1);
    CU_ASSERT(strlen(err) < 160);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "xxx...'"));
    pool_destroy(pool);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"the seed's aliases file", test_seed_file},
        {"comments, continuation lines and quotes", test_comments_continuations_quotes},
        {"refusals name the line", test_refusals_name_the_line},
        {"messages are bounded", test_messages_are_bounded},
        {NULL, NULL},
    };
    return testkit_run("aliases", cases);
}
