/* parser: the IMAP command parser behind imapproto_parse. It re-reads the buffered bytes
 * from the start of the command each time it is called, which is cheap because callers
 * only call again once `need` bytes are there (a literal is waited for whole). A first
 * pass only validates; the tree is built in a second pass once the command is complete,
 * so an incomplete command never allocates. After an error the parser drops the rest of
 * the bad line, and the data of a LITERAL+ that line announced, so that bytes the client
 * keeps sending are never mistaken for commands. */
#include "imapproto/imapproto.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IMAPPROTO_DEFAULT_LINE (64 * 1024)
#define IMAPPROTO_DEFAULT_LITERAL (20 * 1024 * 1024)
#define IMAPPROTO_DEFAULT_DEPTH 16
#define IMAPPROTO_LITERAL_DIGITS 19 /* 10^19 - 1 still fits in 64 bits */

/* Recognises "{digits}" / "{digits+}" just before a line end while bytes are dropped. */
enum imapproto_lit_state { LIT_NONE, LIT_OPEN, LIT_DIGITS, LIT_PLUS, LIT_SYNC, LIT_NONSYNC };

struct imapproto_parser {
    imapproto_limits_t lim;
    size_t cont_upto;      /* sync literals whose header ends at or before: continued */
    int discarding;        /* dropping bytes up to the next LF */
    uint64_t skip;         /* literal bytes to drop before that */
    enum imapproto_lit_state lit;
    uint64_t lit_n;
};

enum scan_outcome { SCAN_OK, SCAN_MORE, SCAN_CONTINUE, SCAN_ERROR };

struct scan {
    imapproto_parser_t *p;
    const unsigned char *b;
    size_t len, pos;
    size_t line_start;     /* where the current line began (after the last literal) */
    size_t text_bytes;     /* bytes of finished lines */
    uint64_t lit_bytes;    /* literal bytes so far */
    size_t tag_end;        /* 0 until a tag was read */
    unsigned depth;
    pool_t *pool;          /* NULL: validate only */
    enum scan_outcome outcome;
    size_t need;
    enum imapproto_error kind;
    const char *error;
};

/* A growing array of arguments in the pool (the old copy is left to the pool). */
struct arglist {
    imapproto_arg_t *items;
    size_t count, cap;
};

imapproto_parser_t *imapproto_parser_new(const imapproto_limits_t *limits)
{
    imapproto_parser_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    if (limits)
        p->lim = *limits;
    if (!p->lim.max_line)
        p->lim.max_line = IMAPPROTO_DEFAULT_LINE;
    if (!p->lim.max_literal)
        p->lim.max_literal = IMAPPROTO_DEFAULT_LITERAL;
    if (!p->lim.max_depth)
        p->lim.max_depth = IMAPPROTO_DEFAULT_DEPTH;
    return p;
}

void imapproto_parser_free(imapproto_parser_t *p)
{
    free(p);
}

void imapproto_parser_reset(imapproto_parser_t *p)
{
    p->cont_upto = 0;
    p->discarding = 0;
    p->skip = 0;
    p->lit = LIT_NONE;
    p->lit_n = 0;
}

static int scan_fail(struct scan *s, enum imapproto_error kind, const char *why)
{
    s->outcome = SCAN_ERROR;
    s->kind = kind;
    s->error = why;
    return -1;
}

/* The buffer ended inside the current line: wait for more, unless it is already too long. */
static int scan_more(struct scan *s)
{
    if (s->text_bytes + (s->len - s->line_start) > s->p->lim.max_line)
        return scan_fail(s, IMAPPROTO_ERR_TOOBIG, "Command line too long");
    s->outcome = SCAN_MORE;
    s->need = s->len + 1;
    return -1;
}

/* At CR or LF: 1 when the line ends here (pos moves past it), 0 if not a line end, -1
 * when the buffer stops between CR and LF, at a bare CR, or the lines got too long (then
 * pos stays on this line, so the error path drops it). */
static int scan_eol(struct scan *s)
{
    if (s->pos == s->len)
        return scan_more(s);
    size_t i = s->pos;
    if (s->b[i] == '\r')
        i++;
    if (i == s->len)
        return scan_more(s);
    if (s->b[i] != '\n')
        return i > s->pos ? scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Bare CR in command") : 0;
    if (s->text_bytes + (i + 1 - s->line_start) > s->p->lim.max_line)
        return scan_fail(s, IMAPPROTO_ERR_TOOBIG, "Command line too long");
    s->pos = i + 1;
    s->text_bytes += s->pos - s->line_start;
    s->line_start = s->pos;
    return 1;
}

