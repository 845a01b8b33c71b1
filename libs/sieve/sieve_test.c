/* sieve_test: CUnit tests running scripts over real RFC 5322 messages - the seed's
 * script, one test per construct of RFC 5228 and of each extension (RFC 3894, 5173,
 * 5229, 5230, 5232, 5233, 5429), with raw UTF-8 Korean headers as the seed's test mail
 * has and RFC 2047 encoded ones (UTF-8 and EUC-KR). Each test states the whole action
 * list it expects, so an extra or missing action fails it. */
#include "sieve/sieve.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pool_t *pool;

/* The seed's test mail (postfix_imapd_ldap.txt), 8-bit UTF-8 headers as sent. */
static const char MSG_SEED[] =
    "Return-Path: <foo@mydomain.com>\r\n"
    "From: 최영봉 <foo@mydomain.com>\r\n"
    "To: 채림 <bar@yahoo.co.kr>\r\n"
    "Subject: 아싸 테스트...\r\n"
    "Message-ID: <seed-1@mydomain.com>\r\n"
    "\r\n"
    "이것은 테스트 메일입니다. ^^;\r\n";

/* The seed's second test mail, from the address its Sieve example rejects. */
static const char MSG_HURD[] =
    "From: \"Youngbong Choe\" <Hurd@MyDomain.co.kr>\r\n"
    "To: hurd <hurd@mydomain.com>\r\n"
    "Subject: Test!!\r\n"
    "\r\n"
    "메일 발신 테스트입니다.\r\n";

/* Encoded words in EUC-KR and UTF-8, a group, folding, raw EUC-KR octets, and a MIME
 * body with text in EUC-KR quoted-printable, HTML, an attachment and a nested message. */
static const char MSG_MIME[] =
    "From: =?EUC-KR?B?w9a/tbrA?= <hurd+lists@sds.co.kr>\r\n"
    "To: =?UTF-8?B?7ZWc6riA?= <bar@yahoo.co.kr>, team: a@example.com,\r\n"
    "  \"x y\"@example.com;\r\n"
    "Cc: undisclosed-recipients:;\r\n"
    "Subject: =?EUC-KR?B?vsa9ziDF1726xq4uLi4=?=\r\n"
    "X-Utf8: =?UTF-8?B?7JWE7Iu4IO2FjOyKpO2KuC4uLg==?=\r\n"
    "X-Raw-Euckr: \xbe\xc6\xbd\xce\r\n"
    "X-Folded: first\r\n second\tthird  \r\n"
    "X-Empty:\r\n"
    "Message-ID: <e1@sds.co.kr>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    "\r\n"
    "prologue text here\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=euc-kr\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "=C7=D1=B1=DB =BA=BB=B9=AE =C5=D7=BD=BA=C6=AE=C0=D4=B4=CF=B4=D9.\r\n"
    "--b1\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<html><body><p>Meet at <b>noon</b> &amp; bring coordinates</p></body></html>\r\n"
    "--b1\r\n"
    "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "c2VjcmV0IGF0dGFjaG1lbnQgcGF5bG9hZA==\r\n"
    "--b1\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "From: inner@example.org\r\n"
    "Subject: inner message\r\n"
    "\r\n"
    "inner body with missile\r\n"
    "--b1--\r\n"
    "epilogue text\r\n";

/* Mailing-list mail addressed to the user. */
static const char MSG_LIST[] =
    "From: announce@lists.example.org\r\n"
    "To: bar@yahoo.co.kr\r\n"
    "List-Id: Announcements <announce@lists.example.org>\r\n"
    "Subject: [acme-users] [fwd] version 1.0 is out\r\n"
    "Message-ID: <l1@lists.example.org>\r\n"
    "\r\n"
    "list body\r\n";

static const struct sieve_envelope ENV = {"foo@mydomain.com", "bar+sieve@yahoo.co.kr", NULL, 0};

static struct sieve_result result;

/* Parses script (failing the test if it does not parse) and runs it on msg. */
static int run_env(const char *script, const char *msg, const struct sieve_envelope *env)
{
    struct sieve_error err;
    sieve_script_t *s = sieve_parse(pool, script, strlen(script), NULL, &err);
    CU_ASSERT_PTR_NOT_NULL(s);
    if (!s) {
        printf("\nparse: %u:%u %s\n%s\n", err.line, err.column, err.message, script);
        memset(&result, 0, sizeof(result));
        return -2;
    }
    struct sieve_message m = {msg, strlen(msg)};
    return sieve_run(s, &m, env, pool, &result);
}

static int run(const char *script, const char *msg)
{
    return run_env(script, msg, &ENV);
}

/* The action list as one line: "fileinto Junk [\Seen]; keep". */
static const char *actions(void)
{
    char *out = pool_strdup(pool, "");
    for (size_t i = 0; i < result.nactions; i++) {
        const struct sieve_action *a = &result.actions[i];
        const char *s = "";
        switch (a->kind) {
        case SIEVE_KEEP: s = "keep"; break;
        case SIEVE_FILEINTO: s = pool_printf(pool, "fileinto %s", a->mailbox); break;
        case SIEVE_REDIRECT: s = pool_printf(pool, "redirect %s", a->address); break;
        case SIEVE_REJECT:
            s = pool_printf(pool, "%s %s", a->ereject ? "ereject" : "reject", a->reason);
            break;
        case SIEVE_DISCARD: s = "discard"; break;
        case SIEVE_VACATION: s = pool_printf(pool, "vacation %s", a->vacation->to); break;
        }
        if (a->nflags) {
            s = pool_printf(pool, "%s [", s);
            for (size_t k = 0; k < a->nflags; k++)
                s = pool_printf(pool, "%s%s%s", s, k ? " " : "", a->flags[k]);
            s = pool_printf(pool, "%s]", s);
        }
        out = pool_printf(pool, "%s%s%s", out, i ? "; " : "", s);
    }
    return out;
}

#define EXPECT(want)                                                                       \
    do {                                                                                   \
        const char *got_ = actions();                                                      \
        CU_ASSERT_STRING_EQUAL(got_, want);                                                \
        if (strcmp(got_, want) != 0)                                                       \
            printf("\n  line %d: got \"%s\", wanted \"%s\" %s\n", __LINE__, got_, want,    \
                   result.error ? result.error : "");                                      \
    } while (0)

