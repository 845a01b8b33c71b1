/* lexer_test: CUnit tests for the Sieve lexer (strings, escapes, text: blocks, comments,
 * numbers) and for sieve_parse's refusals: every error names the right line and column
 * and says what is wrong in words a script author understands. */
#include "sieve/sieve_int.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

static pool_t *pool;

/* All tokens of text into toks (at most max); returns their number, or -1 on an error. */
static int lex_all(const char *text, struct sv_token *toks, int max, struct sieve_error *err)
{
    struct sv_lexer lx;
    sv_lex_init(&lx, pool, text, strlen(text), err);
    for (int n = 0; n < max; n++) {
        if (sv_lex_next(&lx, &toks[n]) != 0)
            return -1;
        if (toks[n].kind == SV_T_EOF)
            return n;
    }
    return max;
}

static void test_tokens(void)
{
    pool = pool_create(0);
    struct sv_token t[32];
    struct sieve_error err;
    int n = lex_all("if header :Contains [\"a\", \"b\"] { keep; } # done\n"
                    "size :over 100K; /* c\nomment */ stop ;",
                    t, 32, &err);
    CU_ASSERT_EQUAL_FATAL(n, 18);
    CU_ASSERT_EQUAL(t[0].kind, SV_T_IDENT);
    CU_ASSERT_STRING_EQUAL(t[0].text, "if");
    CU_ASSERT_EQUAL(t[2].kind, SV_T_TAG);
    CU_ASSERT_STRING_EQUAL(t[2].text, "Contains");
    CU_ASSERT_EQUAL(t[3].kind, SV_T_LBRACKET);
    CU_ASSERT_EQUAL(t[4].kind, SV_T_STRING);
    CU_ASSERT_EQUAL(t[5].kind, SV_T_COMMA);
    CU_ASSERT_EQUAL(t[7].kind, SV_T_RBRACKET);
    CU_ASSERT_EQUAL(t[8].kind, SV_T_LBRACE);
    CU_ASSERT_EQUAL(t[10].kind, SV_T_SEMICOLON);
    CU_ASSERT_EQUAL(t[11].kind, SV_T_RBRACE);
    CU_ASSERT_EQUAL(t[14].kind, SV_T_NUMBER);
    CU_ASSERT_EQUAL(t[14].number, 100 * 1024);
    CU_ASSERT_EQUAL(t[14].line, 2);
    CU_ASSERT_EQUAL(t[14].column, 12);
    CU_ASSERT_STRING_EQUAL(t[16].text, "stop"); /* after a comment spanning lines */
    CU_ASSERT_EQUAL(t[16].line, 3);
    CU_ASSERT_EQUAL(t[16].column, 11);
    pool_destroy(pool);
}

static void test_numbers(void)
{
    pool = pool_create(0);
    struct sv_token t[8];
    struct sieve_error err;
    CU_ASSERT_EQUAL_FATAL(lex_all("0 7 1k 2M 3G 9223372036854775807", t, 8, &err), 6);
    CU_ASSERT_EQUAL(t[0].number, 0);
    CU_ASSERT_EQUAL(t[1].number, 7);
    CU_ASSERT_EQUAL(t[2].number, 1024);
    CU_ASSERT_EQUAL(t[3].number, 2ULL << 20);
    CU_ASSERT_EQUAL(t[4].number, 3ULL << 30);
    CU_ASSERT_EQUAL(t[5].number, 9223372036854775807ULL);
    CU_ASSERT_EQUAL(lex_all("99999999999999999999", t, 8, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "too large"));
    CU_ASSERT_EQUAL(lex_all("9000000000G", t, 8, &err), -1);
    CU_ASSERT_EQUAL(lex_all("size :over 10KB;", t, 8, &err), -1);
    CU_ASSERT_EQUAL(err.column, 12);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "K, M or G"));
    pool_destroy(pool);
}

