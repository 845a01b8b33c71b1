/* limits_test: CUnit tests that no script or message can make a run take unbounded time
 * or memory - action and redirect limits, variable and string sizes, the work limit on
 * pathological matches, hostile MIME - and a fuzz loop (fixed seed, bounded count) over
 * mutated scripts and messages that must never crash, leak or hang the parser or the
 * interpreter. Run it under SANITIZE=1 too. */
#include "sieve/sieve.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char MSG[] =
    "From: 최영봉 <foo@mydomain.com>\r\n"
    "To: 채림 <bar@yahoo.co.kr>, list: a@example.com;\r\n"
    "Subject: =?EUC-KR?B?vsa9ziDF1726xq4uLi4=?=\r\n"
    "Message-ID: <m1@mydomain.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=\"xx\"\r\n"
    "\r\n"
    "--xx\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "이것은 테스트 메일입니다.\r\n"
    "--xx\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>hello</p>\r\n"
    "--xx--\r\n";

static const struct sieve_envelope ENV = {"foo@mydomain.com", "bar@yahoo.co.kr", NULL, 0};

/* A growing text for building long scripts and messages (freed by sb_done). */
struct sb {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->len + (size_t)n + 1 > b->cap) {
        b->cap = (b->len + (size_t)n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void sb_done(struct sb *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Parses and runs; the result in *out, the return of sieve_run (-2: did not parse). */
static int run_cfg(pool_t *pool, const char *script, size_t slen, const char *msg,
                   size_t mlen, const struct sieve_config *cfg, struct sieve_result *out)
{
    struct sieve_error err;
    sieve_script_t *s = sieve_parse(pool, script, slen, cfg, &err);
    if (!s)
        return -2;
    struct sieve_message m = {msg, mlen};
    return sieve_run(s, &m, &ENV, pool, out);
}

static int run(pool_t *pool, const char *script, struct sieve_result *out)
{
    return run_cfg(pool, script, strlen(script), MSG, strlen(MSG), NULL, out);
}

/* The run failed and fell back to the implicit keep alone. */
static void assert_fallback(const struct sieve_result *r, const char *words)
{
    CU_ASSERT_EQUAL(r->nactions, 1);
    CU_ASSERT(r->nactions == 1 && r->actions[0].kind == SIEVE_KEEP);
    CU_ASSERT_PTR_NOT_NULL(r->error);
    CU_ASSERT_PTR_NOT_NULL(r->error ? strstr(r->error, words) : NULL);
    if (r->error && !strstr(r->error, words))
        printf("\nerror: %s (wanted '%s')\n", r->error, words);
}

static void test_action_limits(void)
{
    pool_t *pool = pool_create(0);
    struct sieve_result r;
    struct sb b = {0};
    /* Thousands of fileinto commands in a script of legal size. */
    sb_add(&b, "require \"fileinto\";\n");
    for (int i = 0; i < 3000; i++)
        sb_add(&b, "fileinto \"f%d\";\n", i);
    CU_ASSERT(b.len < 100 * 1024);
    CU_ASSERT_EQUAL(run(pool, b.p, &r), -1);
    assert_fallback(&r, "line 34: too many actions (the limit is 32)");
    sb_done(&b);
    /* Duplicates are merged, so they do not count. */
    sb_add(&b, "require \"fileinto\";\n");
    for (int i = 0; i < 3000; i++)
        sb_add(&b, "fileinto \"same\";\n");
    CU_ASSERT_EQUAL(run(pool, b.p, &r), 0);
    CU_ASSERT_EQUAL(r.nactions, 1);
    sb_done(&b);
    /* Four redirects are allowed, the fifth is an error. */
    for (int i = 0; i < 4; i++)
        sb_add(&b, "redirect \"r%d@example.com\";\n", i);
    CU_ASSERT_EQUAL(run(pool, b.p, &r), 0);
    CU_ASSERT_EQUAL(r.nactions, 4);
    sb_add(&b, "redirect \"r9@example.com\";\n");
    CU_ASSERT_EQUAL(run(pool, b.p, &r), -1);
    assert_fallback(&r, "line 5: too many redirects (the limit is 4)");
    sb_done(&b);
    pool_destroy(pool);
}

static void test_variable_limits(void)
{
    pool_t *pool = pool_create(0);
    struct sieve_result r;
    struct sb b = {0};
    /* Doubling a variable 40 times stays at the 4000-octet cap. */
    sb_add(&b, "require [\"variables\", \"fileinto\"];\nset \"x\" \"0123456789\";\n");
    for (int i = 0; i < 40; i++)
        sb_add(&b, "set \"x\" \"${x}${x}\";\n");
    sb_add(&b, "set :length \"n\" \"${x}\"; fileinto \"${n}\";");
    CU_ASSERT_EQUAL(run(pool, b.p, &r), 0);
    CU_ASSERT_STRING_EQUAL(r.actions[0].mailbox, "4000");
    sb_done(&b);
    /* A string expanding to a lot is cut at 64 KiB. */
    sb_add(&b, "require [\"variables\", \"fileinto\"];\nset \"x\" \"");
    for (int i = 0; i < 4000; i++)
        sb_add(&b, "x");
    sb_add(&b, "\";\nset \"y\" \"");
    for (int i = 0; i < 200; i++)
        sb_add(&b, "${x}");
    sb_add(&b, "\";\nset :length \"n\" \"");
    for (int i = 0; i < 20; i++)
        sb_add(&b, "${y}"); /* 20 x 4000 octets */
    sb_add(&b, "\"; fileinto \"${n}\";");
    CU_ASSERT_EQUAL(run(pool, b.p, &r), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r.actions[0].mailbox);
    CU_ASSERT_STRING_EQUAL(r.actions[0].mailbox, "65536");
    sb_done(&b);
    /* Values cut on a character boundary: 4000 octets of 3-octet Korean characters. */
    sb_add(&b, "require [\"variables\", \"fileinto\"];\nset \"k\" \"");
    for (int i = 0; i < 1500; i++)
        sb_add(&b, "한");
    sb_add(&b, "\"; set :length \"n\" \"${k}\"; fileinto \"${n}\";");
    CU_ASSERT_EQUAL(run(pool, b.p, &r), 0);
    CU_ASSERT_STRING_EQUAL(r.actions[0].mailbox, "1333");
    sb_done(&b);
    /* At most 128 variables. */
    sb_add(&b, "require \"variables\";\n");
    for (int i = 0; i < 129; i++)
        sb_add(&b, "set \"v%d\" \"x\";\n", i);
    CU_ASSERT_EQUAL(run(pool, b.p, &r), -1);
    assert_fallback(&r, "line 130: too many variables");
    sb_done(&b);
    pool_destroy(pool);
}

static void test_work_limit(void)
{
    pool_t *pool = pool_create(0);
    struct sieve_result r;
    struct sb msg = {0}, script = {0};
    /* A long header and a pattern with many stars, each segment failing late. */
    sb_add(&msg, "Subject: ");
    for (int i = 0; i < 200000; i++)
        sb_add(&msg, "a");
    sb_add(&msg, "\r\n\r\nbody\r\n");
    sb_add(&script, "if header :matches \"Subject\" \"");
    for (int i = 0; i < 200; i++)
        sb_add(&script, "*aaaaaaaaaaaaaaaaaaaab");
    sb_add(&script, "*\" { discard; }");
    struct sieve_config cfg;
    sieve_config_default(&cfg);
    cfg.max_steps = 1000000;
    CU_ASSERT_EQUAL(run_cfg(pool, script.p, script.len, msg.p, msg.len, &cfg, &r), -1);
    assert_fallback(&r, "too much work");
    /* The default limit lets the same search finish with the right answer. */
    CU_ASSERT_EQUAL(run_cfg(pool, script.p, script.len, msg.p, msg.len, NULL, &r), 0);
    CU_ASSERT(r.nactions == 1 && r.actions[0].kind == SIEVE_KEEP && !r.error);
    sb_done(&script);
    /* :contains is linear: a 200 KB value against a long near-miss key. */
    sb_add(&script, "if header :contains \"Subject\" \"");
    for (int i = 0; i < 50000; i++)
        sb_add(&script, "a");
    sb_add(&script, "b\" { discard; }");
    CU_ASSERT_EQUAL(run_cfg(pool, script.p, script.len, msg.p, msg.len, NULL, &r), 0);
    CU_ASSERT(r.nactions == 1 && r.actions[0].kind == SIEVE_KEEP);
    sb_done(&script);
    sb_done(&msg);
    pool_destroy(pool);
}

/* A body test over a big message stays within the limit and the pool holds about what
 * the message needs, whatever the number of body tests. */
static void test_big_message(void)
{
    pool_t *pool = pool_create(0);
    struct sieve_result r;
    size_t body = 8 * 1024 * 1024;
    char *msg = malloc(body + 256);
    int h = sprintf(msg, "Subject: big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    for (size_t i = 0; i < body; i++)
        msg[h + i] = (i % 80 == 79) ? '\n' : "abcdefgh"[i % 8];
    strcpy(msg + h + body, "needle\r\n");
    struct sb s = {0};
    sb_add(&s, "require \"body\";\n");
    for (int i = 0; i < 5; i++)
        sb_add(&s, "if body :contains \"nee%cle\" { }\n", 'a' + i);
    sb_add(&s, "if body :contains \"needle\" { discard; }");
    CU_ASSERT_EQUAL(run_cfg(pool, s.p, s.len, msg, strlen(msg), NULL, &r), 0);
    CU_ASSERT(r.nactions == 1 && r.actions[0].kind == SIEVE_DISCARD);
    size_t used = pool_used(pool);
    CU_ASSERT(used < 3 * body);
    printf("(%zu MiB of pool for an 8 MiB body) ", used >> 20);
    sb_done(&s);
    free(msg);
    pool_destroy(pool);
}

/* Deep MIME nesting and many parts: GMime stops at its own limits, we look 64 deep. */
static void test_hostile_mime(void)
{
    pool_t *pool = pool_create(0);
    struct sieve_result r;
    struct sb msg = {0};
    sb_add(&msg, "Subject: deep\r\nMIME-Version: 1.0\r\n");
    for (int i = 0; i < 3000; i++)
        sb_add(&msg, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i);
    sb_add(&msg, "Content-Type: text/plain\r\n\r\nhidden\r\n");
    const char *s = "require \"body\"; if body :contains \"hidden\" { discard; }";
    CU_ASSERT_EQUAL(run_cfg(pool, s, strlen(s), msg.p, msg.len, NULL, &r), 0);
    CU_ASSERT(r.nactions == 1 && r.actions[0].kind == SIEVE_KEEP); /* too deep to see */
    sb_done(&msg);
    pool_destroy(pool);
}

/* ---- fuzzing ---- */

static unsigned long long rng = 0x5eed5eedULL;

static unsigned rnd(unsigned n)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((rng >> 33) % n);
}

static const char *const seeds[] = {
    "require [\"reject\", \"fileinto\"];\nif address :contains :all \"From\" "
    "\"hurd@mydomain.co.kr\" {\n  reject \"Testing..\";\n}\n",
    "require [\"fileinto\", \"variables\", \"imap4flags\", \"body\", \"envelope\", "
    "\"subaddress\", \"copy\", \"vacation\"];\n"
    "if header :matches \"Subject\" \"*테스트*\" { set :upper \"s\" \"${1}\"; "
    "addflag \"\\\\Seen ${s}\"; fileinto :copy :flags \"${s}\" \"INBOX.${1}\"; }\n"
    "elsif anyof (envelope :detail \"to\" \"x\", body :content \"text\" :contains \"hello\")"
    " { vacation :days 2 :subject \"away\" text:\nbye\n.\n; }\n"
    "else { if hasflag :contains \"seen\" { discard; stop; } keep :flags \"a b\"; }\n",
    "require [\"body\", \"variables\"]; /* c */ # d\n"
    "if allof (size :over 1K, not exists [\"X\", \"Y\"], string :is \"${0}\" \"\") "
    "{ redirect \"a@b.c\"; } if body :raw :matches \"*\\\\**\" { keep; }",
};

static const char *const tokens[] = {
    "if", "elsif", "else", "require", "keep", "discard", "stop", "fileinto", "redirect",
    "reject", "vacation", "set", "setflag", "hasflag", "header", "address", "envelope",
    "body", "string", "allof", "anyof", "not", "true", "false", "size", "exists", ":is",
    ":contains", ":matches", ":over", ":copy", ":flags", ":days", ":content", ":raw",
    ":comparator", ":user", ":detail", ":lower", ":length", "\"i;octet\"", "\"x\"",
    "\"${1}\"", "\"*?\\\\\"", "[", "]", "{", "}", "(", ")", ";", ",", "10K", "text:\n.\n",
    "\"아싸\"", "/*", "*/", "#", "\n", " ", "\"", "\\", "${", "\xff", "\xe4\xbd",
};

/* One of: flip, insert, delete octets; insert, replace a token; splice two seeds. */
static size_t mutate(char *buf, size_t len, size_t cap)
{
    unsigned rounds = 1 + rnd(3);
    for (unsigned k = 0; k < rounds; k++) {
        unsigned op = rnd(6);
        size_t at = len ? rnd((unsigned)len + 1) : 0;
        if (op == 0 && len) {
            buf[rnd((unsigned)len)] ^= (char)(1 << rnd(8));
        } else if (op == 1 && len + 1 < cap) {
            memmove(buf + at + 1, buf + at, len - at);
            buf[at] = (char)rnd(256);
            len++;
        } else if (op == 2 && len) {
            size_t n = 1 + rnd(16);
            if (at + n > len)
                n = len - at;
            memmove(buf + at, buf + at + n, len - at - n);
            len -= n;
        } else if (op <= 4) {
            const char *t = tokens[rnd(sizeof(tokens) / sizeof(tokens[0]))];
            size_t tl = strlen(t);
            if (len + tl < cap) {
                memmove(buf + at + tl, buf + at, len - at);
                memcpy(buf + at, t, tl);
                len += tl;
            }
        } else {
            const char *o = seeds[rnd(sizeof(seeds) / sizeof(seeds[0]))];
            size_t from = rnd((unsigned)strlen(o)), n = strlen(o) - from;
            if (at + n < cap) {
                memcpy(buf + at, o + from, n);
                if (at + n > len)
                    len = at + n;
            }
        }
    }
    return len;
}

static void test_fuzz_scripts(void)
{
    enum { ROUNDS = 20000, CAP = 4096 };
    char buf[CAP];
    unsigned parsed = 0, ran = 0;
    for (int i = 0; i < ROUNDS; i++) {
        const char *seed = seeds[rnd(sizeof(seeds) / sizeof(seeds[0]))];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        len = mutate(buf, len, CAP);
        pool_t *pool = pool_create(0);
        struct sieve_error err;
        sieve_script_t *s = sieve_parse(pool, buf, len, NULL, &err);
        if (s) {
            parsed++;
            struct sieve_result r;
            struct sieve_message m = {MSG, strlen(MSG)};
            int rc = sieve_run(s, &m, &ENV, pool, &r);
            CU_ASSERT(rc == 0 || rc == -1);
            CU_ASSERT(r.nactions >= 1 || rc == 0);
            ran++;
        } else {
            CU_ASSERT(err.line >= 1 && err.column >= 1 && err.message && *err.message);
        }
        pool_destroy(pool);
    }
    printf("(%u of %d mutated scripts parsed and ran) ", ran, ROUNDS);
    CU_ASSERT(parsed > ROUNDS / 50); /* the mutations keep some scripts valid */
}

static void test_fuzz_messages(void)
{
    enum { ROUNDS = 3000, CAP = 8192 };
    const char *script =
        "require [\"body\", \"vacation\", \"variables\", \"envelope\", \"fileinto\"];\n"
        "if address :matches [\"From\", \"To\", \"Cc\"] \"*@*\" { set \"d\" \"${2}\"; }\n"
        "if header :contains [\"Subject\", \"X-A\"] \"테스트\" { fileinto \"t\"; }\n"
        "if body :content \"\" :contains \"hello\" { keep; }\n"
        "if body :text :matches \"*?*\" { keep; }\n"
        "vacation \"away\";\n";
    pool_t *spool = pool_create(0);
    struct sieve_error err;
    sieve_script_t *s = sieve_parse(spool, script, strlen(script), NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    static const char *const bits[] = {
        "\r\n", "\n", ": ", "=?UTF-8?B?7ZWc?=", "=?EUC-KR?Q?=C7=D1?=", "=?x?", "<", ">", "\"",
        "Content-Type: multipart/mixed; boundary=q\r\n", "--q\r\n", "--q--\r\n",
        "Content-Transfer-Encoding: base64\r\n", "Content-Type: message/rfc822\r\n",
        "To: a@b, g: c@d;, (x) e@f\r\n", "\xc3", "\x00", " \t", "@", ",", ";",
    };
    char buf[CAP];
    for (int i = 0; i < ROUNDS; i++) {
        size_t len = strlen(MSG);
        memcpy(buf, MSG, len);
        unsigned rounds = 1 + rnd(12);
        for (unsigned k = 0; k < rounds; k++) {
            size_t at = rnd((unsigned)len + 1);
            if (rnd(3) == 0 && len) {
                buf[rnd((unsigned)len)] = (char)rnd(256);
                continue;
            }
            const char *b = bits[rnd(sizeof(bits) / sizeof(bits[0]))];
            size_t bl = strlen(b) ? strlen(b) : 1; /* the NUL bit is one octet */
            if (len + bl >= CAP)
                break;
            memmove(buf + at + bl, buf + at, len - at);
            memcpy(buf + at, b, bl);
            len += bl;
        }
        pool_t *pool = pool_create(0);
        struct sieve_result r;
        struct sieve_message m = {buf, len};
        int rc = sieve_run(s, &m, &ENV, pool, &r);
        CU_ASSERT(rc == 0);
        CU_ASSERT(r.nactions >= 1);
        pool_destroy(pool);
    }
    pool_destroy(spool);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"actions and redirects", test_action_limits},
        {"variable and string sizes", test_variable_limits},
        {"work limit on pathological matches", test_work_limit},
        {"body tests on an 8 MiB message", test_big_message},
        {"deeply nested MIME", test_hostile_mime},
        {"fuzz: mutated scripts", test_fuzz_scripts},
        {"fuzz: mutated messages", test_fuzz_messages},
        {NULL, NULL},
    };
    return testkit_run("sieve limits", cases);
}