/* Runs script on msg and checks the action list; the run must succeed. */
#define CHECK(script, msg, want)                                                           \
    do {                                                                                   \
        CU_ASSERT_EQUAL(run(script, msg), 0);                                              \
        EXPECT(want);                                                                      \
    } while (0)

static const struct sieve_vacation *vacation(void)
{
    for (size_t i = 0; i < result.nactions; i++)
        if (result.actions[i].kind == SIEVE_VACATION)
            return result.actions[i].vacation;
    return NULL;
}

static int has_note(const char *words)
{
    for (size_t i = 0; i < result.nnotes; i++)
        if (strstr(result.notes[i], words))
            return 1;
    return 0;
}

static void test_seed_script(void)
{
    pool = pool_create(0);
    const char *seed = "require [\"reject\", \"fileinto\"];\n\n"
                       "if address :contains :all \"From\" \"hurd@mydomain.co.kr\" {\n"
                       "        reject \"Testing..\";\n"
                       "}\n";
    CHECK(seed, MSG_HURD, "reject Testing..");
    CU_ASSERT_EQUAL(result.actions[0].line, 4);
    CHECK(seed, MSG_SEED, "keep");
    CU_ASSERT_EQUAL(result.actions[0].line, 0); /* the implicit keep */
    pool_destroy(pool);
}

static void test_control(void)
{
    pool = pool_create(0);
    const char *chain = "require \"fileinto\";\n"
                        "if header :is \"Subject\" \"nope\" { fileinto \"a\"; }\n"
                        "elsif header :contains \"Subject\" \"테스트\" { fileinto \"b\"; }\n"
                        "elsif true { fileinto \"c\"; }\n"
                        "else { fileinto \"d\"; }\n";
    CHECK(chain, MSG_SEED, "fileinto b");
    CHECK(chain, MSG_HURD, "fileinto c");
    CHECK("require \"fileinto\"; if false { fileinto \"a\"; } else { fileinto \"e\"; }",
          MSG_SEED, "fileinto e");
    /* stop ends the script; the implicit keep still applies. */
    CHECK("require \"fileinto\"; if true { stop; } fileinto \"never\";", MSG_SEED, "keep");
    CHECK("require [\"fileinto\", \"copy\"]; fileinto :copy \"x\"; stop; discard;", MSG_SEED,
          "fileinto x; keep");
    /* A stop inside nested blocks ends everything. */
    CHECK("if true { if true { stop; } discard; } discard;", MSG_SEED, "keep");
    pool_destroy(pool);
}

static void test_address(void)
{
    pool = pool_create(0);
    /* Display names in raw UTF-8 are no part of the address. */
    CHECK("if address :is \"From\" \"foo@mydomain.com\" { discard; }", MSG_SEED, "discard");
    CHECK("if address :is :all \"From\" \"최영봉\" { discard; }", MSG_SEED, "keep");
    CHECK("if address :localpart :is \"To\" \"bar\" { discard; }", MSG_SEED, "discard");
    CHECK("if address :domain :is \"To\" \"YAHOO.co.KR\" { discard; }", MSG_SEED, "discard");
    CHECK("if address :domain :matches \"From\" \"*.com\" { discard; }", MSG_SEED, "discard");
    /* Encoded display names, groups (members count, the group name does not). */
    CHECK("if address :is \"To\" \"a@example.com\" { discard; }", MSG_MIME, "discard");
    CHECK("if address :localpart :is \"To\" \"x y\" { discard; }", MSG_MIME, "discard");
    CHECK("if address :contains \"To\" \"team\" { discard; }", MSG_MIME, "keep");
    CHECK("if address :contains \"Cc\" \"undisclosed\" { discard; }", MSG_MIME, "keep");
    /* A list of headers and of keys: any pair. */
    CHECK("if address :is [\"Cc\", \"From\"] [\"x@y.z\", \"hurd+lists@sds.co.kr\"] { discard; }",
          MSG_MIME, "discard");
    /* Header names are case-insensitive. */
    CHECK("if address :is \"fROM\" \"foo@mydomain.com\" { discard; }", MSG_SEED, "discard");
    pool_destroy(pool);
}