static void test_quoted_strings(void)
{
    pool = pool_create(0);
    struct sv_token t[8];
    struct sieve_error err;
    CU_ASSERT_EQUAL_FATAL(
        lex_all("\"a\\\"b\\\\c\\d\" \"\" \"two\nlines\" \"아싸 테스트\"", t, 8, &err), 4);
    CU_ASSERT_STRING_EQUAL(t[0].text, "a\"b\\cd"); /* \d is just d (RFC 5228 2.4.2) */
    CU_ASSERT_EQUAL(t[1].len, 0);
    CU_ASSERT_STRING_EQUAL(t[2].text, "two\nlines");
    CU_ASSERT_STRING_EQUAL(t[3].text, "아싸 테스트");
    CU_ASSERT_EQUAL(t[3].line, 2);
    CU_ASSERT_EQUAL(t[3].column, 8);
    /* A comment marker inside a string is text. */
    CU_ASSERT_EQUAL_FATAL(lex_all("\"# not /* a comment\"", t, 8, &err), 1);
    CU_ASSERT_STRING_EQUAL(t[0].text, "# not /* a comment");
    pool_destroy(pool);
}

static void test_multiline(void)
{
    pool = pool_create(0);
    struct sv_token t[8];
    struct sieve_error err;
    /* CRLF, dot-stuffing, a hash comment after text:, an empty line. */
    const char *s = "reject text: # why\r\n"
                    "저는 휴가 중입니다.\r\n"
                    "..dotted\r\n"
                    "\r\n"
                    ".\r\n"
                    ";";
    CU_ASSERT_EQUAL_FATAL(lex_all(s, t, 8, &err), 3);
    CU_ASSERT_EQUAL(t[1].kind, SV_T_STRING);
    CU_ASSERT_STRING_EQUAL(t[1].text, "저는 휴가 중입니다.\r\n.dotted\r\n\r\n");
    CU_ASSERT_EQUAL(t[2].kind, SV_T_SEMICOLON);
    CU_ASSERT_EQUAL(t[2].line, 6);
    /* LF alone is accepted; the value still gets CRLF. TEXT: is case-insensitive. */
    CU_ASSERT_EQUAL_FATAL(lex_all("TEXT:\nline one\n.\n", t, 8, &err), 1);
    CU_ASSERT_STRING_EQUAL(t[0].text, "line one\r\n");
    /* The terminating dot may end the script. */
    CU_ASSERT_EQUAL_FATAL(lex_all("text:\nx\n.", t, 8, &err), 1);
    CU_ASSERT_STRING_EQUAL(t[0].text, "x\r\n");
    pool_destroy(pool);
}

/* The error sieve_parse gives for text (NULL if it parses). */
static const struct sieve_error *parse_error(const char *text)
{
    static struct sieve_error err;
    sieve_script_t *s = sieve_parse(pool, text, strlen(text), NULL, &err);
    if (s)
        return NULL;
    CU_ASSERT_PTR_NOT_NULL(err.message);
    return &err;
}

static void expect_error(const char *text, unsigned line, unsigned column, const char *words)
{
    const struct sieve_error *e = parse_error(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    int ok = e->line == line && e->column == column && strstr(e->message, words);
    CU_ASSERT(ok);
    if (!ok)
        printf("\n%s\n  -> %u:%u %s (wanted %u:%u '%s')\n", text, e->line, e->column,
               e->message, line, column, words);
}

static void test_lexical_errors(void)
{
    pool = pool_create(0);
    expect_error("keep;\nreject \"never closed;\n", 2, 8, "unterminated string");
    expect_error("keep; /* open\ncomment", 1, 7, "unterminated comment");
    expect_error("require \"reject\";\nreject text:\nno end\n", 2, 8, "unterminated multi-line");
    expect_error("require \"reject\";\nreject text: oops\nx\n.\n;", 2, 8, "end of the line");
    expect_error("keep;\n  @", 2, 3, "unexpected character '@'");
    expect_error("fileinto \"\xc3\x28\";", 1, 10, "not valid UTF-8");
    expect_error("keep :", 1, 6, "needs a name after ':'");
    struct sieve_error err;
    CU_ASSERT_PTR_NULL(sieve_parse(pool, "keep;\ndiscard\0;", 15, NULL, &err));
    CU_ASSERT_EQUAL(err.line, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "NUL"));
    pool_destroy(pool);
}

