/* smtpproto_test: command lines, command syntax and refusals, ESMTP parameters, and the
 * DATA reader's edge cases (chunk boundaries, smuggling, bare LF, limits, pipelining). */
#include "smtpproto/smtpproto.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pool_t *pool;

/* ---- command lines ---- */

static void test_lines(void)
{
    smtpproto_lines_t l;
    smtpproto_lines_init(&l, SMTPPROTO_COMMAND_MAX);
    size_t n, used;
    const char *in = "EHLO a\r\nNOOP\nQU";
    CU_ASSERT_EQUAL(smtpproto_lines_next(&l, in, strlen(in), &n, &used), SMTPPROTO_LINE_OK);
    CU_ASSERT_EQUAL(n, 6);
    CU_ASSERT_EQUAL(used, 8);
    in += used;
    CU_ASSERT_EQUAL(smtpproto_lines_next(&l, in, strlen(in), &n, &used), SMTPPROTO_LINE_OK);
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(used, 5);
    in += used;
    CU_ASSERT_EQUAL(smtpproto_lines_next(&l, in, strlen(in), &n, &used), SMTPPROTO_LINE_NONE);
    CU_ASSERT_EQUAL(used, 0);
}

static void test_line_limits(void)
{
    smtpproto_lines_t l;
    smtpproto_lines_init(&l, SMTPPROTO_COMMAND_MAX);
    char buf[2000];
    size_t n, used;
    /* 510 octets + CRLF = 512: accepted. */
    memset(buf, 'x', 510);
    memcpy(buf + 510, "\r\n", 2);
    CU_ASSERT_EQUAL(smtpproto_lines_next(&l, buf, 512, &n, &used), SMTPPROTO_LINE_OK);
    CU_ASSERT_EQUAL(n, 510);
    /* 511 + CRLF: too long. */
    memset(buf, 'x', 511);
    memcpy(buf + 511, "\r\nNOOP\r\n", 8);
    CU_ASSERT_EQUAL(smtpproto_lines_next(&l, buf, 519, &n, &used), SMTPPROTO_LINE_TOO_LONG);
    CU_ASSERT_EQUAL(used, 513);
    CU_ASSERT_EQUAL(smtpproto_lines_next(&l, buf + used, 519 - used, &n, &used),
                    SMTPPROTO_LINE_OK);
    CU_ASSERT_EQUAL(n, 4);
    /* A long line arriving in pieces is dropped as it comes and reported once, at its
     * end; what follows is read normally. */
    memset(buf, 'y', sizeof(buf));
    CU_ASSERT_EQUAL(smtpproto_lines_next(&l, buf, 600, &n, &used), SMTPPROTO_LINE_NONE);
    CU_ASSERT_EQUAL(used, 600);
    CU_ASSERT_EQUAL(smtpproto_lines_next(&l, buf, 100, &n, &used), SMTPPROTO_LINE_NONE);
    CU_ASSERT_EQUAL(used, 100);
    memcpy(buf + 50, "\r\nRSET\r\n", 8);
    CU_ASSERT_EQUAL(smtpproto_lines_next(&l, buf, 58, &n, &used), SMTPPROTO_LINE_TOO_LONG);
    CU_ASSERT_EQUAL(used, 52);
    CU_ASSERT_EQUAL(smtpproto_lines_next(&l, buf + 52, 6, &n, &used), SMTPPROTO_LINE_OK);
    CU_ASSERT_EQUAL(n, 4);
    /* Short partial lines are kept by the caller (nothing consumed). */
    CU_ASSERT_EQUAL(smtpproto_lines_next(&l, "MAIL FR", 7, &n, &used), SMTPPROTO_LINE_NONE);
    CU_ASSERT_EQUAL(used, 0);
}

/* ---- commands ---- */

static int parse(const char *line, smtpproto_command_t *c, const char **reply)
{
    *reply = NULL;
    return smtpproto_parse(pool, line, strlen(line), c, reply);
}

