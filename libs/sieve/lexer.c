/* lexer: RFC 5228 8.1 tokens - identifiers, tags, numbers with K/M/G, quoted strings
 * with \ escapes, text: multi-line strings with dot-stuffing, brackets, comments (# and
 * C-style). The RFC asks for CRLF; scripts edited on Unix and uploaded as they are end
 * lines with LF alone, so both are accepted, and multi-line values always get CRLF. */
#include "sieve/sieve_int.h"

#include <string.h>
#include <strings.h>

void sv_lex_init(struct sv_lexer *lx, pool_t *pool, const char *text, size_t len,
                 struct sieve_error *err)
{
    lx->pool = pool;
    lx->p = text;
    lx->end = text + len;
    lx->line_start = text;
    lx->line = 1;
    lx->col_at = NULL;
    lx->col = 1;
    lx->err = err;
}

const char *sv_tok_name(enum sv_tok kind)
{
    switch (kind) {
    case SV_T_EOF: return "end of script";
    case SV_T_IDENT: return "identifier";
    case SV_T_TAG: return "tag";
    case SV_T_NUMBER: return "number";
    case SV_T_STRING: return "string";
    case SV_T_LBRACKET: return "'['";
    case SV_T_RBRACKET: return "']'";
    case SV_T_LBRACE: return "'{'";
    case SV_T_RBRACE: return "'}'";
    case SV_T_LPAREN: return "'('";
    case SV_T_RPAREN: return "')'";
    case SV_T_SEMICOLON: return "';'";
    case SV_T_COMMA: return "','";
    }
    return "token";
}

/* Characters, not octets, so that a column points at the right place in Korean text.
 * Counted on from the previous token of the same line, not from the line's start. */
static unsigned lex_column(struct sv_lexer *lx, const char *at)
{
    const char *q = lx->line_start;
    unsigned col = 1;
    if (lx->col_at && lx->col_at >= lx->line_start && lx->col_at <= at) {
        q = lx->col_at;
        col = lx->col;
    }
    for (; q < at; q++)
        if (((unsigned char)*q & 0xc0) != 0x80)
            col++;
    lx->col_at = at;
    lx->col = col;
    return col;
}

static int lex_error(struct sv_lexer *lx, const char *at, unsigned line, const char *line_start,
                     const char *msg)
{
    const char *saved = lx->line_start;
    lx->line_start = line_start;
    unsigned col = lex_column(lx, at);
    lx->line_start = saved;
    return sv_err(lx->err, lx->pool, line, col, "%s", msg);
}

static void lex_newline(struct sv_lexer *lx, const char *after_lf)
{
    lx->line++;
    lx->line_start = after_lf;
}

static int is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Whitespace and comments before a token. */
static int lex_skip(struct sv_lexer *lx)
{
    while (lx->p < lx->end) {
        char c = *lx->p;
        if (c == ' ' || c == '\t' || c == '\r') {
            lx->p++;
        } else if (c == '\n') {
            lx->p++;
            lex_newline(lx, lx->p);
        } else if (c == '#') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
        } else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
            const char *start = lx->p, *start_line = lx->line_start;
            unsigned line = lx->line;
            lx->p += 2;
            for (;;) {
                if (lx->p + 1 >= lx->end)
                    return lex_error(lx, start, line, start_line,
                                     "unterminated comment: /* without */");
                if (lx->p[0] == '*' && lx->p[1] == '/') {
                    lx->p += 2;
                    break;
                }
                if (*lx->p == '\n')
                    lex_newline(lx, lx->p + 1);
                lx->p++;
            }
        } else {
            break;
        }
    }
    return 0;
}

/* number = 1*DIGIT [QUANTIFIER]; the value must fit in 63 bits after scaling. */
static int lex_number(struct sv_lexer *lx, struct sv_token *tok)
{
    const char *start = lx->p;
    unsigned long long v = 0;
    const unsigned long long max = 0x7fffffffffffffffULL;
    int overflow = 0;
    while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9') {
        unsigned d = (unsigned)(*lx->p - '0');
        if (v > (max - d) / 10)
            overflow = 1;
        else
            v = v * 10 + d;
        lx->p++;
    }
    if (lx->p < lx->end) {
        unsigned shift = 0;
        switch (*lx->p) {
        case 'K': case 'k': shift = 10; break;
        case 'M': case 'm': shift = 20; break;
        case 'G': case 'g': shift = 30; break;
        }
        if (shift) {
            if (v > (max >> shift))
                overflow = 1;
            v <<= shift;
            lx->p++;
        }
    }
    if (lx->p < lx->end && is_ident_char(*lx->p))
        return lex_error(lx, start, lx->line, lx->line_start,
                         "invalid number: digits may only be followed by K, M or G");
    if (overflow)
        return lex_error(lx, start, lx->line, lx->line_start, "number too large");
    tok->kind = SV_T_NUMBER;
    tok->number = v;
    return 0;
}

static int lex_check_utf8(struct sv_lexer *lx, struct sv_token *tok, const char *start,
                          unsigned line, const char *line_start)
{
    if (sv_utf8_valid(tok->text, tok->len))
        return 0;
    return lex_error(lx, start, line, line_start, "string is not valid UTF-8");
}

/* quoted-string: "\" escapes the next character; only \" and \\ are meaningful, any
 * other escaped character stands for itself (RFC 5228 2.4.2). */