static void test_syntax_errors(void)
{
    pool = pool_create(0);
    expect_error("keep\ndiscard;", 2, 1, "is a ';' missing before \"discard\"?");
    expect_error("keep\n\"x\";", 1, 1, "wrong arguments for \"keep\"");
    expect_error("discard keep", 1, 13, "expected ';' or '{' after the arguments of \"discard\"");
    expect_error("if true { keep;", 1, 16, "missing '}': the block opened on line 1");
    expect_error("keep; }", 1, 7, "unexpected '}'");
    expect_error("\"keep\";", 1, 1, "expected a command");
    expect_error("if header :is [\"a\" \"b\"] { }", 1, 20, "expected ',' or ']'");
    expect_error("if header :is [] \"x\" { }", 1, 16, "at least one string");
    expect_error("if anyof (true false) { }", 1, 16, "is a ',' missing before \"false\"?");
    expect_error("if anyof (true \"x\") { }", 1, 11, "wrong arguments for \"true\"");
    expect_error("if anyof (true, false; { }", 1, 22, "expected ',' or ')'");
    expect_error("if anyof (true, \"x\") { }", 1, 17, "expected a test");
    pool_destroy(pool);
}

static void test_semantic_errors(void)
{
    pool = pool_create(0);
    expect_error("fileint \"x\";", 1, 1, "unknown command \"fileint\"");
    expect_error("fileinto \"Junk\";", 1, 1, "require \"fileinto\"");
    expect_error("require \"fileinto\";\nfileinto :copy \"Junk\";", 2, 10, "require \"copy\"");
    expect_error("require \"reject\";\nif heade :is \"a\" \"b\" { reject \"x\"; }", 2, 4,
                 "unknown test \"heade\"");
    expect_error("if keep { }", 1, 4, "is a command, not a test");
    expect_error("header :is \"a\" \"b\";", 1, 1, "is a test, not a command");
    expect_error("if header :foo \"a\" \"b\" { }", 1, 11, "has no tag :foo");
    expect_error("if header \"a\" :is \"b\" { }", 1, 15, "must come before");
    expect_error("if header :is :contains \"a\" \"b\" { }", 1, 15, "exclude each other");
    expect_error("if header :is :is \"a\" \"b\" { }", 1, 15, "given twice");
    expect_error("if header :is \"a\" { }", 1, 4, "usage: header");
    expect_error("if header 1 \"b\" { }", 1, 11, "string or a string list");
    expect_error("require \"fileinto\"; fileinto [\"a\", \"b\"];", 1, 30, "single string");
    expect_error("if size :over \"1\" { }", 1, 4, "usage: size");
    expect_error("if size 100 { }", 1, 4, "usage: size");
    expect_error("if header :comparator \"i;ascii-numeric\" \"a\" \"b\" { }", 1, 23,
                 "comparator \"i;ascii-numeric\" is not supported");
    expect_error("if header :comparator [\"i;octet\"] \"a\" \"b\" { }", 1, 11,
                 "needs a string");
    expect_error("require \"envelope\";\nif envelope :is \"bcc\" \"x\" { }", 2, 17,
                 "envelope part \"bcc\"");
    expect_error("if address :is \"Subject\" \"x\" { }", 1, 16, "does not hold addresses");
    expect_error("if header :is \"Sub ject\" \"x\" { }", 1, 15, "not a valid header name");
    expect_error("if address :user \"to\" \"x\" { }", 1, 12, "require \"subaddress\"");
    expect_error("require \"foo\";", 1, 9, "unsupported extension \"foo\"");
    expect_error("keep;\nrequire \"fileinto\";", 2, 1, "must come before");
    expect_error("if true { require \"fileinto\"; }", 1, 11, "only allowed at the top");
    expect_error("elsif true { }", 1, 1, "must follow if or elsif");
    expect_error("if true { } keep; else { }", 1, 19, "must follow if or elsif");
    expect_error("if true { } else true { }", 1, 13, "else takes no test");
    expect_error("if true;", 1, 1, "needs a block");
    expect_error("if true false { }", 1, 9, "takes no test");
    expect_error("if (true, false) { }", 1, 1, "needs one test");
    expect_error("keep { }", 1, 1, "takes no block");
    expect_error("if not (true) { }", 1, 4, "one test, without parentheses");
    expect_error("if allof true { }", 1, 4, "list of tests in parentheses");
    expect_error("if true \"x\" { }", 1, 4, "wrong arguments for \"true\"");
    expect_error("if \"x\" true { }", 1, 4, "takes a test and a block");
    expect_error("redirect \"not an address\";", 1, 10, "not a valid address");
    expect_error("require \"fileinto\"; fileinto \"\";", 1, 30, "not a valid mailbox");
    expect_error("require \"variables\"; set \"1x\" \"y\";", 1, 26, "not a valid variable");
    expect_error("require \"variables\"; set :lower :upper \"x\" \"y\";", 1, 33,
                 "exclude each other");
    expect_error("require [\"variables\", \"fileinto\"]; fileinto \"${env.home}\";", 1, 46,
                 "namespace");
    expect_error("require \"imap4flags\"; setflag \"var\" \"\\\\Seen\";", 1, 31,
                 "require \"variables\"");
    expect_error("require \"vacation\"; vacation :days \"7\" \"x\";", 1, 30, "needs a number");
    expect_error("require \"body\"; if body :content \"text\" { }", 1, 20, "usage: body");
    pool_destroy(pool);
}