static void test_subaddress(void)
{
    pool = pool_create(0);
    const char *req = "require [\"subaddress\", \"envelope\", \"fileinto\"];\n";
    CHECK(pool_printf(pool, "%sif address :user \"From\" \"hurd\" { discard; }", req), MSG_MIME,
          "discard");
    CHECK(pool_printf(pool, "%sif address :detail \"From\" \"lists\" { discard; }", req),
          MSG_MIME, "discard");
    /* No separator: :detail matches nothing, not even "" (RFC 5233 4); :user is all. */
    CHECK(pool_printf(pool, "%sif address :detail :matches \"From\" \"*\" { discard; }", req),
          MSG_SEED, "keep");
    CHECK(pool_printf(pool, "%sif address :user \"From\" \"foo\" { discard; }", req), MSG_SEED,
          "discard");
    /* RFC 5233 example, on the envelope recipient bar+sieve. */
    CHECK(pool_printf(pool, "%sif envelope :user \"to\" \"bar\" { if envelope :detail \"to\" "
                      "\"sieve\" { fileinto \"inbox.sieve\"; } }", req),
          MSG_SEED, "fileinto inbox.sieve");
    /* An empty detail is "" (user+@). */
    struct sieve_envelope env = {"x@y.z", "bar+@yahoo.co.kr", NULL, 0};
    CU_ASSERT_EQUAL(run_env(pool_printf(pool, "%sif envelope :detail :is \"to\" \"\" "
                                        "{ discard; }", req), MSG_SEED, &env), 0);
    EXPECT("discard");
    /* The separator is the site's: here '-' as well as '+'. */
    struct sieve_config cfg;
    sieve_config_default(&cfg);
    cfg.detail_delims = "-+";
    const char *s = "require [\"subaddress\", \"envelope\"];\n"
                    "if envelope :detail \"to\" \"lists\" { discard; }";
    struct sieve_error err;
    sieve_script_t *sc = sieve_parse(pool, s, strlen(s), &cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    struct sieve_envelope env2 = {"x@y.z", "bar-lists@yahoo.co.kr", NULL, 0};
    struct sieve_message m = {MSG_SEED, strlen(MSG_SEED)};
    CU_ASSERT_EQUAL(sieve_run(sc, &m, &env2, pool, &result), 0);
    EXPECT("discard");
    pool_destroy(pool);
}

static void test_header(void)
{
    pool = pool_create(0);
    /* Raw 8-bit UTF-8, as the seed sends it. */
    CHECK("if header :is \"Subject\" \"아싸 테스트...\" { discard; }", MSG_SEED, "discard");
    CHECK("if header :contains \"from\" \"최영봉\" { discard; }", MSG_SEED, "discard");
    /* RFC 2047 in EUC-KR and in UTF-8 decode to the same text. */
    CHECK("if header :is \"Subject\" \"아싸 테스트...\" { discard; }", MSG_MIME, "discard");
    CHECK("if header :is \"X-Utf8\" \"아싸 테스트...\" { discard; }", MSG_MIME, "discard");
    CHECK("if header :contains \"From\" \"최영봉\" { discard; }", MSG_MIME, "discard");
    /* Raw EUC-KR octets (not UTF-8) are converted through the fallback charsets. */
    CHECK("if header :is \"X-Raw-Euckr\" \"아싸\" { discard; }", MSG_MIME, "discard");
    /* Unfolded, outer white space trimmed, inner kept. */
    CHECK("if header :is \"X-Folded\" \"first second\tthird\" { discard; }", MSG_MIME,
          "discard");
    CHECK("if header :is \"X-Empty\" \"\" { discard; }", MSG_MIME, "discard");
    /* A missing header matches nothing, not even "". */
    CHECK("if header :is \"X-Missing\" \"\" { discard; }", MSG_MIME, "keep");
    CHECK("if not header :contains \"X-Missing\" \"\" { discard; }", MSG_MIME, "discard");
    /* i;ascii-casemap folds ASCII only; i;octet folds nothing. */
    CHECK("if header :is \"Subject\" \"TEST!!\" { discard; }", MSG_HURD, "discard");
    CHECK("if header :comparator \"i;octet\" :is \"Subject\" \"TEST!!\" { discard; }", MSG_HURD,
          "keep");
    CHECK("if header :comparator \"i;octet\" :contains \"Subject\" \"st!\" { discard; }",
          MSG_HURD, "discard");
    pool_destroy(pool);
}

static void test_envelope(void)
{
    pool = pool_create(0);
    const char *req = "require \"envelope\";\n";
    CHECK(pool_printf(pool, "%sif envelope :is \"from\" \"foo@mydomain.com\" { discard; }", req),
          MSG_SEED, "discard");
    CHECK(pool_printf(pool, "%sif envelope :domain :is \"to\" \"yahoo.co.kr\" { discard; }", req),
          MSG_SEED, "discard");
    CHECK(pool_printf(pool, "%sif envelope :localpart :is \"to\" \"bar+sieve\" { discard; }",
                      req), MSG_SEED, "discard");
    CHECK(pool_printf(pool, "%sif envelope :all :is [\"to\", \"from\"] \"nobody@x.y\" "
                      "{ discard; }", req), MSG_SEED, "keep");
    /* The null reverse-path is "" whatever the address part (RFC 5228 5.4). */
    struct sieve_envelope bounce = {"", "bar@yahoo.co.kr", NULL, 0};
    CU_ASSERT_EQUAL(run_env(pool_printf(pool, "%sif envelope :domain :is \"from\" \"\" "
                                        "{ discard; }", req), MSG_SEED, &bounce), 0);
    EXPECT("discard");
    pool_destroy(pool);
}

static void test_exists_size(void)
{
    pool = pool_create(0);
    CHECK("if exists [\"From\", \"message-id\"] { discard; }", MSG_SEED, "discard");
    CHECK("if exists [\"From\", \"X-Nope\"] { discard; }", MSG_SEED, "keep");
    size_t len = strlen(MSG_SEED);
    CHECK(pool_printf(pool, "if size :over %zu { discard; }", len - 1), MSG_SEED, "discard");
    CHECK(pool_printf(pool, "if size :over %zu { discard; }", len), MSG_SEED, "keep");
    CHECK(pool_printf(pool, "if size :under %zu { discard; }", len + 1), MSG_SEED, "discard");
    CHECK(pool_printf(pool, "if size :under %zu { discard; }", len), MSG_SEED, "keep");
    CHECK("if size :under 1K { discard; }", MSG_SEED, "discard");
    CHECK("if size :over 1M { discard; }", MSG_MIME, "keep");
    pool_destroy(pool);
}

static void test_logic(void)
{
    pool = pool_create(0);
    CHECK("if allof (true, header :contains \"Subject\" \"테스트\") { discard; }", MSG_SEED,
          "discard");
    CHECK("if allof (true, false) { discard; }", MSG_SEED, "keep");
    CHECK("if anyof (false, exists \"To\") { discard; }", MSG_SEED, "discard");
    CHECK("if anyof (false, false) { discard; }", MSG_SEED, "keep");
    CHECK("if not anyof (false, not true) { discard; }", MSG_SEED, "discard");
    CHECK("if allof (anyof (false, true), not false, true) { discard; }", MSG_SEED, "discard");
    /* Short-circuit: the redirect's test never runs, so the :matches does not set ${1}. */
    CHECK("require [\"variables\", \"fileinto\"];\n"
          "if anyof (true, header :matches \"Subject\" \"*\") { fileinto \"[${1}]\"; }",
          MSG_SEED, "fileinto []");
    pool_destroy(pool);
}

static void test_match_types(void)
{
    pool = pool_create(0);
    /* '*' any run, '?' one character - one Korean syllable is one character. */
    CHECK("if header :matches \"Subject\" \"아? 테스트*\" { discard; }", MSG_SEED, "discard");
    CHECK("if header :matches \"Subject\" \"??? 테스트...\" { discard; }", MSG_SEED, "keep");
    CHECK("if header :matches \"Subject\" \"*스트...\" { discard; }", MSG_SEED, "discard");
    CHECK("if header :matches \"Subject\" \"test??\" { discard; }", MSG_HURD, "discard");
    CHECK("if header :matches \"Subject\" \"test?\" { discard; }", MSG_HURD, "keep");
    /* Escapes: \\* and \\? are literal (the script writes "\\\\*"). */
    CHECK("if header :matches \"Subject\" \"Test\\\\?\\\\?\" { discard; }", MSG_HURD, "keep");
    CHECK("if header :matches \"Subject\" \"Test\\\\!!\" { discard; }", MSG_HURD, "discard");
    CHECK("if header :matches \"X-Folded\" \"first*\\\\*\" { discard; }", MSG_MIME, "keep");
    /* :contains and :is. */
    CHECK("if header :contains \"Subject\" \"\" { discard; }", MSG_HURD, "discard");
    CHECK("if header :is \"Subject\" \"Test!\" { discard; }", MSG_HURD, "keep");
    CHECK("if header :contains \"Subject\" \"ST!\" { discard; }", MSG_HURD, "discard");
    /* Patterns that backtrack a lot still decide correctly. */
    CHECK("if header :matches \"X-Folded\" \"*i*s*t*s*c*o*d*t*h*d\" { discard; }", MSG_MIME,
          "discard");
    CHECK("if header :matches \"X-Folded\" \"*i*s*t*s*c*o*d*t*h*x\" { discard; }", MSG_MIME,
          "keep");
    pool_destroy(pool);
}

static void test_keep_fileinto_redirect(void)
{
    pool = pool_create(0);
    CHECK("keep;", MSG_SEED, "keep");
    CHECK("require \"fileinto\"; fileinto \"Junk\";", MSG_SEED, "fileinto Junk");
    CHECK("require \"fileinto\"; fileinto \"Junk\"; keep;", MSG_SEED, "fileinto Junk; keep");
    /* One filing per mailbox, one redirect per address, one keep. */
    CHECK("require \"fileinto\"; fileinto \"Junk\"; fileinto \"Junk\"; keep; keep;", MSG_SEED,
          "fileinto Junk; keep");
    CHECK("require \"fileinto\"; fileinto \"inbox\"; fileinto \"INBOX\";", MSG_SEED,
          "fileinto inbox");
    CHECK("redirect \"a@example.com\"; redirect \"A@Example.com\";", MSG_SEED,
          "redirect a@example.com");
    /* Mailbox names are UTF-8 (Korean folders). */
    CHECK("require \"fileinto\"; fileinto \"받은편지함/한글\";", MSG_SEED,
          "fileinto 받은편지함/한글");
    /* :copy keeps the implicit keep (RFC 3894). */
    CHECK("require [\"fileinto\", \"copy\"]; fileinto :copy \"Archive\";", MSG_SEED,
          "fileinto Archive; keep");
    CHECK("require \"copy\"; redirect :copy \"a@example.com\";", MSG_SEED,
          "redirect a@example.com; keep");
    CHECK("redirect \"a@example.com\";", MSG_SEED, "redirect a@example.com");
    /* discard cancels the implicit keep only; an explicit keep still keeps. */
    CHECK("discard;", MSG_SEED, "discard");
    CHECK("discard; keep;", MSG_SEED, "keep");
    CHECK("require \"fileinto\"; discard; fileinto \"x\";", MSG_SEED, "fileinto x");
    CHECK("discard; redirect \"a@example.com\";", MSG_SEED, "redirect a@example.com; discard");
    pool_destroy(pool);
}

static void test_reject(void)
{
    pool = pool_create(0);
    CHECK("require \"reject\"; reject text:\n한글 사유\nsecond line\n.\n;", MSG_SEED,
          "reject 한글 사유\r\nsecond line\r\n");
    CHECK("require \"ereject\"; ereject \"no thanks\";", MSG_SEED, "ereject no thanks");
    CHECK("require \"reject\"; discard; reject \"x\";", MSG_SEED, "reject x");
    /* Conflicts are runtime errors: the result is the implicit keep alone. */
    static const char *const conflicts[] = {
        "require [\"reject\", \"fileinto\"]; reject \"x\"; fileinto \"y\";",
        "require [\"reject\", \"fileinto\"]; fileinto \"y\"; reject \"x\";",
        "require \"reject\"; keep; reject \"x\";",
        "require \"reject\"; reject \"x\"; keep;",
        "require [\"reject\", \"copy\"]; redirect :copy \"a@b.c\"; reject \"x\";",
        "require [\"reject\", \"ereject\"]; reject \"x\"; ereject \"y\";",
        "require [\"reject\", \"vacation\"]; reject \"x\"; vacation \"away\";",
        NULL,
    };
    for (int i = 0; conflicts[i]; i++) {
        CU_ASSERT_EQUAL(run(conflicts[i], MSG_SEED), -1);
        EXPECT("keep");
        CU_ASSERT_PTR_NOT_NULL(result.error);
        CU_ASSERT_PTR_NOT_NULL(result.error ? strstr(result.error, "line 1:") : NULL);
    }
    CU_ASSERT_EQUAL(run("require [\"reject\", \"fileinto\"];\nfileinto \"y\";\nreject \"x\";",
                        MSG_SEED), -1);
    CU_ASSERT_STRING_EQUAL(result.error,
                           "line 3: reject cannot be combined with the fileinto on line 2");
    pool_destroy(pool);
}

static void test_vacation_reply(void)
{
    pool = pool_create(0);
    const char *s = "require \"vacation\";\n"
                    "vacation :days 3 \"저는 휴가 중입니다.\nI am away.\";";
    CHECK(s, MSG_SEED, "vacation foo@mydomain.com; keep");
    const struct sieve_vacation *v = vacation();
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(v->days, 3);
    CU_ASSERT_STRING_EQUAL(v->to, "foo@mydomain.com");
    CU_ASSERT_STRING_EQUAL(v->from, "bar@yahoo.co.kr"); /* the address in To */
    CU_ASSERT_STRING_EQUAL(v->subject, "Auto: 아싸 테스트...");
    CU_ASSERT_EQUAL(strlen(v->key), 64);
    const char *m = v->message;
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "From: bar@yahoo.co.kr\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "To: foo@mydomain.com\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "Subject: Auto: =?UTF-8?"));  /* RFC 2047 */
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "In-Reply-To: <seed-1@mydomain.com>\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "References: <seed-1@mydomain.com>\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "Auto-Submitted: auto-replied"));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "Content-Type: text/plain; charset=utf-8\r\n"));
    CU_ASSERT_PTR_NULL(strstr(m, "\n\n")); /* CRLF throughout */
    CU_ASSERT_PTR_NULL(strstr(m, "Date:"));
    const char *key = v->key, *handle = v->handle;

    /* Same reason, other days: same handle and key. Another reason: another handle. */
    CHECK("require \"vacation\"; vacation :days 9 \"저는 휴가 중입니다.\nI am away.\";",
          MSG_SEED, "vacation foo@mydomain.com; keep");
    CU_ASSERT_STRING_EQUAL(vacation()->handle, handle);
    CU_ASSERT_STRING_EQUAL(vacation()->key, key);
    CHECK("require \"vacation\"; vacation \"other\";", MSG_SEED,
          "vacation foo@mydomain.com; keep");
    CU_ASSERT_STRING_NOT_EQUAL(vacation()->key, key);
    CU_ASSERT_EQUAL(vacation()->days, 7); /* the default */
    /* :handle names the reply whatever its text. */
    CHECK("require \"vacation\"; vacation :handle \"h1\" \"one\";", MSG_SEED,
          "vacation foo@mydomain.com; keep");
    key = vacation()->key;
    CU_ASSERT_STRING_EQUAL(vacation()->handle, "h1");
    CHECK("require \"vacation\"; vacation :handle \"h1\" \"two\";", MSG_SEED,
          "vacation foo@mydomain.com; keep");
    CU_ASSERT_STRING_EQUAL(vacation()->key, key);
    /* :days within the configured bounds. */
    CHECK("require \"vacation\"; vacation :days 0 \"x\";", MSG_SEED,
          "vacation foo@mydomain.com; keep");
    CU_ASSERT_EQUAL(vacation()->days, 1);
    CHECK("require \"vacation\"; vacation :days 1000 \"x\";", MSG_SEED,
          "vacation foo@mydomain.com; keep");
    CU_ASSERT_EQUAL(vacation()->days, 90);
    /* :subject and :from. */
    CHECK("require \"vacation\"; vacation :subject \"부재 중\" "
          ":from \"채림 <bar@yahoo.co.kr>\" \"x\";", MSG_SEED, "vacation foo@mydomain.com; keep");
    CU_ASSERT_STRING_EQUAL(vacation()->subject, "부재 중");
    CU_ASSERT_STRING_EQUAL(vacation()->from, "채림 <bar@yahoo.co.kr>");
    CU_ASSERT_PTR_NOT_NULL(strstr(vacation()->message, "From: =?UTF-8?"));
    CU_ASSERT_PTR_NOT_NULL(strstr(vacation()->message, "<bar@yahoo.co.kr>"));
    /* :mime: the reason is the whole body part. */
    CHECK("require \"vacation\"; vacation :mime text:\n"
          "Content-Type: text/html; charset=utf-8\n\n<p>away</p>\n.\n;", MSG_SEED,
          "vacation foo@mydomain.com; keep");
    CU_ASSERT_PTR_NOT_NULL(strstr(vacation()->message, "Content-Type: text/html"));
    CU_ASSERT_PTR_NOT_NULL(strstr(vacation()->message, "<p>away</p>"));
    /* RFC 5230 example: :addresses names other addresses of the user. */
    const char *rfc = "require \"vacation\";\n"
                      "vacation :days 23 :addresses [\"tjs@example.edu\", "
                      "\"ts4z@landru.example.edu\"]\n"
                      "\"I'm away until October 19.\";";
    const char *to_alias = "From: someone@example.org\r\nTo: Tim <TS4Z@landru.example.edu>\r\n"
                           "Subject: hi\r\n\r\nbody\r\n";
    struct sieve_envelope env = {"someone@example.org", "tim@example.edu", NULL, 0};
    CU_ASSERT_EQUAL(run_env(rfc, to_alias, &env), 0);
    EXPECT("vacation someone@example.org; keep");
    CU_ASSERT_STRING_EQUAL(vacation()->from, "TS4Z@landru.example.edu");
    CU_ASSERT_EQUAL(vacation()->days, 23);
    /* The caller's aliases count as the user's too, with or without +detail. */
    const char *aliases[] = {"ts4z@landru.example.edu"};
    struct sieve_envelope env2 = {"someone@example.org", "tim@example.edu", aliases, 1};
    CU_ASSERT_EQUAL(run_env("require \"vacation\"; vacation \"away\";", to_alias, &env2), 0);
    EXPECT("vacation someone@example.org; keep");
    pool_destroy(pool);
}