static int lex_quoted(struct sv_lexer *lx, struct sv_token *tok)
{
    const char *start = lx->p, *start_line = lx->line_start;
    unsigned line = lx->line;
    lx->p++;
    const char *q = lx->p;
    size_t n = 0;
    while (q < lx->end && *q != '"') {
        if (*q == '\\' && q + 1 < lx->end)
            q++;
        q++;
        n++;
    }
    if (q >= lx->end)
        return lex_error(lx, start, line, start_line, "unterminated string: missing '\"'");
    char *out = pool_alloc(lx->pool, n + 1), *w = out;
    while (*lx->p != '"') {
        if (*lx->p == '\\')
            lx->p++;
        if (*lx->p == '\n')
            lex_newline(lx, lx->p + 1);
        *w++ = *lx->p++;
    }
    lx->p++;
    *w = 0;
    tok->kind = SV_T_STRING;
    tok->text = out;
    tok->len = (size_t)(w - out);
    return lex_check_utf8(lx, tok, start, line, start_line);
}

/* One line of the script from p: its content ends at *content_end (CR before LF
 * dropped), the next line starts at the return value (end of script if no LF). */
static const char *lex_line(const char *p, const char *end, const char **content_end)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    const char *ce = lf ? lf : end;
    if (ce > p && ce[-1] == '\r')
        ce--;
    *content_end = ce;
    return lf ? lf + 1 : end;
}

/* "text:" *(SP / HTAB) (hash-comment / CRLF) lines "." CRLF; lx->p is just past ':'. */
static int lex_multiline(struct sv_lexer *lx, struct sv_token *tok, const char *start)
{
    const char *start_line = lx->line_start;
    unsigned line = lx->line;
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t'))
        lx->p++;
    const char *ce;
    if (lx->p < lx->end && *lx->p == '#') {
        lx->p = lex_line(lx->p, lx->end, &ce);
    } else {
        const char *next = lex_line(lx->p, lx->end, &ce);
        if (ce != lx->p || next == lx->end)
            return lex_error(lx, start, line, start_line,
                             "text: must be followed by the end of the line");
        lx->p = next;
    }
    lex_newline(lx, lx->p);
    /* First pass: find the terminating "." line and the value's size. */
    size_t n = 0;
    const char *q = lx->p;
    for (;;) {
        if (q >= lx->end)
            return lex_error(lx, start, line, start_line,
                             "unterminated multi-line string: text: needs a line with "
                             "only '.' at its end");
        const char *next = lex_line(q, lx->end, &ce);
        if (ce - q == 1 && *q == '.')
            break;
        n += (size_t)(ce - q) + 2;
        q = next;
    }
    char *out = pool_alloc(lx->pool, n + 1), *w = out;
    for (;;) {
        const char *next = lex_line(lx->p, lx->end, &ce);
        const char *s = lx->p;
        lx->p = next;
        if (next[-1] == '\n')
            lex_newline(lx, next);
        if (ce - s == 1 && *s == '.')
            break;
        if (*s == '.')
            s++; /* dot-stuffing, as in SMTP */
        memcpy(w, s, (size_t)(ce - s));
        w += ce - s;
        *w++ = '\r';
        *w++ = '\n';
    }
    *w = 0;
    tok->kind = SV_T_STRING;
    tok->text = out;
    tok->len = (size_t)(w - out);
    return lex_check_utf8(lx, tok, start, line, start_line);
}

int sv_lex_next(struct sv_lexer *lx, struct sv_token *tok)
{
    memset(tok, 0, sizeof(*tok));
    if (lex_skip(lx) != 0)
        return -1;
    tok->line = lx->line;
    tok->column = lex_column(lx, lx->p);
    if (lx->p >= lx->end) {
        tok->kind = SV_T_EOF;
        return 0;
    }
    const char *start = lx->p;
    char c = *lx->p;
    static const char punct[] = "[]{}();,";
    static const enum sv_tok punct_tok[] = {SV_T_LBRACKET, SV_T_RBRACKET, SV_T_LBRACE,
                                            SV_T_RBRACE, SV_T_LPAREN, SV_T_RPAREN,
                                            SV_T_SEMICOLON, SV_T_COMMA};
    const char *pc = c ? strchr(punct, c) : NULL;
    if (pc) {
        tok->kind = punct_tok[pc - punct];
        lx->p++;
        return 0;
    }
    if (c >= '0' && c <= '9')
        return lex_number(lx, tok);
    if (c == '"')
        return lex_quoted(lx, tok);
    if (c == ':' || is_ident_start(c)) {
        if (c == ':')
            lx->p++;
        const char *name = lx->p;
        if (lx->p >= lx->end || !is_ident_start(*lx->p))
            return lex_error(lx, start, lx->line, lx->line_start,
                             "a tag needs a name after ':' (like :contains)");
        while (lx->p < lx->end && is_ident_char(*lx->p))
            lx->p++;
        size_t len = (size_t)(lx->p - name);
        if (c != ':' && len == 4 && strncasecmp(name, "text", 4) == 0 && lx->p < lx->end &&
            *lx->p == ':') {
            lx->p++;
            return lex_multiline(lx, tok, start);
        }
        tok->kind = c == ':' ? SV_T_TAG : SV_T_IDENT;
        tok->text = pool_strndup(lx->pool, name, len);
        tok->len = len;
        return 0;
    }
    const char *msg;
    if ((unsigned char)c >= 0x21 && (unsigned char)c < 0x7f)
        msg = pool_printf(lx->pool, "unexpected character '%c'", c);
    else
        msg = pool_printf(lx->pool, "unexpected octet 0x%02x", (unsigned char)c);
    return lex_error(lx, start, lx->line, lx->line_start, msg);
}