static void test_positions_count_characters(void)
{
    pool = pool_create(0);
    /* The Korean text before the error is 6 characters but 16 octets. */
    expect_error("# 아싸 테스트\nif header :is \"Subject\" \"아싸 테스트\" @", 2, 34,
                 "unexpected character '@'");
    expect_error("# 아싸\nif header :is \"Subject\" \"아싸 테스트\" { frob; }", 2, 36,
                 "unknown command \"frob\"");
    pool_destroy(pool);
}

static void test_limits_at_parse(void)
{
    pool = pool_create(0);
    struct sieve_config cfg;
    sieve_config_default(&cfg);
    cfg.max_script_size = 16;
    struct sieve_error err;
    CU_ASSERT_PTR_NULL(sieve_parse(pool, "keep; keep; keep; keep;", 23, &cfg, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "script too large"));
    /* 100 KiB is the default, the seed's sieve_maxscriptsize. */
    size_t n = 100 * 1024 + 1;
    char *big = pool_alloc(pool, n + 1);
    memset(big, ' ', n);
    memcpy(big, "keep;", 5);
    big[n] = 0;
    CU_ASSERT_PTR_NULL(sieve_parse(pool, big, n, NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(sieve_parse(pool, big, n - 1, NULL, &err));
    /* Nesting: 32 levels of blocks pass, 33 do not; tests count too. */
    char deep[4096] = "";
    for (int i = 0; i < 32; i++)
        strcat(deep, "if true {");
    for (int i = 0; i < 32; i++)
        strcat(deep, "}");
    CU_ASSERT_PTR_NOT_NULL(sieve_parse(pool, deep, strlen(deep), NULL, &err));
    strcpy(deep, "if ");
    for (int i = 0; i < 40; i++)
        strcat(deep, "not ");
    strcat(deep, "true { }");
    CU_ASSERT_PTR_NULL(sieve_parse(pool, deep, strlen(deep), NULL, &err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "nesting too deep"));
    pool_destroy(pool);
}

/* Scripts that must parse: the seed's, and the examples of the RFCs this implements
 * (RFC 5228's own runs in sieve_test). */
static void test_valid_scripts(void)
{
    pool = pool_create(0);
    static const char *const ok[] = {
        /* The seed (postfix_imapd_ldap.txt, 4.3). */
        "require [\"reject\", \"fileinto\"];\n\n"
        "if address :contains :all \"From\" \"hurd@mydomain.co.kr\" {\n"
        "        reject \"Testing..\";\n}\n",
        /* RFC 5228 2.4.2 multi-line. */
        "require \"reject\"; reject text:\n.. a stuffed line\n.\n;",
        /* RFC 5229 example. */
        "require [\"fileinto\", \"variables\"];\n"
        "if header :matches \"List-ID\" \"*<*@*\" { fileinto \"INBOX.lists.${2}\"; stop; }\n"
        "set :lower :upperfirst \"name\" \"${1}\";\n"
        "if string :is \"${name}\" \"\" { keep; }",
        /* RFC 5230 example. */
        "require \"vacation\";\n"
        "vacation :days 23 :addresses [\"tjs@example.edu\", \"ts4z@landru.example.edu\"]\n"
        "  \"I'm away until October 19. If it's an emergency, call 911, I guess.\" ;",
        /* RFC 5232 example. */
        "require [\"imap4flags\", \"fileinto\", \"variables\"];\n"
        "if size :over 1M { addflag \"MyFlags\" \"Big\"; }\n"
        "if hasflag :is \"MyFlags\" \"Big\" { fileinto :flags \"${MyFlags}\" \"INBOX.big\"; }\n"
        "keep :flags [\"\\\\Seen\", \"$Label1\"];",
        /* RFC 5173 example. */
        "require [\"body\", \"fileinto\"];\n"
        "if body :raw :contains \"MAKE MONEY FAST\" { discard; }\n"
        "if body :content \"text\" :contains [\"missile\", \"coordinates\"] "
        "{ fileinto \"secrets\"; }",
        /* RFC 5233 example. */
        "require [\"envelope\", \"subaddress\", \"fileinto\"];\n"
        "if envelope :user \"to\" \"ken\" { if envelope :detail \"to\" \"sieve\" "
        "{ fileinto \"inbox.ietf-sieve\"; } }",
        /* RFC 3894 and RFC 5429. */
        "require [\"copy\", \"fileinto\", \"ereject\"];\n"
        "fileinto :copy \"incoming\"; redirect :copy \"a@example.com\";"
        "if header :contains \"subject\" \"spam\" { ereject \"no\"; }",
        /* Identifiers are case-insensitive; comparators by name. */
        "IF HEADER :COMPARATOR \"i;octet\" :IS \"X\" \"y\" { KEEP; } ELSE { STOP; }",
        "",
        NULL,
    };
    for (int i = 0; ok[i]; i++) {
        const struct sieve_error *e = parse_error(ok[i]);
        CU_ASSERT_PTR_NULL(e);
        if (e)
            printf("\nscript %d: %u:%u %s\n", i, e->line, e->column, e->message);
    }
    pool_destroy(pool);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"tokens, comments and positions", test_tokens},
        {"numbers with K/M/G", test_numbers},
        {"quoted strings and escapes", test_quoted_strings},
        {"text: multi-line strings", test_multiline},
        {"lexical errors", test_lexical_errors},
        {"syntax errors", test_syntax_errors},
        {"unknown commands, tags, types, missing require", test_semantic_errors},
        {"columns count characters", test_positions_count_characters},
        {"size and nesting limits", test_limits_at_parse},
        {"RFC and seed scripts parse", test_valid_scripts},
        {NULL, NULL},
    };
    return testkit_run("sieve lexer and parser", cases);
}