static void test_vacation_no_reply(void)
{
    pool = pool_create(0);
    const char *s = "require \"vacation\"; vacation \"away\";";
    /* Mailing lists, bulk and automatic mail. */
    CHECK(s, MSG_LIST, "keep");
    CU_ASSERT(has_note("mailing list"));
    static const char *const marks[] = {
        "Precedence: bulk\r\n", "Precedence: junk\r\n", "Precedence: List\r\n",
        "Auto-Submitted: auto-generated\r\n", "Auto-Submitted: auto-replied (vacation)\r\n",
        "List-Unsubscribe: <mailto:x@y.z>\r\n", NULL};
    for (int i = 0; marks[i]; i++) {
        const char *msg = pool_printf(pool, "%s%s", marks[i], MSG_SEED);
        CHECK(s, msg, "keep");
        CU_ASSERT_EQUAL(result.nnotes, 1);
    }
    /* Auto-Submitted: no is a person's mail. */
    CHECK(s, pool_printf(pool, "Auto-Submitted: no\r\n%s", MSG_SEED),
          "vacation foo@mydomain.com; keep");
    /* Bounces and automatons' addresses. */
    static const char *const senders[] = {"", "MAILER-DAEMON@mydomain.com",
                                          "owner-list@lists.example.org",
                                          "list-request@lists.example.org",
                                          "majordomo@example.org", "LISTSERV@example.org", NULL};
    for (int i = 0; senders[i]; i++) {
        struct sieve_envelope env = {senders[i], "bar@yahoo.co.kr", NULL, 0};
        CU_ASSERT_EQUAL(run_env(s, MSG_SEED, &env), 0);
        EXPECT("keep");
        CU_ASSERT_EQUAL(result.nnotes, 1);
    }
    /* Not addressed to the user (a Bcc or a list), and mail from the user. */
    struct sieve_envelope other = {"foo@mydomain.com", "carol@yahoo.co.kr", NULL, 0};
    CU_ASSERT_EQUAL(run_env(s, MSG_SEED, &other), 0);
    EXPECT("keep");
    CU_ASSERT(has_note("none of the user's addresses"));
    struct sieve_envelope self = {"bar@yahoo.co.kr", "bar@yahoo.co.kr", NULL, 0};
    CU_ASSERT_EQUAL(run_env(s, MSG_SEED, &self), 0);
    EXPECT("keep");
    CU_ASSERT(has_note("own address"));
    /* A second vacation is an error (RFC 5230 4), even when the first sent nothing. */
    CU_ASSERT_EQUAL(run("require \"vacation\"; vacation \"a\"; vacation \"b\";", MSG_LIST), -1);
    EXPECT("keep");
    pool_destroy(pool);
}