static int is_tag_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("(){%*\"\\+", c);
}

/* Atom bytes: anything but space, controls and the specials that start another token.
 * '*', '%', '\' and ']' are allowed so that wildcards, flags and astrings pass; 8-bit
 * bytes are accepted for clients that type UTF-8 names unquoted. */
static int is_atom_char(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '(' && c != ')' && c != '{' && c != '"';
}

static void arglist_push(struct scan *s, struct arglist *l, const imapproto_arg_t *a)
{
    if (!s->pool)
        return;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        imapproto_arg_t *n = pool_alloc(s->pool, cap * sizeof(*n));
        if (l->count)
            memcpy(n, l->items, l->count * sizeof(*n));
        l->items = n;
        l->cap = cap;
    }
    l->items[l->count++] = *a;
}

static void arg_text(struct scan *s, imapproto_arg_t *a, const unsigned char *from, size_t n)
{
    if (s->pool)
        a->str = pool_strndup(s->pool, (const char *)from, n);
    a->len = n;
}

/* A quoted string: '\' may only escape '"' and '\'; CR, LF and NUL end it badly. */
static int scan_quoted(struct scan *s, imapproto_arg_t *a)
{
    size_t start = ++s->pos, n = 0;
    for (;;) {
        if (s->pos == s->len)
            return scan_more(s);
        unsigned char c = s->b[s->pos];
        if (c == '"')
            break;
        if (c == '\r' || c == '\n')
            return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Unterminated quoted string");
        if (c == 0)
            return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "NUL in quoted string");
        if (c == '\\') {
            if (++s->pos == s->len)
                return scan_more(s);
            c = s->b[s->pos];
            if (c != '"' && c != '\\')
                return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Bad escape in quoted string");
        }
        n++;
        s->pos++;
    }
    s->pos++;
    a->type = IMAPPROTO_QUOTED;
    a->len = n;
    if (s->pool) {
        a->str = pool_alloc(s->pool, n + 1);
        for (size_t i = start, o = 0; o < n; i++) {
            if (s->b[i] == '\\')
                i++;
            a->str[o++] = (char)s->b[i];
        }
        a->str[n] = 0;
    }
    return 0;
}

/* {n} or {n+}, its line end, then n bytes. A synchronizing literal needs "+" from the
 * server before the client sends the bytes; that is asked for once per literal. */
static int scan_literal(struct scan *s, imapproto_arg_t *a)
{
    size_t i = s->pos + 1;
    uint64_t n = 0;
    int digits = 0, sync = 1;
    for (; i < s->len && isdigit(s->b[i]); i++) {
        if (++digits > IMAPPROTO_LITERAL_DIGITS)
            return scan_fail(s, IMAPPROTO_ERR_TOOBIG, "Literal too big");
        n = n * 10 + (uint64_t)(s->b[i] - '0');
    }
    if (i < s->len && s->b[i] == '+') {
        sync = 0;
        i++;
    }
    if (i == s->len)
        return scan_more(s);
    if (!digits || s->b[i] != '}')
        return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Bad literal");
    /* Checked before the line end is passed, so that the error path sees the
     * announcement and drops a LITERAL+'s data. */
    if (n > s->p->lim.max_literal ||
        s->lit_bytes + n > s->p->lim.max_literal)
        return scan_fail(s, IMAPPROTO_ERR_TOOBIG, "Literal too big");
    s->pos = i + 1;
    int eol = scan_eol(s);
    if (eol < 0)
        return -1;
    if (eol == 0)
        return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Literal must end the line");
    size_t hdr_end = s->pos;
    if (s->len - hdr_end < n) {
        /* Bytes already after the header mean the client did not wait for "+". */
        if (sync && hdr_end > s->p->cont_upto && s->len == hdr_end) {
            s->p->cont_upto = hdr_end;
            s->outcome = SCAN_CONTINUE;
        } else {
            s->outcome = SCAN_MORE;
        }
        s->need = hdr_end + (size_t)n;
        return -1;
    }
    a->type = IMAPPROTO_LITERAL;
    arg_text(s, a, s->b + hdr_end, (size_t)n);
    s->lit_bytes += n;
    s->pos = hdr_end + (size_t)n;
    s->line_start = s->pos;
    return 0;
}

/* Inside an atom's "[...]": a FETCH section, which may hold spaces, a list of header
 * names and quoted names, but no line end and no literal. */
