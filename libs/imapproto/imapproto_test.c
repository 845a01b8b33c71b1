/* imapproto_test: CUnit tests for the IMAP command parser (streaming, literals, limits,
 * recovery after bad lines), sequence sets, FETCH attributes, dates and output quoting. */
#include "imapproto/imapproto.h"
#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <string.h>

/* A session's input buffer as the gateway keeps it: bytes arrive, the parser is asked
 * only when `need` bytes are there, consumed bytes are dropped. */
struct feed {
    imapproto_parser_t *p;
    pool_t *pool;
    unsigned char buf[4096];
    size_t len, need;
    int continuations;
};

static void feed_init(struct feed *f, const imapproto_limits_t *lim)
{
    memset(f, 0, sizeof(*f));
    f->p = imapproto_parser_new(lim);
    f->pool = pool_create(0);
}

static void feed_done(struct feed *f)
{
    imapproto_parser_free(f->p);
    pool_destroy(f->pool);
}

static void feed_add(struct feed *f, const void *data, size_t n)
{
    memcpy(f->buf + f->len, data, n);
    f->len += n;
}

/* Parses once, dropping what the parser consumed. */
static imapproto_result_t feed_parse(struct feed *f)
{
    imapproto_result_t r = imapproto_parse(f->p, f->buf, f->len, f->pool);
    CU_ASSERT_FATAL(r.consumed <= f->len);
    memmove(f->buf, f->buf + r.consumed, f->len - r.consumed);
    f->len -= r.consumed;
    if (r.status == IMAPPROTO_CONTINUE)
        f->continuations++;
    f->need = (r.status == IMAPPROTO_MORE || r.status == IMAPPROTO_CONTINUE) ? r.need : 0;
    return r;
}

/* Adds bytes and parses until a command or error comes out, or more input is needed. */
static imapproto_result_t feed_str(struct feed *f, const char *s)
{
    feed_add(f, s, strlen(s));
    imapproto_result_t r;
    do {
        r = feed_parse(f);
    } while (r.status == IMAPPROTO_MORE && r.consumed > 0 && f->len >= f->need);
    return r;
}

static void test_simple_and_pipelined(void)
{
    struct feed f;
    feed_init(&f, NULL);
    const char *two = "a1 login hurd secret\r\na2 NOOP\r\n";
    feed_add(&f, two, strlen(two));
    imapproto_result_t r = feed_parse(&f);
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_EQUAL(r.consumed, strlen("a1 login hurd secret\r\n"));
    CU_ASSERT_STRING_EQUAL(r.command->tag, "a1");
    CU_ASSERT_STRING_EQUAL(r.command->name, "LOGIN");
    CU_ASSERT_EQUAL_FATAL(r.command->nargs, 2);
    CU_ASSERT_EQUAL(r.command->args[0].type, IMAPPROTO_ATOM);
    CU_ASSERT_STRING_EQUAL(imapproto_arg_string(&r.command->args[1]), "secret");
    r = feed_parse(&f);
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_STRING_EQUAL(r.command->name, "NOOP");
    CU_ASSERT_EQUAL(r.command->nargs, 0);
    CU_ASSERT_EQUAL(f.len, 0);
    /* A bare LF ends a line too, and blank lines between commands are skipped. */
    r = feed_str(&f, "\r\n\na3 CAPABILITY\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_STRING_EQUAL(r.command->tag, "a3");
    feed_done(&f);
}

static void test_partial_line(void)
{
    struct feed f;
    feed_init(&f, NULL);
    imapproto_result_t r = feed_str(&f, "a1 NOO");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_MORE);
    CU_ASSERT_EQUAL(r.consumed, 0);
    CU_ASSERT_EQUAL(r.need, 7);
    r = feed_str(&f, "P\r");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_MORE);
    r = feed_str(&f, "\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_STRING_EQUAL(r.command->name, "NOOP");
    feed_done(&f);
}