static void test_imap4flags(void)
{
    pool = pool_create(0);
    const char *req = "require [\"imap4flags\", \"fileinto\"];\n";
    /* The internal variable goes to the implicit keep. */
    CHECK(pool_printf(pool, "%ssetflag \"\\\\seen $Work\"; addflag [\"\\\\Flagged\", "
                      "\"$work\"];", req), MSG_SEED, "keep [\\Seen $Work \\Flagged]");
    CHECK(pool_printf(pool, "%ssetflag \"\\\\Seen \\\\Flagged\"; removeflag \"\\\\seen\";", req),
          MSG_SEED, "keep [\\Flagged]");
    /* :flags replaces the variable for that action only. */
    CHECK(pool_printf(pool, "%saddflag \"\\\\Seen\"; fileinto :flags \"$Junk\" \"Junk\"; "
                      "fileinto \"Other\"; keep :flags \"\";", req), MSG_SEED,
          "fileinto Junk [$Junk]; fileinto Other [\\Seen]; keep");
    /* Flags set after an action do not change it. */
    CHECK(pool_printf(pool, "%sfileinto \"A\"; setflag \"\\\\Answered\";", req), MSG_SEED,
          "fileinto A");
    /* Invalid flags are dropped (\Recent cannot be set, atoms exclude specials). */
    CHECK(pool_printf(pool, "%ssetflag [\"\\\\Recent\", \"bad(flag\", \"ok\", \"\\\\Bogus\"];",
                      req), MSG_SEED, "keep [ok]");
    /* hasflag, with the internal variable and with a named one (RFC 5232 4). */
    CHECK(pool_printf(pool, "%saddflag \"\\\\Seen $Label1\"; if hasflag :is \"$label1\" "
                      "{ fileinto \"L\"; }", req), MSG_SEED, "fileinto L [\\Seen $Label1]");
    CHECK(pool_printf(pool, "%sif hasflag :is \"\\\\Seen\" { fileinto \"L\"; }", req),
          MSG_SEED, "keep");
    const char *vars = "require [\"imap4flags\", \"variables\", \"fileinto\"];\n"
                       "set \"MyVar\" \"NonJunk Junk gnus-forward $Forwarded NotJunk\";\n";
    CHECK(pool_printf(pool, "%sif hasflag :contains \"MyVar\" \"Junk\" { discard; }", vars),
          MSG_SEED, "discard");
    CHECK(pool_printf(pool, "%sif hasflag :contains \"MyVar\" \"forward\" { discard; }", vars),
          MSG_SEED, "discard");
    CHECK(pool_printf(pool, "%sif hasflag :is \"MyVar\" \"$forwarded\" { discard; }", vars),
          MSG_SEED, "discard");
    CHECK(pool_printf(pool, "%sif hasflag :is \"MyVar\" \"forward\" { discard; }", vars),
          MSG_SEED, "keep");
    CHECK(pool_printf(pool, "%sif hasflag :is \"MyVar\" \"label junk\" { discard; }", vars),
          MSG_SEED, "discard");
    /* setflag on a variable leaves the internal one alone. */
    CHECK(pool_printf(pool, "%saddflag \"MyVar\" \"Big\"; fileinto :flags \"${MyVar}\" \"B\";",
                      vars), MSG_SEED, "fileinto B [NonJunk Junk gnus-forward $Forwarded "
          "NotJunk Big]");
    pool_destroy(pool);
}

