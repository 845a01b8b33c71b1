/* parser: the grammar of RFC 5228 8.2 into a generic tree (identifier, arguments, tests,
 * block), by recursive descent with one token of lookahead. Knows nothing of what the
 * commands mean; commands.c does. Nesting of blocks and tests is bounded here, before
 * recursion can eat the stack. */
#include "sieve/sieve_int.h"

#include <string.h>

struct parser {
    struct sv_lexer lx;
    struct sv_token tok;   /* the lookahead */
    pool_t *pool;
    struct sieve_error *err;
    unsigned depth, max_depth;
};

static int advance(struct parser *ps)
{
    return sv_lex_next(&ps->lx, &ps->tok);
}

/* The lookahead described for an error message. */
static const char *describe(struct parser *ps)
{
    const struct sv_token *t = &ps->tok;
    switch (t->kind) {
    case SV_T_IDENT:
        return pool_printf(ps->pool, "identifier \"%s\"", t->text);
    case SV_T_TAG:
        return pool_printf(ps->pool, "tag :%s", t->text);
    case SV_T_NUMBER:
        return pool_printf(ps->pool, "number %llu", t->number);
    case SV_T_STRING: {
        size_t n = sv_utf8_cut(t->text, t->len, 24);
        for (size_t i = 0; i < n; i++)
            if (t->text[i] == '\r' || t->text[i] == '\n')
                n = i;
        return pool_printf(ps->pool, "string \"%.*s%s\"", (int)n, t->text,
                           n < t->len ? "..." : "");
    }
    default:
        return sv_tok_name(t->kind);
    }
}

static int fail_here(struct parser *ps, const char *fmt, const char *what)
{
    return sv_err(ps->err, ps->pool, ps->tok.line, ps->tok.column, fmt, what);
}

static int enter(struct parser *ps)
{
    if (++ps->depth > ps->max_depth)
        return sv_err(ps->err, ps->pool, ps->tok.line, ps->tok.column,
                      "nesting too deep: blocks and tests may be nested %u levels",
                      ps->max_depth);
    return 0;
}

static int parse_test(struct parser *ps, struct sv_ast **out);

/* string-list = "[" string *("," string) "]" / string */
static int parse_string_list(struct parser *ps, struct sv_arg *arg)
{
    size_t cap = 0;
    arg->kind = SV_ARG_STRINGS;
    if (ps->tok.kind == SV_T_STRING) {
        arg->strs = pool_alloc(ps->pool, sizeof(*arg->strs));
        arg->strs[0] = (struct sv_string){ps->tok.text, ps->tok.len, ps->tok.line,
                                          ps->tok.column};
        arg->nstrs = 1;
        return advance(ps);
    }
    arg->bracketed = 1;
    if (advance(ps) != 0)
        return -1;
    if (ps->tok.kind == SV_T_RBRACKET)
        return fail_here(ps, "a string list needs at least one string%s", "");
    for (;;) {
        if (ps->tok.kind != SV_T_STRING)
            return fail_here(ps, "expected a string in the list, got %s", describe(ps));
        arg->strs = sv_grow(ps->pool, arg->strs, arg->nstrs, &cap, sizeof(*arg->strs));
        arg->strs[arg->nstrs++] = (struct sv_string){ps->tok.text, ps->tok.len, ps->tok.line,
                                                     ps->tok.column};
        if (advance(ps) != 0)
            return -1;
        if (ps->tok.kind == SV_T_RBRACKET)
            return advance(ps);
        if (ps->tok.kind != SV_T_COMMA)
            return fail_here(ps, "expected ',' or ']' in the string list, got %s",
                             describe(ps));
        if (advance(ps) != 0)
            return -1;
    }
}

/* arguments = *argument [ test / test-list ]; node->name is set, lookahead is the first
 * token after the identifier. */