static void test_sync_literal_split(void)
{
    struct feed f;
    feed_init(&f, NULL);
    imapproto_result_t r = feed_str(&f, "a2 LOGIN {4}\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_CONTINUE);
    CU_ASSERT_EQUAL(r.consumed, 0);
    CU_ASSERT_EQUAL(r.need, strlen("a2 LOGIN {4}\r\n") + 4);
    /* Asked again before the literal is complete: no second continuation. */
    r = feed_str(&f, "hu");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_MORE);
    r = feed_str(&f, "rd {6}\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_CONTINUE);
    r = feed_str(&f, "sec");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_MORE);
    r = feed_str(&f, "ret\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_EQUAL(f.continuations, 2);
    CU_ASSERT_EQUAL_FATAL(r.command->nargs, 2);
    CU_ASSERT_EQUAL(r.command->args[0].type, IMAPPROTO_LITERAL);
    CU_ASSERT_STRING_EQUAL(r.command->args[0].str, "hurd");
    CU_ASSERT_STRING_EQUAL(r.command->args[1].str, "secret");
    CU_ASSERT_EQUAL(f.len, 0);
    feed_done(&f);
}

static void test_literal_plus(void)
{
    struct feed f;
    feed_init(&f, NULL);
    imapproto_result_t r = feed_str(&f, "a3 LOGIN {4+}\r\nhu");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_MORE);
    CU_ASSERT_EQUAL(r.need, strlen("a3 LOGIN {4+}\r\n") + 4);
    r = feed_str(&f, "rd {6+}\r\nsecret\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_EQUAL(f.continuations, 0);
    CU_ASSERT_STRING_EQUAL(imapproto_arg_string(&r.command->args[1]), "secret");
    feed_done(&f);
}

/* Feeding one byte at a time gives the same command, one continuation per sync literal. */
static void test_byte_at_a_time(void)
{
    const char *cmd = "x1 APPEND \"Sent Items\" (\\Seen) {5}\r\nhello {3+}\r\nabc\r\n";
    struct feed f;
    feed_init(&f, NULL);
    imapproto_result_t r = {0};
    for (size_t i = 0; cmd[i]; i++) {
        feed_add(&f, cmd + i, 1);
        if (f.len < f.need)
            continue;
        r = feed_parse(&f);
        if (r.status == IMAPPROTO_COMMAND)
            CU_ASSERT_EQUAL(cmd[i + 1], 0);
    }
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_EQUAL(f.continuations, 1);
    imapproto_command_t *c = r.command;
    CU_ASSERT_EQUAL_FATAL(c->nargs, 4);
    CU_ASSERT_EQUAL(c->args[0].type, IMAPPROTO_QUOTED);
    CU_ASSERT_STRING_EQUAL(c->args[0].str, "Sent Items");
    CU_ASSERT_EQUAL(c->args[1].type, IMAPPROTO_LIST);
    CU_ASSERT_STRING_EQUAL(c->args[1].items[0].str, "\\Seen");
    CU_ASSERT_STRING_EQUAL(c->args[2].str, "hello");
    CU_ASSERT_STRING_EQUAL(c->args[3].str, "abc");
    feed_done(&f);
}

static void test_nested_lists_and_sections(void)
{
    struct feed f;
    feed_init(&f, NULL);
    imapproto_result_t r = feed_str(
        &f, "a4 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> (X NIL ()))\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    imapproto_command_t *c = r.command;
    CU_ASSERT_STRING_EQUAL(c->name, "UID");
    CU_ASSERT_EQUAL_FATAL(c->nargs, 3);
    CU_ASSERT_STRING_EQUAL(c->args[0].str, "FETCH");
    CU_ASSERT_STRING_EQUAL(c->args[1].str, "1:*");
    imapproto_arg_t *l = &c->args[2];
    CU_ASSERT_EQUAL_FATAL(l->type, IMAPPROTO_LIST);
    CU_ASSERT_EQUAL_FATAL(l->count, 3);
    CU_ASSERT_STRING_EQUAL(l->items[0].str, "FLAGS");
    CU_ASSERT_STRING_EQUAL(l->items[1].str, "BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>");
    CU_ASSERT_EQUAL_FATAL(l->items[2].type, IMAPPROTO_LIST);
    CU_ASSERT_EQUAL_FATAL(l->items[2].count, 3);
    CU_ASSERT_EQUAL(l->items[2].items[1].type, IMAPPROTO_NIL);
    CU_ASSERT_EQUAL(l->items[2].items[2].type, IMAPPROTO_LIST);
    CU_ASSERT_EQUAL(l->items[2].items[2].count, 0);
    /* A literal may close a list directly. */
    r = feed_str(&f, "a5 X ({3}\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_CONTINUE);
    r = feed_str(&f, "abc)\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_EQUAL_FATAL(r.command->args[0].count, 1);
    CU_ASSERT_STRING_EQUAL(r.command->args[0].items[0].str, "abc");
    feed_done(&f);
}

static void test_depth_limit(void)
{
    imapproto_limits_t lim = {.max_depth = 3};
    struct feed f;
    feed_init(&f, &lim);
    imapproto_result_t r = feed_str(&f, "d1 X (((a)))\r\n");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_COMMAND);
    r = feed_str(&f, "d2 X ((((a))))\r\nd3 NOOP\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_EQUAL(r.error_kind, IMAPPROTO_ERR_SYNTAX);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.error, "nested"));
    CU_ASSERT_STRING_EQUAL(r.tag, "d2");
    r = feed_parse(&f);
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_STRING_EQUAL(r.command->tag, "d3");
    feed_done(&f);
}

static void test_quoted_escapes(void)
{
    struct feed f;
    feed_init(&f, NULL);
    imapproto_result_t r = feed_str(&f, "q1 LOGIN \"a\\\"b\\\\c\" \"\"\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_STRING_EQUAL(r.command->args[0].str, "a\"b\\c");
    CU_ASSERT_EQUAL(r.command->args[0].len, 5);
    CU_ASSERT_EQUAL(r.command->args[1].type, IMAPPROTO_QUOTED);
    CU_ASSERT_EQUAL(r.command->args[1].len, 0);
    r = feed_str(&f, "q2 LOGIN \"a\\nb\" x\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.error, "escape"));
    r = feed_str(&f, "q3 LOGIN \"abc\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.error, "Unterminated"));
    CU_ASSERT_EQUAL(f.len, 0);
    feed_done(&f);
}

static void test_8bit_literal(void)
{
    static const unsigned char body[] = {'\xec', '\xb5', '\x9c', 0, '\r', '\n', '\xff', '"',
                                         '\\', '}', '{', '\x80'};
    struct feed f;
    feed_init(&f, NULL);
    imapproto_result_t r = feed_str(&f, "b1 APPEND INBOX {12+}\r\n");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_MORE);
    feed_add(&f, body, sizeof(body));
    r = feed_str(&f, "\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    imapproto_arg_t *a = &r.command->args[1];
    CU_ASSERT_EQUAL(a->type, IMAPPROTO_LITERAL);
    CU_ASSERT_EQUAL_FATAL(a->len, sizeof(body));
    CU_ASSERT_EQUAL(memcmp(a->str, body, sizeof(body)), 0);
    /* A NUL byte makes it unusable as a string (user name, mailbox). */
    CU_ASSERT_PTR_NULL(imapproto_arg_string(a));
    feed_done(&f);
}

static void test_malformed_lines_skipped(void)
{
    struct feed f;
    feed_init(&f, NULL);
    const char *bad = "m1 FETCH 1 (FLAGS\r\n";
    imapproto_result_t r = feed_str(&f, "m1 FETCH 1 (FLAGS\r\nm2 NOOP\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_STRING_EQUAL(r.tag, "m1");
    CU_ASSERT_EQUAL(r.consumed, strlen(bad));
    r = feed_parse(&f);
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_STRING_EQUAL(r.command->tag, "m2");

    /* The bad line announced a LITERAL+: its data is dropped, not read as a command. */
    const char *lit = "m3 SELECT )x {10+}\r\nm9 LOGOUT\r\n";
    r = feed_str(&f, "m3 SELECT )x {10+}\r\nm9 LOGOUT\r\nm4 NOOP\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_STRING_EQUAL(r.tag, "m3");
    CU_ASSERT_EQUAL(r.consumed, strlen(lit));
    r = feed_parse(&f);
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_STRING_EQUAL(r.command->tag, "m4");

    /* No tag, a bad tag, a missing command, junk after a quoted string. */
    r = feed_str(&f, "* NOOP\r\n");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_PTR_NULL(r.tag);
    r = feed_str(&f, "m5\r\n");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_STRING_EQUAL(r.tag, "m5");
    r = feed_str(&f, "m6 LOGIN \"a\"b\r\n");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_ERROR);
    r = feed_str(&f, "m7 X {abc}\r\n");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_ERROR);
    r = feed_str(&f, "m8 X a\rb\r\n");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_EQUAL(f.len, 0);
    feed_done(&f);
}

static void test_line_too_long(void)
{
    imapproto_limits_t lim = {.max_line = 32};
    struct feed f;
    feed_init(&f, &lim);
    imapproto_result_t r = feed_str(&f, "t1 LOGIN aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_EQUAL(r.error_kind, IMAPPROTO_ERR_TOOBIG);
    CU_ASSERT_STRING_EQUAL(r.tag, "t1");
    CU_ASSERT_EQUAL(f.len, 0);
    /* The rest of that line is still dropped when it arrives. */
    r = feed_str(&f, "aaaa\r\nt2 NOOP\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_STRING_EQUAL(r.command->tag, "t2");
    /* Lines around literals count together. */
    r = feed_str(&f, "t3 X {1+}\r\na {1+}\r\nb {1+}\r\nc aaaaaaaa\r\n");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_EQUAL(r.error_kind, IMAPPROTO_ERR_TOOBIG);
    feed_done(&f);
}

static void test_literal_too_big(void)
{
    imapproto_limits_t lim = {.max_literal = 10};
    struct feed f;
    feed_init(&f, &lim);
    imapproto_result_t r = feed_str(&f, "b1 APPEND INBOX {11}\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_EQUAL(r.error_kind, IMAPPROTO_ERR_TOOBIG);
    CU_ASSERT_STRING_EQUAL(r.tag, "b1");
    CU_ASSERT_EQUAL(f.continuations, 0);
    CU_ASSERT_EQUAL(f.len, 0);
    /* A LITERAL+ comes anyway: all 11 bytes and the rest of the command are dropped,
     * however they arrive. */
    r = feed_str(&f, "b2 APPEND INBOX {11+}\r\nb9 NOOP\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_STRING_EQUAL(r.tag, "b2");
    r = feed_str(&f, "x {3+}\r\n");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_MORE);
    r = feed_str(&f, "abc\r\nb3 NOOP\r\n");
    CU_ASSERT_EQUAL_FATAL(r.status, IMAPPROTO_COMMAND);
    CU_ASSERT_STRING_EQUAL(r.command->tag, "b3");
    /* Two literals within the limit each but not together. */
    r = feed_str(&f, "b4 X {6+}\r\n123456 {6+}\r\n");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_EQUAL(r.error_kind, IMAPPROTO_ERR_TOOBIG);
    /* Its second literal's 6 bytes are dropped; a size past 64 bits is just too big. */
    r = feed_str(&f, "abcdef\r\n99999999999999999999999 X {99999999999999999999999}\r\n");
    CU_ASSERT_EQUAL(r.status, IMAPPROTO_ERROR);
    CU_ASSERT_EQUAL(r.error_kind, IMAPPROTO_ERR_TOOBIG);
    CU_ASSERT_STRING_EQUAL(r.tag, "99999999999999999999999");
    CU_ASSERT_EQUAL(f.len, 0);
    feed_done(&f);
}

/* Random bytes in random chunks (a deterministic generator, so failures reproduce):
 * the parser never consumes more than it has, never stalls with bytes it could use, and
 * every command it returns has a tag and a name. */
static void test_random_input(void)
{
    static const char alphabet[] = "a1 (){}+\"\\\r\n*[]<>.NIL0123456789x\x80\xff";
    imapproto_limits_t lim = {.max_line = 200, .max_literal = 50, .max_depth = 4};
    uint32_t seed = 12345;
    size_t commands = 0, errors = 0;
    for (int round = 0; round < 200; round++) {
        struct feed f;
        feed_init(&f, &lim);
        for (int chunk = 0; chunk < 50; chunk++) {
            unsigned char data[64];
            seed = seed * 1103515245u + 12345u;
            size_t n = (seed >> 16) % sizeof(data);
            for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                data[i] = (unsigned char)alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
            }
            if (f.len + n > sizeof(f.buf))
                break;
            feed_add(&f, data, n);
            while (f.len && f.len >= f.need) {
                size_t before = f.len;
                imapproto_result_t r = feed_parse(&f);
                if (r.status == IMAPPROTO_COMMAND) {
                    commands++;
                    CU_ASSERT_PTR_NOT_NULL(r.command->tag);
                    CU_ASSERT(r.command->name[0] != 0);
                } else if (r.status == IMAPPROTO_ERROR) {
                    errors++;
                    CU_ASSERT(r.consumed > 0);
                    CU_ASSERT_PTR_NOT_NULL(r.error);
                } else if (r.consumed == 0) {
                    CU_ASSERT(r.need > before);
                    break;
                }
            }
            pool_clear(f.pool);
        }
        feed_done(&f);
    }
    CU_ASSERT(commands > 0);
    CU_ASSERT(errors > 0);
}

static void test_seqset(void)
{
    pool_t *pool = pool_create(0);
    imapproto_seqset_t s;
    CU_ASSERT_EQUAL_FATAL(imapproto_seqset_parse(pool, "1:*", &s), 0);
    CU_ASSERT(imapproto_seqset_contains(&s, 1, 10));
    CU_ASSERT(imapproto_seqset_contains(&s, 10, 10));
    CU_ASSERT(!imapproto_seqset_contains(&s, 11, 10));
    CU_ASSERT_EQUAL_FATAL(imapproto_seqset_parse(pool, "2,4:7,9", &s), 0);
    CU_ASSERT_EQUAL(s.count, 3);
    uint32_t in[] = {2, 4, 5, 7, 9}, out[] = {1, 3, 8, 10};
    for (size_t i = 0; i < sizeof(in) / sizeof(*in); i++)
        CU_ASSERT(imapproto_seqset_contains(&s, in[i], 100));
    for (size_t i = 0; i < sizeof(out) / sizeof(*out); i++)
        CU_ASSERT(!imapproto_seqset_contains(&s, out[i], 100));
    CU_ASSERT_EQUAL_FATAL(imapproto_seqset_parse(pool, "*", &s), 0);
    CU_ASSERT(imapproto_seqset_contains(&s, 42, 42));
    CU_ASSERT(!imapproto_seqset_contains(&s, 41, 42));
    /* n:* with n past the end still names the last message (RFC 3501 9, seq-range). */
    CU_ASSERT_EQUAL_FATAL(imapproto_seqset_parse(pool, "50:*", &s), 0);
    CU_ASSERT(imapproto_seqset_contains(&s, 42, 42));
    CU_ASSERT(!imapproto_seqset_contains(&s, 41, 42));
    CU_ASSERT_EQUAL_FATAL(imapproto_seqset_parse(pool, "7:4", &s), 0);
    CU_ASSERT(imapproto_seqset_contains(&s, 5, 100));
    CU_ASSERT_EQUAL_FATAL(imapproto_seqset_parse(pool, "4294967295", &s), 0);
    CU_ASSERT(imapproto_seqset_contains(&s, 4294967295u, 1));
    const char *bad[] = {"", "0", "1,,2", "1:", ":2", "a", "1,", "4294967296", "1:2:3",
                         "01", " 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        CU_ASSERT_EQUAL(imapproto_seqset_parse(pool, bad[i], &s), -1);
    pool_destroy(pool);
}

static void test_fetch_att(void)
{
    pool_t *pool = pool_create(0);
    imapproto_fetch_att_t a;
    CU_ASSERT_EQUAL_FATAL(imapproto_fetch_att_parse(pool, "rfc822.size", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.name, "RFC822.SIZE");
    CU_ASSERT(!a.has_section);
    CU_ASSERT_EQUAL_FATAL(imapproto_fetch_att_parse(pool, "BODY[]", &a), 0);
    CU_ASSERT(a.has_section);
    CU_ASSERT_STRING_EQUAL(a.text, "");
    CU_ASSERT_EQUAL_FATAL(
        imapproto_fetch_att_parse(pool, "body.peek[header.fields (From \"X-A b\")]<10.200>", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.name, "BODY.PEEK");
    CU_ASSERT_STRING_EQUAL(a.text, "HEADER.FIELDS");
    CU_ASSERT_EQUAL_FATAL(a.nfields, 2);
    CU_ASSERT_STRING_EQUAL(a.fields[0], "From");
    CU_ASSERT_STRING_EQUAL(a.fields[1], "X-A b");
    CU_ASSERT(a.has_partial);
    CU_ASSERT_EQUAL(a.offset, 10);
    CU_ASSERT_EQUAL(a.length, 200);
    CU_ASSERT_EQUAL_FATAL(imapproto_fetch_att_parse(pool, "BODY[1.2.MIME]", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.part, "1.2");
    CU_ASSERT_STRING_EQUAL(a.text, "MIME");
    CU_ASSERT_EQUAL_FATAL(imapproto_fetch_att_parse(pool, "BODY[3]", &a), 0);
    CU_ASSERT_STRING_EQUAL(a.part, "3");
    CU_ASSERT_STRING_EQUAL(a.text, "");
    const char *bad[] = {"BODY[", "BODY[MIME]", "BODY[HEADER.FIELDS]", "BODY[HEADER.FIELDS ()]",
                         "BODY[TEXT]<5>", "BODY[]<1.0>", "RFC822<0.1>", "BODY[0]",
                         "BODY[1HEADER]", "BODY[HEADER] ", "[TEXT]", "BODY[FOO]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        CU_ASSERT_EQUAL(imapproto_fetch_att_parse(pool, bad[i], &a), -1);
    pool_destroy(pool);
}

static void test_datetime(void)
{
    char buf[IMAPPROTO_DATETIME_SIZE];
    imapproto_datetime(837596665, -7 * 60, buf);
    CU_ASSERT_STRING_EQUAL(buf, "\"17-Jul-1996 02:44:25 -0700\"");
    imapproto_datetime(837596665, 9 * 60, buf);
    CU_ASSERT_STRING_EQUAL(buf, "\"17-Jul-1996 18:44:25 +0900\"");
    imapproto_datetime(0, 0, buf);
    CU_ASSERT_STRING_EQUAL(buf, "\"01-Jan-1970 00:00:00 +0000\"");
}

static void test_output_strings(void)
{
    pool_t *pool = pool_create(0);
    size_t n;
    char *s = imapproto_string(pool, "INBOX", 5, &n);
    CU_ASSERT_STRING_EQUAL(s, "\"INBOX\"");
    CU_ASSERT_EQUAL(n, 7);
    const char *hangul = "\xec\x95\x84\xec\x8b\xb8 \xed\x85\x8c\xec\x8a\xa4\xed\x8a\xb8";
    s = imapproto_string(pool, hangul, strlen(hangul), &n);
    CU_ASSERT_EQUAL(n, strlen("{16}\r\n") + 16);
    CU_ASSERT_EQUAL(memcmp(s, "{16}\r\n", 6), 0);
    CU_ASSERT_EQUAL(memcmp(s + 6, hangul, 16), 0);
    const char *special[] = {"a\"b", "a\\b", "a\r\nb", "x\n"};
    for (size_t i = 0; i < sizeof(special) / sizeof(*special); i++) {
        CU_ASSERT(imapproto_needs_literal(special[i], strlen(special[i])));
        s = imapproto_string(pool, special[i], strlen(special[i]), &n);
        CU_ASSERT_EQUAL(s[0], '{');
        CU_ASSERT_EQUAL(memcmp(s + n - strlen(special[i]), special[i], strlen(special[i])), 0);
    }
    CU_ASSERT(imapproto_needs_literal("a\0b", 3));
    CU_ASSERT(!imapproto_needs_literal("Hello World", 11));
    s = imapproto_string(pool, "", 0, &n);
    CU_ASSERT_STRING_EQUAL(s, "\"\"");
    pool_destroy(pool);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"simple and pipelined commands", test_simple_and_pipelined},
        {"partial line", test_partial_line},
        {"synchronizing literal split across reads", test_sync_literal_split},
        {"LITERAL+", test_literal_plus},
        {"byte at a time", test_byte_at_a_time},
        {"nested lists and sections", test_nested_lists_and_sections},
        {"depth limit", test_depth_limit},
        {"quoted escapes", test_quoted_escapes},
        {"8-bit literal bytes", test_8bit_literal},
        {"malformed lines skipped", test_malformed_lines_skipped},
        {"line too long", test_line_too_long},
        {"literal too big", test_literal_too_big},
        {"random input always progresses", test_random_input},
        {"sequence sets", test_seqset},
        {"fetch attributes", test_fetch_att},
        {"date-time", test_datetime},
        {"output strings", test_output_strings},
        {NULL, NULL},
    };
    return testkit_run("imapproto", cases);
}