static void test_body(void)
{
    pool = pool_create(0);
    const char *req = "require [\"body\", \"fileinto\"];\n";
#define BODY(test, msg, want) \
    CHECK(pool_printf(pool, "%sif %s { discard; }", req, test), msg, want)
    /* :raw is the body as stored: encodings and boundaries included. */
    BODY("body :raw :contains \"=C7=D1=B1=DB\"", MSG_MIME, "discard");
    BODY("body :raw :contains \"--b1\"", MSG_MIME, "discard");
    BODY("body :raw :contains \"Subject: 아싸\"", MSG_MIME, "keep"); /* not the header */
    /* :content "text": EUC-KR quoted-printable decoded to UTF-8. */
    BODY("body :content \"text\" :contains \"한글 본문\"", MSG_MIME, "discard");
    BODY("body :content \"text/plain\" :contains \"coordinates\"", MSG_MIME, "keep");
    BODY("body :content \"text/html\" :contains \"<b>noon</b>\"", MSG_MIME, "discard");
    /* :text (the default): text parts, HTML without markup. */
    BODY("body :contains \"noon & bring\"", MSG_MIME, "discard");
    BODY("body :text :contains \"<b>\"", MSG_MIME, "keep");
    BODY("body :contains \"테스트입니다\"", MSG_MIME, "discard");
    /* An attachment, decoded from base64. */
    BODY("body :content \"application/octet-stream\" :contains \"attachment payload\"",
         MSG_MIME, "discard");
    BODY("body :content \"application\" :contains \"payload\"", MSG_MIME, "discard");
    BODY("body :text :contains \"payload\"", MSG_MIME, "keep");
    /* multipart: prologue and epilogue; message/rfc822: the enclosed header. */
    BODY("body :content \"multipart\" :contains \"prologue text\"", MSG_MIME, "discard");
    BODY("body :content \"multipart/mixed\" :contains \"epilogue text\"", MSG_MIME, "discard");
    BODY("body :content \"multipart\" :contains \"한글\"", MSG_MIME, "keep");
    BODY("body :content \"message/rfc822\" :contains \"inner message\"", MSG_MIME, "discard");
    BODY("body :content \"message\" :contains \"missile\"", MSG_MIME, "keep");
    BODY("body :content \"text\" :contains \"missile\"", MSG_MIME, "discard"); /* nested */
    /* Bad type specifications match nothing; "" matches every part. */
    BODY("body :content [\"/plain\", \"text/\", \"a/b/c\"] :contains \"\"", MSG_MIME, "keep");
    BODY("body :content \"\" :contains \"payload\"", MSG_MIME, "discard");
    /* A message without MIME is one text/plain part. */
    BODY("body :contains \"테스트 메일\"", MSG_SEED, "discard");
    BODY("body :is \"이것은 테스트 메일입니다. ^^;\r\n\"", MSG_SEED, "discard");
    /* RFC 5173 examples. */
    CHECK("require [\"body\", \"fileinto\"];\n"
          "if body :content \"text\" :contains [\"missile\", \"coordinates\"] "
          "{ fileinto \"secrets\"; }", MSG_MIME, "fileinto secrets");
    CHECK("require \"body\"; if body :raw :contains \"MAKE MONEY FAST\" { discard; }", MSG_MIME,
          "keep");
#undef BODY
    pool_destroy(pool);
}