static int scan_bracket(struct scan *s)
{
    for (s->pos++;; s->pos++) {
        if (s->pos == s->len)
            return scan_more(s);
        unsigned char c = s->b[s->pos];
        if (c == ']') {
            s->pos++;
            return 0;
        }
        if (c == '"') {
            for (s->pos++;; s->pos++) {
                if (s->pos == s->len)
                    return scan_more(s);
                c = s->b[s->pos];
                if (c == '"')
                    break;
                if (c == '\\')
                    s->pos++;
                else if (c == '\r' || c == '\n' || c == 0)
                    return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Unterminated section");
            }
            continue;
        }
        if (c == '\r' || c == '\n' || c == 0 || c == '[' || c == '{')
            return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Unterminated section");
    }
}

static int scan_atom(struct scan *s, imapproto_arg_t *a)
{
    size_t start = s->pos;
    for (;;) {
        if (s->pos == s->len)
            return scan_more(s);
        unsigned char c = s->b[s->pos];
        if (c == '[') {
            if (scan_bracket(s) < 0)
                return -1;
            continue;
        }
        if (!is_atom_char(c))
            break;
        s->pos++;
    }
    size_t n = s->pos - start;
    if (n == 0)
        return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Unexpected character");
    a->type = (n == 3 && strncasecmp((const char *)s->b + start, "NIL", 3) == 0)
                  ? IMAPPROTO_NIL : IMAPPROTO_ATOM;
    arg_text(s, a, s->b + start, n);
    return 0;
}

static int scan_args(struct scan *s, struct arglist *out, int in_list);

static int scan_list(struct scan *s, imapproto_arg_t *a)
{
    if (s->depth >= s->p->lim.max_depth)
        return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Lists nested too deeply");
    s->depth++;
    s->pos++;
    struct arglist items = {0};
    if (scan_args(s, &items, 1) < 0)
        return -1;
    s->depth--;
    a->type = IMAPPROTO_LIST;
    a->items = items.items;
    a->count = items.count;
    return 0;
}

static int scan_arg(struct scan *s, imapproto_arg_t *a)
{
    memset(a, 0, sizeof(*a));
    switch (s->b[s->pos]) {
    case '(':
        return scan_list(s, a);
    case '"':
        return scan_quoted(s, a);
    case '{':
        return scan_literal(s, a);
    case ')':
        return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Unexpected ')'");
    default:
        return scan_atom(s, a);
    }
}

/* Arguments separated by spaces, up to the line end (or the ')' closing a list). Extra
 * spaces are tolerated, as many servers do for hand-typed sessions. */
static int scan_args(struct scan *s, struct arglist *out, int in_list)
{
    int need_space = 0;
    for (;;) {
        if (s->pos == s->len)
            return scan_more(s);
        unsigned char c = s->b[s->pos];
        if (c == ' ') {
            s->pos++;
            need_space = 0;
            continue;
        }
        if (c == '\r' || c == '\n') {
            if (in_list)
                return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Unterminated list");
            return scan_eol(s) < 0 ? -1 : 0;
        }
        if (c == ')' && in_list) {
            s->pos++;
            return 0;
        }
        if (need_space)
            return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Missing space between arguments");
        imapproto_arg_t a;
        if (scan_arg(s, &a) < 0)
            return -1;
        arglist_push(s, out, &a);
        need_space = 1;
    }
}

static int scan_command(struct scan *s, imapproto_command_t *cmd)
{
    while (s->pos < s->len && is_tag_char(s->b[s->pos]))
        s->pos++;
    if (s->pos == s->len)
        return scan_more(s);
    if (s->pos == 0)
        return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Missing or invalid tag");
    if (s->b[s->pos] == '\r' || s->b[s->pos] == '\n') {
        s->tag_end = s->pos;
        return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Missing command name");
    }
    if (s->b[s->pos] != ' ')
        return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Invalid character in tag");
    s->tag_end = s->pos++;
    size_t name_start = s->pos;
    while (s->pos < s->len && (isalnum(s->b[s->pos]) || s->b[s->pos] == '-'))
        s->pos++;
    if (s->pos == s->len)
        return scan_more(s);
    size_t name_len = s->pos - name_start;
    unsigned char after = s->b[s->pos];
    if (name_len == 0)
        return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Missing command name");
    if (after != ' ' && after != '\r' && after != '\n')
        return scan_fail(s, IMAPPROTO_ERR_SYNTAX, "Invalid character in command name");
    struct arglist args = {0};
    if (scan_args(s, &args, 0) < 0)
        return -1;
    if (s->pool) {
        cmd->tag = pool_strndup(s->pool, (const char *)s->b, s->tag_end);
        cmd->name = pool_strndup(s->pool, (const char *)s->b + name_start, name_len);
        for (char *c = cmd->name; *c; c++)
            *c = (char)toupper((unsigned char)*c);
        cmd->args = args.items;
        cmd->nargs = args.count;
    }
    return 0;
}