static int parse_arguments(struct parser *ps, struct sv_ast *node)
{
    size_t cap = 0;
    for (;;) {
        enum sv_tok k = ps->tok.kind;
        if (k != SV_T_STRING && k != SV_T_LBRACKET && k != SV_T_NUMBER && k != SV_T_TAG)
            break;
        node->args = sv_grow(ps->pool, node->args, node->nargs, &cap, sizeof(*node->args));
        struct sv_arg *arg = &node->args[node->nargs++];
        memset(arg, 0, sizeof(*arg));
        arg->line = ps->tok.line;
        arg->column = ps->tok.column;
        if (k == SV_T_NUMBER || k == SV_T_TAG) {
            arg->kind = k == SV_T_NUMBER ? SV_ARG_NUMBER : SV_ARG_TAG;
            arg->number = ps->tok.number;
            arg->tag = ps->tok.text;
            if (advance(ps) != 0)
                return -1;
        } else if (parse_string_list(ps, arg) != 0) {
            return -1;
        }
    }
    if (ps->tok.kind == SV_T_IDENT) {
        node->tests = pool_alloc(ps->pool, sizeof(*node->tests));
        node->ntests = 1;
        return parse_test(ps, &node->tests[0]);
    }
    if (ps->tok.kind != SV_T_LPAREN)
        return 0;
    node->test_list = 1;
    if (enter(ps) != 0 || advance(ps) != 0)
        return -1;
    cap = 0;
    for (;;) {
        if (ps->tok.kind != SV_T_IDENT)
            return fail_here(ps, "expected a test (like header, address or true), got %s",
                             describe(ps));
        node->tests = sv_grow(ps->pool, node->tests, node->ntests, &cap, sizeof(*node->tests));
        if (parse_test(ps, &node->tests[node->ntests++]) != 0)
            return -1;
        if (ps->tok.kind == SV_T_RPAREN)
            break;
        if (ps->tok.kind != SV_T_COMMA)
            return fail_here(ps, "expected ',' or ')' in the test list, got %s", describe(ps));
        if (advance(ps) != 0)
            return -1;
    }
    ps->depth--;
    return advance(ps);
}

/* test = identifier arguments */
static int parse_test(struct parser *ps, struct sv_ast **out)
{
    if (enter(ps) != 0)
        return -1;
    struct sv_ast *t = pool_zalloc(ps->pool, sizeof(*t));
    t->name = ps->tok.text;
    t->line = ps->tok.line;
    t->column = ps->tok.column;
    if (advance(ps) != 0 || parse_arguments(ps, t) != 0)
        return -1;
    ps->depth--;
    *out = t;
    return 0;
}

static int parse_commands(struct parser *ps, struct sv_ast **first, int in_block,
                          unsigned open_line);

/* command = identifier arguments (";" / block) */
static int parse_command(struct parser *ps, struct sv_ast **out)
{
    struct sv_ast *c = pool_zalloc(ps->pool, sizeof(*c));
    c->name = ps->tok.text;
    c->line = ps->tok.line;
    c->column = ps->tok.column;
    if (advance(ps) != 0 || parse_arguments(ps, c) != 0)
        return -1;
    if (ps->tok.kind == SV_T_SEMICOLON) {
        *out = c;
        return advance(ps);
    }
    if (ps->tok.kind != SV_T_LBRACE)
        return sv_err(ps->err, ps->pool, ps->tok.line, ps->tok.column,
                      "expected ';' or '{' after the arguments of \"%s\" (line %u), got %s",
                      c->name, c->line, describe(ps));
    unsigned open_line = ps->tok.line;
    if (enter(ps) != 0 || advance(ps) != 0)
        return -1;
    c->has_block = 1;
    if (parse_commands(ps, &c->block, 1, open_line) != 0)
        return -1;
    ps->depth--;
    *out = c;
    return advance(ps); /* the '}' */
}

/* commands = *command, up to '}' (in a block) or the end of the script. */
static int parse_commands(struct parser *ps, struct sv_ast **first, int in_block,
                          unsigned open_line)
{
    struct sv_ast **tail = first;
    *first = NULL;
    for (;;) {
        switch (ps->tok.kind) {
        case SV_T_IDENT:
            if (parse_command(ps, tail) != 0)
                return -1;
            tail = &(*tail)->next;
            break;
        case SV_T_RBRACE:
            if (in_block)
                return 0;
            return fail_here(ps, "unexpected '}': no block is open%s", "");
        case SV_T_EOF:
            if (!in_block)
                return 0;
            return sv_err(ps->err, ps->pool, ps->tok.line, ps->tok.column,
                          "missing '}': the block opened on line %u is not closed",
                          open_line);
        default:
            return fail_here(ps, "expected a command (like keep, fileinto or if), got %s",
                             describe(ps));
        }
    }
}

int sv_parse_ast(pool_t *pool, const char *text, size_t len, unsigned max_nesting,
                 struct sieve_error *err, struct sv_ast **out)
{
    struct parser ps = {.pool = pool, .err = err, .max_depth = max_nesting};
    sv_lex_init(&ps.lx, pool, text, len, err);
    if (advance(&ps) != 0)
        return -1;
    return parse_commands(&ps, out, 0, 0);
}