static void test_variables(void)
{
    pool = pool_create(0);
    const char *req = "require [\"variables\", \"fileinto\"];\n";
#define VARS(script, want) CHECK(pool_printf(pool, "%s%s", req, script), MSG_SEED, want)
    VARS("set \"a\" \"Hello World\"; fileinto \"${A}\";", "fileinto Hello World");
    VARS("set :lower \"a\" \"Hello\"; fileinto \"${a}\";", "fileinto hello");
    VARS("set :upper \"a\" \"Hello\"; fileinto \"${a}\";", "fileinto HELLO");
    VARS("set :lowerfirst \"a\" \"HELLO\"; fileinto \"${a}\";", "fileinto hELLO");
    VARS("set :upperfirst :lower \"a\" \"hELLO\"; fileinto \"${a}\";", "fileinto Hello");
    VARS("set :quotewildcard \"a\" \"a*b?c\\\\\"; fileinto \"${a}\";", "fileinto a\\*b\\?c\\\\");
    VARS("set :length \"a\" \"아싸 테스트\"; fileinto \"${a}\";", "fileinto 6");
    /* Unknown variables are empty; malformed references stay as written. */
    VARS("fileinto \"[${nope}]\";", "fileinto []");
    VARS("fileinto \"${a b}${\";", "fileinto ${a b}${");
    VARS("set \"x\" \"1\"; fileinto \"${${x}}\";", "fileinto ${1}");
    /* Without require "variables" nothing is expanded. */
    CHECK("require \"fileinto\"; fileinto \"${x}\";", MSG_SEED, "fileinto ${x}");
    /* Match variables (RFC 5229 3.2 examples). */
    CHECK(pool_printf(pool, "%sif header :matches \"List-ID\" \"*<*@*\" "
                      "{ fileinto \"INBOX.lists.${2}\"; stop; }", req), MSG_LIST,
          "fileinto INBOX.lists.announce");
    CHECK(pool_printf(pool, "%sif header :matches \"Subject\" \"[*] *\" "
                      "{ fileinto \"${1}|${2}\"; }", req), MSG_LIST,
          "fileinto acme-users|[fwd] version 1.0 is out");
    const char *coyote = "From: x@y.z\r\nTo: coyote@ACME.Example.COM\r\n\r\nbody\r\n";
    CHECK(pool_printf(pool, "%sif address :matches [\"To\", \"Cc\"] [\"coyote@**.com\", "
                      "\"wile@**.com\"] { fileinto \"INBOX.business.${2}|${1}|${0}\"; }", req),
          coyote, "fileinto INBOX.business.ACME.Example||coyote@ACME.Example.COM");
    /* '?' captures one character each; ${10} and beyond are empty. */
    VARS("if header :matches \"Subject\" \"?? *\" { fileinto \"${1}-${2}-${3}-${10}\"; }",
         "fileinto 아-싸-테스트...-");
    /* A failed :matches leaves the previous values. */
    VARS("if header :matches \"Subject\" \"*\" { } if header :matches \"Subject\" \"x*\" { } "
         "fileinto \"${1}\";", "fileinto 아싸 테스트...");
    /* The string test (RFC 5229 5). */
    VARS("set \"state\" \"on\"; if string :is \"${state}\" \"on\" { fileinto \"yes\"; }",
         "fileinto yes");
    VARS("if string :matches [\"a\", \"b${x}\"] \"b\" { fileinto \"yes\"; }", "fileinto yes");
    VARS("if string :is \"\" \"\" { fileinto \"empty\"; }", "fileinto empty");
    /* :quotewildcard makes a value safe inside a :matches pattern. */
    VARS("set :quotewildcard \"q\" \"Test!!\"; if string :matches \"Te*\" \"${q}\" "
         "{ fileinto \"wrong\"; }", "keep");
    /* Variables reach every string: header names, keys, reasons, redirect addresses. */
    CHECK("require [\"variables\", \"reject\"]; set \"h\" \"subject\"; set \"d\" \"example.com\";"
          "if header :contains \"${h}\" \"테스트\" { redirect \"a@${d}\"; }", MSG_SEED,
          "redirect a@example.com");
#undef VARS
    pool_destroy(pool);
}