static void test_verbs(void)
{
    pool = pool_create(0);
    smtpproto_command_t c;
    const char *r;
    static const struct {
        const char *line;
        enum smtpproto_verb verb;
        const char *arg;
    } ok[] = {
        {"EHLO client.example.org", SMTPPROTO_EHLO, "client.example.org"},
        {"helo client", SMTPPROTO_HELO, "client"},
        {"LhLo mx", SMTPPROTO_LHLO, "mx"},
        {"DATA", SMTPPROTO_DATA, ""},
        {"data  ", SMTPPROTO_DATA, ""},
        {"RSET", SMTPPROTO_RSET, ""},
        {"NOOP", SMTPPROTO_NOOP, ""},
        {"noop anything at all", SMTPPROTO_NOOP, "anything at all"},
        {"QUIT", SMTPPROTO_QUIT, ""},
        {"VRFY hurd", SMTPPROTO_VRFY, "hurd"},
        {"HELP", SMTPPROTO_HELP, ""},
        {"HELP MAIL", SMTPPROTO_HELP, "MAIL"},
        {"StartTLS", SMTPPROTO_STARTTLS, ""},
        {"AUTH PLAIN dGVzdA==", SMTPPROTO_AUTH, "PLAIN dGVzdA=="},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        CU_ASSERT_EQUAL(parse(ok[i].line, &c, &r), 0);
        CU_ASSERT_EQUAL(c.verb, ok[i].verb);
        CU_ASSERT_STRING_EQUAL(c.arg, ok[i].arg);
    }
    CU_ASSERT_EQUAL(parse("BDAT 1000 LAST", &c, &r), 0);
    CU_ASSERT_EQUAL(c.chunk_size, 1000);
    CU_ASSERT_EQUAL(c.last, 1);
    CU_ASSERT_EQUAL(parse("bdat 0", &c, &r), 0);
    CU_ASSERT_EQUAL(c.chunk_size, 0);
    CU_ASSERT_EQUAL(c.last, 0);
    pool_destroy(pool);
}

static void test_bad_commands(void)
{
    pool = pool_create(0);
    smtpproto_command_t c;
    const char *r;
    static const struct {
        const char *line;
        const char *reply_prefix;
    } bad[] = {
        {"FOO bar", "500 5.5.2"},
        {"", "500 5.5.2"},
        {"MAILFROM:<a@b.c>", "500 5.5.2"},
        {"EHLO", "501 5.5.4 Syntax: EHLO"},
        {"HELO   ", "501 5.5.4 Syntax: HELO"},
        {"LHLO", "501 5.5.4 Syntax: LHLO"},
        {"DATA now", "501 5.5.4 Syntax: DATA"},
        {"QUIT please", "501 5.5.4"},
        {"RSET x", "501 5.5.4"},
        {"STARTTLS x", "501 5.5.4"},
        {"VRFY", "501 5.5.4"},
        {"AUTH", "501 5.5.4"},
        {"BDAT", "501 5.5.4"},
        {"BDAT x", "501 5.5.4"},
        {"BDAT 10 FIRST", "501 5.5.4"},
        {"BDAT 99999999999999999999999", "501 5.5.4"},
        {"MAIL <a@b.c>", "501 5.5.4 Syntax: MAIL FROM:<address>"},
        {"MAIL FROM:", "501 5.5.4 Syntax: MAIL FROM:<address>"},
        {"MAIL FROM:<a@b.c", "501 5.5.4"},
        {"MAIL FROM:<a@b.c>SIZE=10", "501 5.5.4"},
        {"MAIL FROM:<a b@c.d>", "501 5.1.7"},
        {"MAIL FROM:<hurd>", "501 5.1.7"},
        {"MAIL FROM:<@:a@b.c>", "501 5.1.7"}, /* a route needs a domain */
        {"MAIL FROM:<@a,b:a@b.c>", "501 5.1.7"},
        {"MAIL FROM:<a@b.c> =x", "501 5.5.4 Bad ESMTP"},
        {"MAIL FROM:<a@b.c> SIZE=", "501 5.5.4 Bad ESMTP"},
        {"MAIL FROM:<a@b.c> SI_ZE=1", "501 5.5.4 Bad ESMTP"},
        {"RCPT TO:<>", "501 5.1.3"},
        {"RCPT TO:<a..b@c.d>", "501 5.1.3"},
        {"RCPT TO:<a@b.c>>", "501 5.5.4"},
        {"RCPT FROM:<a@b.c>", "501 5.5.4 Syntax: RCPT TO:<address>"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i].line, &c, &r);
        CU_ASSERT_EQUAL(rc, -1);
        if (!r) {
            printf("\naccepted: %s\n", bad[i].line);
            continue;
        }
        if (strncmp(r, bad[i].reply_prefix, strlen(bad[i].reply_prefix)) != 0) {
            printf("\n%s -> %s\n", bad[i].line, r);
            CU_FAIL("wrong reply");
        }
    }
    CU_ASSERT_EQUAL(smtpproto_parse(pool, "NOOP\0x", 6, &c, &r), -1);
    CU_ASSERT_STRING_EQUAL(r, "500 5.5.2 Error: NUL character in command");
    pool_destroy(pool);
}

