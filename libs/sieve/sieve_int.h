/* sieve_int: what the files of libs/sieve share - the token stream, the syntax tree, the
 * checked command tree and the state of a run. Not part of the interface (sieve.h). */
#ifndef MAILSTACK_SIEVE_INT_H
#define MAILSTACK_SIEVE_INT_H

#include "sieve/sieve.h"

#include <stdarg.h>
#include <stddef.h>

/* ---- errors (script.c) ---- */

/* Fills err (message from pool) and returns -1, so parse steps can `return sv_err(...)`. */
int sv_err(struct sieve_error *err, pool_t *pool, unsigned line, unsigned column,
           const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- small shared pieces (script.c) ---- */

/* A string and its length: values may hold NUL octets (decoded attachments). */
struct sv_text {
    const char *s;
    size_t len;
};

/* arr (n elements of size octets, capacity *cap) with room for one more: the same array,
 * or a copy twice as large from the pool (the old one stays there: at most as much again
 * is wasted, and the pool frees it with the rest). */
void *sv_grow(pool_t *pool, void *arr, size_t n, size_t *cap, size_t size);

/* ---- UTF-8 (script.c) ---- */

/* Octets of the character at p (1 for an invalid or truncated sequence), never past end. */
size_t sv_utf8_step(const char *p, const char *end);
int sv_utf8_valid(const char *s, size_t len);
/* A mailbox name fileinto may use: UTF-8 without control characters, not empty. */
int sv_mailbox_ok(const char *s, size_t len);
/* The longest prefix of s not longer than max that ends on a character boundary. */
size_t sv_utf8_cut(const char *s, size_t len, size_t max);

/* ---- lexer.c: RFC 5228 8.1 ---- */

enum sv_tok {
    SV_T_EOF,
    SV_T_IDENT,    /* text: the identifier */
    SV_T_TAG,      /* text: the identifier after ':' */
    SV_T_NUMBER,   /* number: the value, quantifier applied */
    SV_T_STRING,   /* text: the value (quoted-string or text: ... .), NUL-terminated */
    SV_T_LBRACKET, SV_T_RBRACKET, SV_T_LBRACE, SV_T_RBRACE, SV_T_LPAREN, SV_T_RPAREN,
    SV_T_SEMICOLON, SV_T_COMMA,
};

struct sv_token {
    enum sv_tok kind;
    const char *text;
    size_t len;
    unsigned long long number;
    unsigned line, column;
};

struct sv_lexer {
    pool_t *pool;
    const char *p, *end, *line_start;
    unsigned line;
    const char *col_at;   /* where the last column was counted, and that column */
    unsigned col;
    struct sieve_error *err;
};

void sv_lex_init(struct sv_lexer *lx, pool_t *pool, const char *text, size_t len,
                 struct sieve_error *err);
/* Next token into tok: 0, or -1 with lx->err filled. */
int sv_lex_next(struct sv_lexer *lx, struct sv_token *tok);
const char *sv_tok_name(enum sv_tok kind);

/* ---- parser.c: the generic syntax tree of RFC 5228 8.2 ---- */

struct sv_string {
    const char *s;
    size_t len;
    unsigned line, column;
};

enum sv_arg_kind { SV_ARG_STRINGS, SV_ARG_NUMBER, SV_ARG_TAG };

struct sv_arg {
    enum sv_arg_kind kind;
    unsigned line, column;
    struct sv_string *strs;     /* STRINGS */
    size_t nstrs;
    int bracketed;              /* STRINGS written as [ ... ] */
    unsigned long long number;  /* NUMBER */
    const char *tag;            /* TAG, without ':' */
};

/* A command or a test: identifier, arguments, tests, block. */
struct sv_ast {
    const char *name;
    unsigned line, column;
    struct sv_arg *args;
    size_t nargs;
    struct sv_ast **tests;
    size_t ntests;
    int test_list;              /* tests written as ( ... ) */
    int has_block;
    struct sv_ast *block;       /* first command of the block */
    struct sv_ast *next;        /* next command in the same block */
};

/* Parses text into a list of commands; 0, or -1 with err filled. */
int sv_parse_ast(pool_t *pool, const char *text, size_t len, unsigned max_nesting,
                 struct sieve_error *err, struct sv_ast **out);

/* ---- the checked tree (commands.c builds it, interp.c runs it) ---- */

enum sv_ext {
    SV_EXT_FILEINTO = 1 << 0,
    SV_EXT_REJECT = 1 << 1,
    SV_EXT_EREJECT = 1 << 2,
    SV_EXT_ENVELOPE = 1 << 3,
    SV_EXT_VACATION = 1 << 4,
    SV_EXT_IMAP4FLAGS = 1 << 5,
    SV_EXT_BODY = 1 << 6,
    SV_EXT_VARIABLES = 1 << 7,
    SV_EXT_COPY = 1 << 8,
    SV_EXT_SUBADDRESS = 1 << 9,
    SV_EXT_CMP_OCTET = 1 << 10,
    SV_EXT_CMP_CASEMAP = 1 << 11,
};

enum sv_cmp { SV_CMP_CASEMAP, SV_CMP_OCTET };
enum sv_mt { SV_MT_IS, SV_MT_CONTAINS, SV_MT_MATCHES };
enum sv_ap { SV_AP_ALL, SV_AP_LOCAL, SV_AP_DOMAIN, SV_AP_USER, SV_AP_DETAIL };
enum sv_bt { SV_BT_TEXT, SV_BT_RAW, SV_BT_CONTENT };

/* A piece of a string with variable references: literal text, a named variable (text is
 * its lower-cased name) or a match variable ${N} (index N). */
struct sv_part {
    enum { SV_PART_TEXT, SV_PART_VAR, SV_PART_MATCH } kind;
    const char *text;
    size_t len;
    unsigned index;
};

/* A string argument. parts is NULL for a constant (no variables extension, or no
 * reference in it): then s is the value. */
struct sv_str {
    const char *s;
    size_t len;
    struct sv_part *parts;
    size_t nparts;
};

struct sv_list {
    struct sv_str *items;
    size_t n;
};

enum sv_test_kind {
    SV_TEST_ADDRESS, SV_TEST_ENVELOPE, SV_TEST_HEADER, SV_TEST_EXISTS, SV_TEST_SIZE,
    SV_TEST_ALLOF, SV_TEST_ANYOF, SV_TEST_NOT, SV_TEST_TRUE, SV_TEST_FALSE,
    SV_TEST_HASFLAG, SV_TEST_BODY, SV_TEST_STRING,
};

struct sv_test {
    enum sv_test_kind kind;
    unsigned line;
    enum sv_cmp cmp;
    enum sv_mt mt;
    enum sv_ap ap;
    enum sv_bt bt;
    struct sv_list names;   /* headers, envelope parts, string sources, hasflag variables */
    struct sv_list keys;
    struct sv_list types;   /* body :content */
    int over;               /* size :over (else :under) */
    unsigned long long limit;
    struct sv_test **subs;  /* allof, anyof, not */
    size_t nsubs;
};

enum sv_cmd_kind {
    SV_CMD_IF, SV_CMD_STOP, SV_CMD_KEEP, SV_CMD_FILEINTO, SV_CMD_REDIRECT, SV_CMD_DISCARD,
    SV_CMD_REJECT, SV_CMD_EREJECT, SV_CMD_VACATION, SV_CMD_SETFLAG, SV_CMD_ADDFLAG,
    SV_CMD_REMOVEFLAG, SV_CMD_SET,
};

/* set's modifiers (RFC 5229 4.1), applied from the highest precedence down. */
enum sv_modifier {
    SV_MOD_LOWER = 1 << 0, SV_MOD_UPPER = 1 << 1,           /* precedence 40 */
    SV_MOD_LOWERFIRST = 1 << 2, SV_MOD_UPPERFIRST = 1 << 3, /* 30 */
    SV_MOD_QUOTEWILDCARD = 1 << 4,                          /* 20 */
    SV_MOD_LENGTH = 1 << 5,                                 /* 10 */
};

struct sv_cmd {
    enum sv_cmd_kind kind;
    unsigned line;
    struct sv_test *test;            /* IF */
    struct sv_cmd *then, *otherwise; /* IF: an elsif is an IF alone in otherwise */
    struct sv_str arg;               /* mailbox, address, reason, set's value */
    const char *var;                 /* set, setflag...: the variable (lower case), or
                                      * NULL for imap4flags' internal variable */
    int has_flags;                   /* keep/fileinto :flags given */
    struct sv_list flags;            /* :flags, or setflag's list */
    int copy;
    unsigned modifiers;
    /* vacation */
    int has_days, has_subject, has_from, has_handle, mime;
    unsigned long long days;
    struct sv_str subject, from, handle;
    struct sv_list addresses;
    struct sv_cmd *next;
};

struct sieve_script {
    struct sieve_config cfg;
    unsigned exts;
    struct sv_cmd *cmds;
};

/* commands.c: checks the syntax tree against the commands and extensions, and builds
 * the command tree. 0, or -1 with err filled. */
int sv_check(pool_t *pool, const struct sv_ast *ast, struct sieve_script *script,
             struct sieve_error *err);

/* variables.c, at parse time: splits a string into parts if it references variables
 * (only when the script requires "variables"). 0, or -1 with err filled (a reference
 * to a namespace). */
int sv_str_compile(pool_t *pool, const struct sv_string *in, int variables,
                   struct sv_str *out, struct sieve_error *err);
/* A valid variable name for set (RFC 5229 3: identifier). */
int sv_var_name_ok(const char *s, size_t len);

/* ---- the state of one run (interp.c) ---- */

#define SV_MATCH_VARS 10 /* ${0} .. ${9} */

struct sv_header {
    const char *name;
    size_t namelen;
    const char *raw;        /* the value as in the message, folded, untrimmed */
    size_t rawlen;
    const char *value;      /* unfolded, trimmed, RFC 2047-decoded UTF-8 (lazily) */
    size_t valuelen;
    const char **addrs;     /* its addr-specs (lazily, for address tests) */
    size_t naddrs;
    int addrs_done;
};

struct sv_var {
    const char *name;
    char *value;
    size_t len;
};

struct sv_body_part;

/* An action while the run collects them: the flags of KEEP and FILEINTO stay one
 * canonical string until the end, so that merging them is a list operation. */
struct sv_act {
    struct sieve_action a;
    const char *flags;
};

struct sv_run {
    const struct sieve_script *script;
    const struct sieve_config *cfg;
    pool_t *pool;
    const struct sieve_message *msg;
    const struct sieve_envelope *env;
    /* message.c */
    struct sv_header *hdrs;
    size_t nhdrs;
    size_t body_off;
    int hdrs_done;
    /* body.c */
    struct sv_body_part *parts;
    size_t nparts;
    int parts_done;
    void *body_msg;           /* the GMimeMessage the parts belong to */
    /* variables.c */
    struct sv_var *vars;
    size_t nvars, capvars;
    const char *mv[SV_MATCH_VARS];
    size_t mvlen[SV_MATCH_VARS];
    /* flags.c: imap4flags' internal variable, canonical "flag flag" form */
    const char *flags;
    /* actions.c */
    struct sv_act *acts;
    size_t nacts, capacts;
    const char **notes;
    size_t nnotes, capnotes;
    int keep_cancelled, discarded, rejected, vacationed;
    unsigned redirects, discard_line;
    /* match.c: the last :matches pattern, parsed */
    const char *pat_key;
    size_t pat_keylen;
    void *pat_items;
    size_t pat_n;
    /* interp.c */
    unsigned long long steps;
    unsigned line;
    const char *error;
};

/* Charges n work units; -1 (with the error set) once over the limit. */
int sv_charge(struct sv_run *run, unsigned long long n);
/* Sets the run's error ("line N: ...") and returns -1. */
int sv_fail(struct sv_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sv_note(struct sv_run *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* variables.c at run time */
/* Expands s into *out (a pool string, NUL-terminated), cut to max_string_size. 0 / -1. */
int sv_expand(struct sv_run *run, const struct sv_str *s, const char **out, size_t *len);
/* Expands every item of a list into *out (l->n texts). */
int sv_expand_list(struct sv_run *run, const struct sv_list *l, struct sv_text **out);
const struct sv_var *sv_var_get(const struct sv_run *run, const char *name);
/* Sets a variable (value cut to max_variable_size). 0 / -1 (too many variables). */
int sv_var_set(struct sv_run *run, const char *name, const char *value, size_t len);
/* Applies set's modifiers to value; returns the new value from the pool. */
const char *sv_modify(struct sv_run *run, unsigned modifiers, const char *value,
                      size_t len, size_t *outlen);

/* match.c: one value against one key. Returns 1 on a match, 0 on none, -1 when the
 * work limit ran out. With :matches and caps, a match fills caps with ${0}..${9}. */
struct sv_caps {
    const char *p[SV_MATCH_VARS];
    size_t len[SV_MATCH_VARS];
};
int sv_match(struct sv_run *run, enum sv_cmp cmp, enum sv_mt mt, const char *v, size_t vlen,
             const char *k, size_t klen, struct sv_caps *caps);

/* message.c: header access */
int sv_headers_index(struct sv_run *run);
/* The decoded value of header i (decoded on first use). 0 / -1. */
int sv_header_value(struct sv_run *run, size_t i, const char **v, size_t *len);
int sv_header_is(const struct sv_header *h, const char *name, size_t len);
/* The first header named name after the index is built, or -1. */
ptrdiff_t sv_header_find(struct sv_run *run, const char *name);
/* The addr-specs ("local@domain", groups flattened) of header i. 0 / -1. */
int sv_header_addresses(struct sv_run *run, size_t i, const char ***addrs, size_t *n);
/* Starts GMime once per process. */
void sv_gmime_init(void);
/* GMime's parser options with our fallback charsets for raw 8-bit headers. */
struct _GMimeParserOptions *sv_gmime_options(void);

/* address.c */
/* The part of addr ("local@domain") that ap names; 0, or 1 when there is none (:detail
 * of an address without a separator). */
int sv_address_part(struct sv_run *run, const char *addr, enum sv_ap ap, const char **out,
                    size_t *len);
/* The same mailbox, ignoring case and any +detail (vacation's "is this me"). */
int sv_address_same(const struct sv_run *run, const char *a, const char *b);
/* An RFC 5321 mailbox with a domain, as redirect needs. */
int sv_redirect_ok(pool_t *pool, const char *s);
/* Header names the address test accepts (RFC 5228 5.1). */
int sv_address_header_ok(const char *name, size_t len);

/* body.c: the body as the transform sees it, each text one item to match. */
/* Drops the GMime message a body test parsed (the end of every run). */
void sv_body_release(struct sv_run *run);
int sv_body_items(struct sv_run *run, enum sv_bt bt, const struct sv_text *types,
                  size_t ntypes, struct sv_text **items, size_t *n);

/* flags.c: imap4flags lists, canonical: valid flags, one space between, no duplicates;
 * NULL when the work limit ran out */
const char *sv_flags_canon(struct sv_run *run, const struct sv_text *strs, size_t n);
const char *sv_flags_add(struct sv_run *run, const char *set, const char *add);
const char *sv_flags_remove(struct sv_run *run, const char *set, const char *del);
/* Splits a canonical list into an array of flags. */
size_t sv_flags_split(pool_t *pool, const char *set, const char *const **out);

/* actions.c */
int sv_act_keep(struct sv_run *run, const char *flags);
int sv_act_fileinto(struct sv_run *run, const char *mailbox, const char *flags, int copy);
int sv_act_redirect(struct sv_run *run, const char *address, int copy);
int sv_act_reject(struct sv_run *run, const char *reason, int ereject);
int sv_act_discard(struct sv_run *run);
/* Marks a vacation command as executed (one per run, conflicts with reject); vac, if not
 * NULL, is the reply to send. */
int sv_act_vacation(struct sv_run *run, const struct sieve_vacation *vac);
/* Resolves the implicit keep and fills out. */
void sv_act_finish(struct sv_run *run, struct sieve_result *out);

/* vacation.c: runs a vacation command whose arguments are expanded. */
struct sv_vacation_args {
    unsigned long long days;
    int has_days, mime;
    const char *subject, *from, *handle, *reason; /* NULL when not given */
    const struct sv_text *addresses;
    size_t naddresses;
};
int sv_vacation(struct sv_run *run, const struct sv_vacation_args *a);

#endif