/* Drops bytes up to and including the next LF, watching for a LITERAL+ announcement at
 * the end of the line, whose data must be dropped too. Returns where it stopped. */
static size_t discard_line(imapproto_parser_t *p, const unsigned char *b, size_t from,
                           size_t len)
{
    for (size_t i = from; i < len; i++) {
        unsigned char c = b[i];
        if (c == '\n') {
            p->discarding = 0;
            if (p->lit == LIT_NONSYNC) {
                p->skip = p->lit_n;
                p->discarding = 1;
            }
            p->lit = LIT_NONE;
            return i + 1;
        }
        if (c == '{') {
            p->lit = LIT_OPEN;
            p->lit_n = 0;
        } else if (isdigit(c) && (p->lit == LIT_OPEN || p->lit == LIT_DIGITS)) {
            p->lit = LIT_DIGITS;
            p->lit_n = p->lit_n > UINT64_MAX / 16 ? UINT64_MAX : p->lit_n * 10 + (c - '0');
        } else if (c == '+' && p->lit == LIT_DIGITS) {
            p->lit = LIT_PLUS;
        } else if (c == '}' && (p->lit == LIT_DIGITS || p->lit == LIT_PLUS)) {
            p->lit = p->lit == LIT_PLUS ? LIT_NONSYNC : LIT_SYNC;
        } else if (!(c == '\r' && (p->lit == LIT_SYNC || p->lit == LIT_NONSYNC))) {
            p->lit = LIT_NONE;
        }
    }
    return len;
}

/* Continues dropping what an earlier error left; returns bytes dropped, and whether the
 * parser is clear of it. */
static size_t discard(imapproto_parser_t *p, const unsigned char *b, size_t len, int *clear)
{
    size_t pos = 0;
    while (p->skip || p->discarding) {
        if (p->skip) {
            uint64_t n = p->skip < len - pos ? p->skip : len - pos;
            pos += (size_t)n;
            p->skip -= n;
            if (p->skip)
                break;
            continue;
        }
        pos = discard_line(p, b, pos, len);
        if (p->discarding && !p->skip)
            break;
    }
    *clear = !p->skip && !p->discarding;
    return pos;
}

imapproto_result_t imapproto_parse(imapproto_parser_t *p, const unsigned char *buf,
                                   size_t len, pool_t *pool)
{
    imapproto_result_t r = {0};
    int clear;
    size_t pos = discard(p, buf, len, &clear);
    /* Blank lines between commands are ignored, as a telnet user may send them. */
    while (clear && pos < len && (buf[pos] == '\n' || (buf[pos] == '\r' && pos + 1 < len &&
                                                       buf[pos + 1] == '\n')))
        pos += buf[pos] == '\r' ? 2 : 1;
    r.consumed = pos;
    r.status = IMAPPROTO_MORE;
    r.need = 1;
    if (!clear || pos == len)
        return r;

    struct scan s = {.p = p, .b = buf + pos, .len = len - pos};
    imapproto_command_t probe;
    if (scan_command(&s, &probe) == 0) {
        struct scan build = {.p = p, .b = buf + pos, .len = len - pos, .pool = pool};
        imapproto_command_t *cmd = pool_zalloc(pool, sizeof(*cmd));
        scan_command(&build, cmd);
        p->cont_upto = 0;
        r.status = IMAPPROTO_COMMAND;
        r.command = cmd;
        r.consumed = pos + build.pos;
        return r;
    }
    switch (s.outcome) {
    case SCAN_MORE:
    case SCAN_CONTINUE:
        r.status = s.outcome == SCAN_MORE ? IMAPPROTO_MORE : IMAPPROTO_CONTINUE;
        r.need = s.need;
        return r;
    default:
        break;
    }
    p->cont_upto = 0;
    r.status = IMAPPROTO_ERROR;
    r.error_kind = s.kind;
    r.error = s.error;
    r.tag = s.tag_end ? pool_strndup(pool, (const char *)s.b, s.tag_end) : NULL;
    /* Drop the bad line from its start, so a literal it announced is seen. */
    p->discarding = 1;
    p->lit = LIT_NONE;
    size_t end = discard_line(p, s.b, s.line_start, s.len);
    int rest_clear;
    end += discard(p, s.b + end, s.len - end, &rest_clear);
    r.consumed = pos + end;
    return r;
}

const char *imapproto_arg_string(const imapproto_arg_t *arg)
{
    if (!arg || arg->type == IMAPPROTO_LIST || !arg->str || strlen(arg->str) != arg->len)
        return NULL;
    return arg->str;
}