static void test_paths(void)
{
    pool = pool_create(0);
    smtpproto_command_t c;
    const char *r;
    CU_ASSERT_EQUAL_FATAL(parse("MAIL FROM:<foo@mydomain.com>", &c, &r), 0);
    CU_ASSERT_EQUAL(c.verb, SMTPPROTO_MAIL);
    CU_ASSERT_STRING_EQUAL(c.path, "foo@mydomain.com");
    CU_ASSERT_STRING_EQUAL(c.addr.local, "foo");
    CU_ASSERT_STRING_EQUAL(c.addr.domain, "mydomain.com");
    CU_ASSERT_EQUAL(c.nparams, 0);
    /* The seed's telnet transcripts: lower case and a space after the colon. */
    CU_ASSERT_EQUAL_FATAL(parse("mail from: <foo@mydomain.com>", &c, &r), 0);
    CU_ASSERT_STRING_EQUAL(c.path, "foo@mydomain.com");
    CU_ASSERT_EQUAL_FATAL(parse("rcpt to: <bar@yahoo.co.kr>", &c, &r), 0);
    CU_ASSERT_EQUAL(c.verb, SMTPPROTO_RCPT);
    CU_ASSERT_STRING_EQUAL(c.addr.domain, "yahoo.co.kr");
    CU_ASSERT_EQUAL_FATAL(parse("MAIL FROM:<>", &c, &r), 0);
    CU_ASSERT_STRING_EQUAL(c.path, "");
    CU_ASSERT_PTR_NULL(c.addr.local);
    CU_ASSERT_EQUAL_FATAL(parse("MAIL FROM:<> SIZE=100 BODY=8BITMIME SMTPUTF8  ", &c, &r), 0);
    CU_ASSERT_EQUAL_FATAL(c.nparams, 3);
    CU_ASSERT_STRING_EQUAL(c.params[0].key, "SIZE");
    CU_ASSERT_STRING_EQUAL(c.params[0].value, "100");
    CU_ASSERT_STRING_EQUAL(c.params[1].value, "8BITMIME");
    CU_ASSERT_STRING_EQUAL(c.params[2].key, "SMTPUTF8");
    CU_ASSERT_PTR_NULL(c.params[2].value);
    CU_ASSERT_EQUAL_FATAL(parse("RCPT TO:<@relay1.example,@relay2.example:Hurd+Lists@Example.TEST>",
                                &c, &r), 0);
    CU_ASSERT_STRING_EQUAL(c.path, "Hurd+Lists@Example.TEST");
    CU_ASSERT_STRING_EQUAL(c.addr.local, "Hurd");
    CU_ASSERT_STRING_EQUAL(c.addr.detail, "Lists");
    CU_ASSERT_STRING_EQUAL(c.addr.domain, "example.test");
    CU_ASSERT_EQUAL_FATAL(parse("RCPT TO:<\"odd > name\"@example.test>", &c, &r), 0);
    CU_ASSERT_STRING_EQUAL(c.addr.local, "odd > name");
    CU_ASSERT_EQUAL_FATAL(parse("RCPT TO:<Postmaster>", &c, &r), 0);
    CU_ASSERT_STRING_EQUAL(c.addr.local, "Postmaster");
    CU_ASSERT_PTR_NULL(c.addr.domain);
    CU_ASSERT_EQUAL_FATAL(parse("RCPT TO:hurd@example.test", &c, &r), 0);
    CU_ASSERT_STRING_EQUAL(c.path, "hurd@example.test");
    CU_ASSERT_EQUAL_FATAL(parse("RCPT TO:<최영봉@예제.test>", &c, &r), 0);
    CU_ASSERT_STRING_EQUAL(c.addr.local, "최영봉");
    pool_destroy(pool);
}