static void test_runtime_validation(void)
{
    pool = pool_create(0);
    /* Values known only at run time are checked then: a runtime error keeps. */
    CU_ASSERT_EQUAL(run("require [\"variables\", \"fileinto\"]; fileinto \"${nothing}\";",
                        MSG_SEED), -1);
    EXPECT("keep");
    CU_ASSERT_PTR_NOT_NULL(strstr(result.error, "not a valid mailbox name"));
    CU_ASSERT_EQUAL(run("require \"variables\"; set \"a\" \"not an address\"; redirect \"${a}\";",
                        MSG_SEED), -1);
    EXPECT("keep");
    CU_ASSERT_PTR_NOT_NULL(strstr(result.error, "not a valid address"));
    /* A header name from a variable that is no header name just matches nothing. */
    CHECK("require \"variables\"; if header :contains \"${x}\" \"\" { discard; }", MSG_SEED,
          "keep");
    pool_destroy(pool);
}

static void test_no_envelope_and_odd_messages(void)
{
    pool = pool_create(0);
    /* No envelope at all; a message without a body; a header-less message; LF only. */
    struct sieve_error err;
    const char *s = "require \"envelope\"; if envelope :is \"from\" \"\" { discard; }";
    sieve_script_t *sc = sieve_parse(pool, s, strlen(s), NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sc);
    struct sieve_message m = {"Subject: x\r\n", 12};
    CU_ASSERT_EQUAL(sieve_run(sc, &m, NULL, pool, &result), 0);
    EXPECT("discard");
    CHECK("if header :is \"Subject\" \"x\" { discard; }", "Subject: x", "discard");
    CHECK("if exists \"Subject\" { discard; }", "\r\njust a body", "keep");
    CHECK("if header :is \"Subject\" \"a b\" { discard; }", "Subject: a\n b\n\nbody\n",
          "discard");
    CHECK("require \"body\"; if body :contains \"body\" { discard; }", "Subject: a\n\nbody\n",
          "discard");
    CHECK("if size :under 1 { discard; }", "", "discard");
    pool_destroy(pool);
}

/* RFC 5228 9, the final example, over four messages that take its four branches. */
static void test_rfc5228_example(void)
{
    pool = pool_create(0);
    const char *s = "require \"fileinto\";\n"
                    "if header :is \"Sender\" \"owner-ietf-mta-filters@imc.org\"\n"
                    "        { fileinto \"filter\"; }\n"
                    "elsif address :DOMAIN :is [\"From\", \"To\"] \"example.com\"\n"
                    "        { keep; }\n"
                    "elsif anyof (NOT address :all :contains\n"
                    "               [\"To\", \"Cc\", \"Bcc\"] \"me@example.com\",\n"
                    "             header :matches \"subject\"\n"
                    "               [\"*make*money*fast*\", \"*university*dipl*mas*\"])\n"
                    "        { fileinto \"spam\"; }\n"
                    "else { fileinto \"personal\"; }\n";
    CHECK(s, "Sender: owner-ietf-mta-filters@imc.org\r\nTo: me@example.com\r\n\r\nx\r\n",
          "fileinto filter");
    CHECK(s, "From: boss@example.com\r\nTo: me@example.org\r\n\r\nx\r\n", "keep");
    CHECK(s, "From: a@b.org\r\nTo: me@example.org\r\nCc: Me <ME@example.com>\r\n"
          "Subject: How to MAKE MONEY fast\r\n\r\nx\r\n", "fileinto spam");
    CHECK(s, "From: a@b.org\r\nTo: list@example.org\r\n\r\nx\r\n", "fileinto spam");
    CHECK(s, "From: a@b.org\r\nTo: x@example.org\r\nCc: Me <me@example.com>\r\nSubject: hi\r\n"
          "\r\nx\r\n", "fileinto personal");
    pool_destroy(pool);
}

/* One parsed script run by several threads at once, each with its own pool, as
 * lmtp-store's workers do; the first body test of each starts GMime concurrently. */
static sieve_script_t *shared_script;

static void *thread_run(void *arg)
{
    long bad = 0;
    for (int i = 0; i < 200; i++) {
        pool_t *p = pool_create(0);
        struct sieve_message m = {MSG_MIME, strlen(MSG_MIME)};
        struct sieve_result r;
        if (sieve_run(shared_script, &m, &ENV, p, &r) != 0 || r.nactions != 1 ||
            r.actions[0].kind != SIEVE_FILEINTO || strcmp(r.actions[0].mailbox, "hurd") != 0)
            bad++;
        pool_destroy(p);
    }
    (void)arg;
    return (void *)bad;
}

static void test_threads(void)
{
    pool = pool_create(0);
    const char *s = "require [\"body\", \"fileinto\", \"variables\"];\n"
                    "if allof (body :content \"text\" :contains \"한글\",\n"
                    "          address :matches \"From\" \"*+*@*\") { fileinto \"${1}\"; }";
    struct sieve_error err;
    shared_script = sieve_parse(pool, s, strlen(s), NULL, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(shared_script);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, thread_run, NULL);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        CU_ASSERT_PTR_NULL(bad);
    }
    pool_destroy(pool);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"the seed's script", test_seed_script},
        {"if/elsif/else/stop", test_control},
        {"address test", test_address},
        {"subaddress :user/:detail", test_subaddress},
        {"header test, RFC 2047 and raw 8-bit", test_header},
        {"envelope test", test_envelope},
        {"exists and size", test_exists_size},
        {"allof/anyof/not/true/false", test_logic},
        {":is/:contains/:matches, comparators", test_match_types},
        {"keep/fileinto/redirect/discard, :copy", test_keep_fileinto_redirect},
        {"reject/ereject and conflicts", test_reject},
        {"vacation replies", test_vacation_reply},
        {"vacation never replies to lists and bounces", test_vacation_no_reply},
        {"imap4flags", test_imap4flags},
        {"body", test_body},
        {"variables", test_variables},
        {"values checked at run time", test_runtime_validation},
        {"odd messages, no envelope", test_no_envelope_and_odd_messages},
        {"RFC 5228's example script", test_rfc5228_example},
        {"one script, four threads", test_threads},
        {NULL, NULL},
    };
    return testkit_run("sieve", cases);
}