static void test_mail_params(void)
{
    pool = pool_create(0);
    smtpproto_command_t c;
    smtpproto_mail_params_t mp;
    const char *r;
    CU_ASSERT_EQUAL_FATAL(parse("MAIL FROM:<a@b.c> size=2048 body=8bitmime smtputf8", &c, &r), 0);
    CU_ASSERT_EQUAL(smtpproto_mail_params(&c, 4096, &mp, &r), 0);
    CU_ASSERT_EQUAL(mp.size, 2048);
    CU_ASSERT_EQUAL(mp.body_8bit, 1);
    CU_ASSERT_EQUAL(mp.smtputf8, 1);
    CU_ASSERT_EQUAL(smtpproto_mail_params(&c, 1024, &mp, &r), -1);
    CU_ASSERT_STRING_EQUAL(r, "552 5.3.4 Message size exceeds fixed limit");
    static const struct {
        const char *line, *reply;
    } bad[] = {
        {"MAIL FROM:<a@b.c> SIZE=12x", "501 5.5.4 Bad SIZE parameter"},
        {"MAIL FROM:<a@b.c> SIZE", "501 5.5.4 Bad SIZE parameter"},
        {"MAIL FROM:<a@b.c> SIZE=999999999999999999999999", "501 5.5.4 Bad SIZE parameter"},
        {"MAIL FROM:<a@b.c> BODY=BINARYMIME", "501 5.5.4 Bad BODY parameter"},
        {"MAIL FROM:<a@b.c> SMTPUTF8=yes", "501 5.5.4 Bad SMTPUTF8 parameter"},
        {"MAIL FROM:<a@b.c> RET=HDRS", "555 5.5.4 Unsupported MAIL FROM parameter"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_EQUAL_FATAL(parse(bad[i].line, &c, &r), 0);
        CU_ASSERT_EQUAL(smtpproto_mail_params(&c, 4096, &mp, &r), -1);
        CU_ASSERT_STRING_EQUAL(r, bad[i].reply);
    }
    CU_ASSERT_EQUAL_FATAL(parse("RCPT TO:<a@b.c>", &c, &r), 0);
    CU_ASSERT_EQUAL(smtpproto_rcpt_params(&c, &r), 0);
    CU_ASSERT_EQUAL_FATAL(parse("RCPT TO:<a@b.c> NOTIFY=NEVER", &c, &r), 0);
    CU_ASSERT_EQUAL(smtpproto_rcpt_params(&c, &r), -1);
    CU_ASSERT_STRING_EQUAL(r, "555 5.5.4 Unsupported RCPT TO parameter");
    pool_destroy(pool);
}

/* ---- DATA ---- */

static smtpproto_data_opts_t opts = {1 << 20, 102400, SMTPPROTO_BARE_LF_REJECT};

/* Feeds `in` in chunks of `chunk` bytes (0 = all at once) until the reader is done;
 * returns the total consumed. */
static size_t feed(smtpproto_data_t *d, const char *in, size_t len, size_t chunk)
{
    size_t off = 0;
    while (off < len && !smtpproto_data_done(d)) {
        size_t n = chunk && len - off > chunk ? chunk : len - off;
        size_t used = smtpproto_data_feed(d, in + off, n);
        CU_ASSERT(used <= n);
        off += used;
        if (used < n)
            break;
    }
    return off;
}

static int message_is(const smtpproto_data_t *d, const char *want)
{
    size_t len;
    const char *msg = smtpproto_data_message(d, &len);
    return len == strlen(want) && memcmp(msg, want, len) == 0;
}

static void test_data_basic_and_unstuffing(void)
{
    const char *in = "From: a@b.c\r\nSubject: x\r\n\r\n..leading dot\r\n.\r\n..\r\nend\r\n.\r\nQUIT\r\n";
    const char *want = "From: a@b.c\r\nSubject: x\r\n\r\n.leading dot\r\n";
    smtpproto_data_t *d = smtpproto_data_new(&opts);
    size_t used = feed(d, in, strlen(in), 0);
    CU_ASSERT(smtpproto_data_done(d));
    CU_ASSERT(message_is(d, want));
    /* Consumed up to the LF of the first <CRLF>.<CRLF>; the rest is the caller's. */
    CU_ASSERT_EQUAL(used, strlen(want) + 1 + 3); /* one stuffed dot, then ".\r\n" */
    CU_ASSERT_EQUAL(smtpproto_data_feed(d, in + used, strlen(in) - used), 0);
    CU_ASSERT_PTR_NULL(smtpproto_data_refusal(d));
    CU_ASSERT_EQUAL(smtpproto_data_flags(d), 0);
    smtpproto_data_free(d);

    d = smtpproto_data_new(&opts);
    CU_ASSERT_EQUAL(feed(d, ".\r\nNOOP\r\n", 9, 0), 3); /* an empty message */
    CU_ASSERT(smtpproto_data_done(d));
    CU_ASSERT(message_is(d, ""));
    smtpproto_data_free(d);
}

/* Every way of cutting the input into two pieces, and byte-by-byte, gives the same
 * message and the same consumed count as feeding it whole. */
static void test_data_chunk_boundaries(void)
{
    const char *in = "A\r\n.\r\r\n..\r\n.x\r\nb\rc\r\r\n\r\n.\r\nMAIL FROM:<>\r\n";
    smtpproto_data_t *whole = smtpproto_data_new(&opts);
    size_t want_used = feed(whole, in, strlen(in), 0);
    size_t want_len;
    const char *want = smtpproto_data_message(whole, &want_len);
    CU_ASSERT(smtpproto_data_done(whole));
    CU_ASSERT(message_is(whole, "A\r\n\r\r\n.\r\nx\r\nb\rc\r\r\n\r\n"));
    for (size_t cut = 0; cut <= strlen(in); cut++) {
        smtpproto_data_t *d = smtpproto_data_new(&opts);
        size_t used = smtpproto_data_feed(d, in, cut);
        if (!smtpproto_data_done(d))
            used += smtpproto_data_feed(d, in + used, strlen(in) - used);
        CU_ASSERT_EQUAL(used, want_used);
        size_t len;
        const char *msg = smtpproto_data_message(d, &len);
        CU_ASSERT(len == want_len && memcmp(msg, want, len) == 0);
        smtpproto_data_free(d);
    }
    smtpproto_data_t *d = smtpproto_data_new(&opts);
    CU_ASSERT_EQUAL(feed(d, in, strlen(in), 1), want_used);
    size_t len;
    const char *msg = smtpproto_data_message(d, &len);
    CU_ASSERT(len == want_len && memcmp(msg, want, len) == 0);
    smtpproto_data_free(d);
    smtpproto_data_free(whole);
}

/* None of the end-of-data look-alikes of the 2023 SMTP smuggling attacks ends DATA. */
static void test_data_smuggling(void)
{
    static const char *const lookalikes[] = {
        "x\n.\nMAIL FROM:<evil@x.y>\r\n",
        "x\r\n.\nMAIL FROM:<evil@x.y>\r\n",
        "x\n.\r\nMAIL FROM:<evil@x.y>\r\n",
        "x\r.\rMAIL FROM:<evil@x.y>\r\n",
        "x\r.\r\nMAIL FROM:<evil@x.y>\r\n",
        "x\r\n.\r.\r\nMAIL FROM:<evil@x.y>\r\n",
    };
    smtpproto_data_opts_t norm = opts;
    norm.bare_lf = SMTPPROTO_BARE_LF_NORMALISE;
    for (size_t i = 0; i < sizeof(lookalikes) / sizeof(lookalikes[0]); i++) {
        for (size_t chunk = 0; chunk <= 1; chunk++) {
            smtpproto_data_t *d = smtpproto_data_new(&norm);
            size_t len = strlen(lookalikes[i]);
            CU_ASSERT_EQUAL(feed(d, lookalikes[i], len, chunk), len);
            CU_ASSERT_FALSE(smtpproto_data_done(d));
            /* The real end still works afterwards. */
            CU_ASSERT_EQUAL(smtpproto_data_feed(d, ".\r\n", 3), 3);
            CU_ASSERT(smtpproto_data_done(d));
            size_t mlen;
            const char *msg = smtpproto_data_message(d, &mlen);
            /* The would-be second transaction stayed message content, in CRLF form. */
            CU_ASSERT_PTR_NOT_NULL(memmem(msg, mlen, "MAIL FROM:<evil@x.y>\r\n", 22));
            for (size_t k = 0; k < mlen; k++)
                if (msg[k] == '\n')
                    CU_ASSERT(k > 0 && msg[k - 1] == '\r');
            smtpproto_data_free(d);
        }
    }
}

static void test_data_bare_lf(void)
{
    const char *in = "Subject: a\nb\r\n.\r\n";
    smtpproto_data_t *d = smtpproto_data_new(&opts);
    CU_ASSERT_EQUAL(feed(d, in, strlen(in), 0), strlen(in));
    CU_ASSERT(smtpproto_data_done(d));
    CU_ASSERT(smtpproto_data_flags(d) & SMTPPROTO_DATA_BARE_LF);
    CU_ASSERT_PTR_NOT_NULL(smtpproto_data_refusal(d));
    CU_ASSERT_NSTRING_EQUAL(smtpproto_data_refusal(d), "550 5.6.2", 9);
    smtpproto_data_free(d);

    smtpproto_data_opts_t norm = opts;
    norm.bare_lf = SMTPPROTO_BARE_LF_NORMALISE;
    d = smtpproto_data_new(&norm);
    CU_ASSERT_EQUAL(feed(d, in, strlen(in), 0), strlen(in));
    CU_ASSERT(message_is(d, "Subject: a\r\nb\r\n"));
    CU_ASSERT_PTR_NULL(smtpproto_data_refusal(d));
    smtpproto_data_free(d);
}

static void test_data_size_limit(void)
{
    smtpproto_data_opts_t small = {100, 1000, SMTPPROTO_BARE_LF_REJECT};
    char in[1200];
    size_t n = 0;
    for (int i = 0; i < 30; i++)
        n += (size_t)sprintf(in + n, "line %02d xxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", i);
    size_t body = n;
    n += (size_t)sprintf(in + n, ".\r\nRSET\r\n");
    smtpproto_data_t *d = smtpproto_data_new(&small);
    size_t used = feed(d, in, n, 7);
    CU_ASSERT(smtpproto_data_done(d));
    CU_ASSERT_EQUAL(used, body + 3);
    CU_ASSERT(smtpproto_data_flags(d) & SMTPPROTO_DATA_TOO_BIG);
    CU_ASSERT_EQUAL(smtpproto_data_seen(d), body);
    size_t len;
    smtpproto_data_message(d, &len);
    CU_ASSERT(len <= 100);
    CU_ASSERT_STRING_EQUAL(smtpproto_data_refusal(d), "552 5.3.4 Message size exceeds fixed limit");
    smtpproto_data_free(d);

    /* Exactly at the limit is fine. */
    smtpproto_data_opts_t exact = {12, 1000, SMTPPROTO_BARE_LF_REJECT};
    d = smtpproto_data_new(&exact);
    feed(d, "0123456789\r\n.\r\n", 15, 0);
    CU_ASSERT(smtpproto_data_done(d));
    CU_ASSERT_PTR_NULL(smtpproto_data_refusal(d));
    smtpproto_data_free(d);
}

static void test_data_header_limit_and_long_lines(void)
{
    smtpproto_data_opts_t o = {1 << 20, 64, SMTPPROTO_BARE_LF_REJECT};
    /* A big body after a small header is fine... */
    char in[4000];
    size_t n = (size_t)sprintf(in, "Subject: small\r\n\r\n");
    for (int i = 0; i < 20; i++)
        n += (size_t)sprintf(in + n, "body line %d with some text in it\r\n", i);
    n += (size_t)sprintf(in + n, ".\r\n");
    smtpproto_data_t *d = smtpproto_data_new(&o);
    feed(d, in, n, 0);
    CU_ASSERT(smtpproto_data_done(d));
    CU_ASSERT_PTR_NULL(smtpproto_data_refusal(d));
    smtpproto_data_free(d);
    /* ...a header section over the limit is not. */
    n = 0;
    for (int i = 0; i < 5; i++)
        n += (size_t)sprintf(in + n, "X-Header-%d: some value here\r\n", i);
    n += (size_t)sprintf(in + n, "\r\nbody\r\n.\r\n");
    d = smtpproto_data_new(&o);
    feed(d, in, n, 3);
    CU_ASSERT(smtpproto_data_done(d));
    CU_ASSERT(smtpproto_data_flags(d) & SMTPPROTO_DATA_HEADER_TOO_BIG);
    CU_ASSERT_STRING_EQUAL(smtpproto_data_refusal(d), "552 5.3.4 Message header size exceeds limit");
    smtpproto_data_free(d);
    /* A 1000-octet text line (998 + CRLF is the maximum) is reported, not refused. */
    memset(in, 'z', 999);
    memcpy(in + 999, "\r\n.\r\n", 5);
    d = smtpproto_data_new(&opts);
    feed(d, in, 1004, 0);
    CU_ASSERT(smtpproto_data_done(d));
    CU_ASSERT(smtpproto_data_flags(d) & SMTPPROTO_DATA_LONG_LINE);
    CU_ASSERT_PTR_NULL(smtpproto_data_refusal(d));
    smtpproto_data_free(d);
    d = smtpproto_data_new(&opts);
    feed(d, in + 1, 1003, 0);
    CU_ASSERT_FALSE(smtpproto_data_flags(d) & SMTPPROTO_DATA_LONG_LINE);
    smtpproto_data_free(d);
}

static void test_data_8bit_kept(void)
{
    const char *in = "From: 최영봉 <foo@mydomain.com>\r\nSubject: 아싸 테스트...\r\n\r\n"
                     "이것은 테스트 메일입니다. ^^;\r\n\x00\xff\r\n.\r\n";
    size_t len = strlen(in) + 7; /* the NUL byte and what follows it are content too */
    smtpproto_data_t *d = smtpproto_data_new(&opts);
    CU_ASSERT_EQUAL(feed(d, in, len, 5), len);
    size_t mlen;
    const char *msg = smtpproto_data_message(d, &mlen);
    CU_ASSERT_EQUAL(mlen, len - 3);
    CU_ASSERT(memcmp(msg, in, len - 3) == 0);
    smtpproto_data_free(d);
}

/* Feeds one BDAT chunk in pieces of `piece` bytes; returns what the reader left of it. */
static unsigned long long feed_chunk(smtpproto_data_t *d, const char *in, size_t len,
                                     size_t piece)
{
    unsigned long long remaining = len;
    size_t off = 0;
    while (off < len) {
        size_t n = piece && len - off > piece ? piece : len - off;
        size_t used = smtpproto_data_feed_chunk(d, in + off, n, &remaining);
        CU_ASSERT_EQUAL(used, n);
        off += used;
    }
    return remaining;
}

static void test_bdat_chunks(void)
{
    /* Dots are content in BDAT; a CRLF split across chunks is still one line end. */
    const char *c1 = "Subject: x\r\n\r\n.\r\n..dots stay\r";
    const char *c2 = "\nend\r\n";
    for (size_t piece = 0; piece < 4; piece++) {
        smtpproto_data_t *d = smtpproto_data_new_chunked(&opts);
        CU_ASSERT(smtpproto_data_is_chunked(d));
        CU_ASSERT_EQUAL(feed_chunk(d, c1, strlen(c1), piece), 0);
        CU_ASSERT_FALSE(smtpproto_data_done(d));
        CU_ASSERT_EQUAL(feed_chunk(d, c2, strlen(c2), piece), 0);
        smtpproto_data_finish(d);
        CU_ASSERT(smtpproto_data_done(d));
        CU_ASSERT(message_is(d, "Subject: x\r\n\r\n.\r\n..dots stay\r\nend\r\n"));
        CU_ASSERT_EQUAL(smtpproto_data_flags(d), 0);
        CU_ASSERT_PTR_NULL(smtpproto_data_refusal(d));
        smtpproto_data_free(d);
    }
    /* A chunk never takes more than its size: the rest is the next command. */
    smtpproto_data_t *d = smtpproto_data_new_chunked(&opts);
    unsigned long long remaining = 3;
    CU_ASSERT_EQUAL(smtpproto_data_feed_chunk(d, "abcQUIT\r\n", 9, &remaining), 3);
    CU_ASSERT_EQUAL(remaining, 0);
    smtpproto_data_finish(d);
    CU_ASSERT(message_is(d, "abc"));
    smtpproto_data_free(d);
}

static void test_bdat_limits(void)
{
    /* A bare LF is flagged (refused under REJECT) and stored as CRLF. */
    smtpproto_data_t *d = smtpproto_data_new_chunked(&opts);
    feed_chunk(d, "A: b\n\nbody\n", 11, 0);
    smtpproto_data_finish(d);
    CU_ASSERT(message_is(d, "A: b\r\n\r\nbody\r\n"));
    CU_ASSERT_EQUAL(smtpproto_data_seen(d), 11);
    CU_ASSERT(smtpproto_data_flags(d) & SMTPPROTO_DATA_BARE_LF);
    CU_ASSERT_PTR_NOT_NULL(smtpproto_data_refusal(d));
    smtpproto_data_free(d);

    /* Over the size limit: counted, dropped, refused with 552. */
    smtpproto_data_opts_t small = {16, 8, SMTPPROTO_BARE_LF_NORMALISE};
    d = smtpproto_data_new_chunked(&small);
    feed_chunk(d, "\r\n0123456789", 12, 0);
    feed_chunk(d, "0123456789", 10, 0);
    smtpproto_data_finish(d);
    CU_ASSERT_EQUAL(smtpproto_data_seen(d), 22);
    CU_ASSERT(smtpproto_data_flags(d) & SMTPPROTO_DATA_TOO_BIG);
    CU_ASSERT_STRING_EQUAL(smtpproto_data_refusal(d), "552 5.3.4 Message size exceeds fixed limit");
    smtpproto_data_free(d);

    /* A header section over its limit, even as one endless line. */
    smtpproto_data_opts_t hdr = {1 << 20, 8, SMTPPROTO_BARE_LF_NORMALISE};
    d = smtpproto_data_new_chunked(&hdr);
    feed_chunk(d, "X-Long: 0123456789", 18, 0);
    CU_ASSERT(smtpproto_data_flags(d) & SMTPPROTO_DATA_HEADER_TOO_BIG);
    smtpproto_data_free(d);
    d = smtpproto_data_new_chunked(&hdr);
    const char *late = "A: 1\r\n\r\nX-Not-A-Header-Now: 0123456789\r\n";
    feed_chunk(d, late, strlen(late), 0);
    CU_ASSERT_FALSE(smtpproto_data_flags(d) & SMTPPROTO_DATA_HEADER_TOO_BIG);
    smtpproto_data_free(d);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"command lines", test_lines},
        {"command line length limit", test_line_limits},
        {"verbs and arguments", test_verbs},
        {"bad commands get the right reply", test_bad_commands},
        {"MAIL and RCPT paths", test_paths},
        {"ESMTP parameters", test_mail_params},
        {"DATA: end, un-stuffing, pipelined rest", test_data_basic_and_unstuffing},
        {"DATA: every chunk boundary", test_data_chunk_boundaries},
        {"DATA: smuggling look-alikes never end it", test_data_smuggling},
        {"DATA: bare LF reject and normalise", test_data_bare_lf},
        {"DATA: size limit", test_data_size_limit},
        {"DATA: header limit and long lines", test_data_header_limit_and_long_lines},
        {"DATA: 8-bit and UTF-8 bytes kept", test_data_8bit_kept},
        {"BDAT: chunks taken as they are", test_bdat_chunks},
        {"BDAT: bare LF, size and header limits", test_bdat_limits},
        {NULL, NULL},
    };
    return testkit_run("smtpproto", cases);
}
