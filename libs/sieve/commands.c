/* commands: what each command and test of the supported extensions accepts - tags
 * (RFC 5228 2.6.2: in any order, before the positional arguments), positional argument
 * types, the extension it needs - and the checks on constant arguments that can never
 * be valid (header names, comparators, envelope parts, addresses, variable names).
 * Turns the generic syntax tree into the command tree interp.c runs. Messages are for
 * the person who wrote the script: they name the command and say what was expected. */
#include "sieve/sieve_int.h"

#include "mailaddr/mailaddr.h"

#include <string.h>
#include <strings.h>

/* Tag groups: a command or test allows some groups; a group may be given once. */
enum group {
    G_CMP, G_MT, G_AP, G_BT, G_SIZE, G_COPY, G_FLAGS, G_DAYS, G_SUBJECT, G_FROM,
    G_ADDRESSES, G_MIME, G_HANDLE, G_MOD40, G_MOD30, G_MOD20, G_MOD10, G_COUNT
};
#define GB(g) (1u << (g))
#define G_MATCHING (GB(G_CMP) | GB(G_MT))
#define G_MODIFIERS (GB(G_MOD40) | GB(G_MOD30) | GB(G_MOD20) | GB(G_MOD10))

enum tag_arg { TA_NONE, TA_STRING, TA_STRLIST, TA_NUMBER };

struct tagdef {
    const char *name;
    enum group group;
    enum tag_arg arg;
    unsigned ext;
    int value;
};

static const struct tagdef tagdefs[] = {
    {"comparator", G_CMP, TA_STRING, 0, 0},
    {"is", G_MT, TA_NONE, 0, SV_MT_IS},
    {"contains", G_MT, TA_NONE, 0, SV_MT_CONTAINS},
    {"matches", G_MT, TA_NONE, 0, SV_MT_MATCHES},
    {"all", G_AP, TA_NONE, 0, SV_AP_ALL},
    {"localpart", G_AP, TA_NONE, 0, SV_AP_LOCAL},
    {"domain", G_AP, TA_NONE, 0, SV_AP_DOMAIN},
    {"user", G_AP, TA_NONE, SV_EXT_SUBADDRESS, SV_AP_USER},
    {"detail", G_AP, TA_NONE, SV_EXT_SUBADDRESS, SV_AP_DETAIL},
    {"raw", G_BT, TA_NONE, 0, SV_BT_RAW},
    {"text", G_BT, TA_NONE, 0, SV_BT_TEXT},
    {"content", G_BT, TA_STRLIST, 0, SV_BT_CONTENT},
    {"over", G_SIZE, TA_NONE, 0, 1},
    {"under", G_SIZE, TA_NONE, 0, 0},
    {"copy", G_COPY, TA_NONE, SV_EXT_COPY, 1},
    {"flags", G_FLAGS, TA_STRLIST, SV_EXT_IMAP4FLAGS, 0},
    {"days", G_DAYS, TA_NUMBER, 0, 0},
    {"subject", G_SUBJECT, TA_STRING, 0, 0},
    {"from", G_FROM, TA_STRING, 0, 0},
    {"addresses", G_ADDRESSES, TA_STRLIST, 0, 0},
    {"mime", G_MIME, TA_NONE, 0, 1},
    {"handle", G_HANDLE, TA_STRING, 0, 0},
    {"lower", G_MOD40, TA_NONE, 0, SV_MOD_LOWER},
    {"upper", G_MOD40, TA_NONE, 0, SV_MOD_UPPER},
    {"lowerfirst", G_MOD30, TA_NONE, 0, SV_MOD_LOWERFIRST},
    {"upperfirst", G_MOD30, TA_NONE, 0, SV_MOD_UPPERFIRST},
    {"quotewildcard", G_MOD20, TA_NONE, 0, SV_MOD_QUOTEWILDCARD},
    {"length", G_MOD10, TA_NONE, 0, SV_MOD_LENGTH},
};

static const struct {
    const char *name;
    unsigned bit;
} extensions[] = {
    {"fileinto", SV_EXT_FILEINTO},     {"reject", SV_EXT_REJECT},
    {"ereject", SV_EXT_EREJECT},       {"envelope", SV_EXT_ENVELOPE},
    {"vacation", SV_EXT_VACATION},     {"imap4flags", SV_EXT_IMAP4FLAGS},
    {"body", SV_EXT_BODY},             {"variables", SV_EXT_VARIABLES},
    {"copy", SV_EXT_COPY},             {"subaddress", SV_EXT_SUBADDRESS},
    {"comparator-i;octet", SV_EXT_CMP_OCTET},
    {"comparator-i;ascii-casemap", SV_EXT_CMP_CASEMAP},
};

static const char *ext_name(unsigned bit)
{
    for (size_t i = 0; i < sizeof(extensions) / sizeof(extensions[0]); i++)
        if (extensions[i].bit == bit)
            return extensions[i].name;
    return "?";
}

struct check {
    pool_t *pool;
    struct sieve_error *err;
    struct sieve_script *script;
};

/* What the tags of one command or test said, and its positional arguments. */
struct seen {
    const struct tagdef *tag[G_COUNT];
    const struct sv_arg *tagpos[G_COUNT]; /* where the tag was written */
    const struct sv_arg *val[G_COUNT];    /* the tag's own argument */
    const struct sv_arg **pos;
    size_t npos;
};

struct cmddef;
typedef int (*check_fn)(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                        struct seen *s, void *out);

struct cmddef {
    const char *name;
    int is_test;
    int kind;               /* enum sv_test_kind or enum sv_cmd_kind */
    unsigned ext;
    unsigned groups;
    const char *usage;
    check_fn check;
};

static int fail_at(struct check *ck, unsigned line, unsigned column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(struct check *ck, unsigned line, unsigned column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = pool_vprintf(ck->pool, fmt, ap);
    va_end(ap);
    return sv_err(ck->err, ck->pool, line, column, "%s", msg);
}

static int has_ext(const struct check *ck, unsigned ext)
{
    return (ck->script->exts & ext) == ext;
}

/* kind and name say what needs ext: ("command", "fileinto"), ("tag", "copy"). */
static int need_ext(struct check *ck, unsigned ext, unsigned line, unsigned column,
                    const char *kind, const char *name)
{
    if (!ext || has_ext(ck, ext))
        return 0;
    return fail_at(ck, line, column, "%s %s%s%s needs the \"%s\" extension: add require "
                   "\"%s\"; at the top of the script", kind, strcmp(kind, "tag") ? "\"" : ":",
                   name, strcmp(kind, "tag") ? "\"" : "", ext_name(ext), ext_name(ext));
}

static const struct tagdef *find_tag(const char *name)
{
    for (size_t i = 0; i < sizeof(tagdefs) / sizeof(tagdefs[0]); i++)
        if (strcasecmp(tagdefs[i].name, name) == 0)
            return &tagdefs[i];
    return NULL;
}

static const char *kind_word(const struct cmddef *def)
{
    return def->is_test ? "test" : "command";
}

/* Sorts the arguments of a into tags (checked against def) and positional ones. */
static int collect(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                   struct seen *s)
{
    memset(s, 0, sizeof(*s));
    s->pos = pool_alloc(ck->pool, (a->nargs + 1) * sizeof(*s->pos));
    for (size_t i = 0; i < a->nargs; i++) {
        const struct sv_arg *arg = &a->args[i];
        if (arg->kind != SV_ARG_TAG) {
            s->pos[s->npos++] = arg;
            continue;
        }
        const struct tagdef *t = find_tag(arg->tag);
        if (!t || !(def->groups & GB(t->group)))
            return fail_at(ck, arg->line, arg->column, "%s \"%s\" has no tag :%s (usage: %s)",
                           kind_word(def), def->name, arg->tag, def->usage);
        if (s->npos)
            return fail_at(ck, arg->line, arg->column,
                           "tag :%s must come before the other arguments of \"%s\"", arg->tag,
                           def->name);
        if (need_ext(ck, t->ext, arg->line, arg->column, "tag", t->name) != 0)
            return -1;
        if (s->tag[t->group]) {
            if (s->tag[t->group] == t)
                return fail_at(ck, arg->line, arg->column, "tag :%s is given twice", t->name);
            return fail_at(ck, arg->line, arg->column, "tags :%s and :%s exclude each other",
                           s->tag[t->group]->name, t->name);
        }
        s->tag[t->group] = t;
        s->tagpos[t->group] = arg;
        if (t->arg == TA_NONE)
            continue;
        const struct sv_arg *v = i + 1 < a->nargs ? &a->args[i + 1] : NULL;
        int ok = v && (t->arg == TA_NUMBER ? v->kind == SV_ARG_NUMBER
                       : v->kind == SV_ARG_STRINGS && (t->arg == TA_STRLIST || !v->bracketed));
        if (!ok)
            return fail_at(ck, arg->line, arg->column, "tag :%s needs %s after it", t->name,
                           t->arg == TA_NUMBER   ? "a number"
                           : t->arg == TA_STRING ? "a string"
                                                 : "a string list");
        s->val[t->group] = v;
        i++;
    }
    return 0;
}

static int wrong_args(struct check *ck, const struct cmddef *def, const struct sv_ast *a)
{
    return fail_at(ck, a->line, a->column, "wrong arguments for \"%s\" (usage: %s)",
                   def->name, def->usage);
}

/* Exactly n positional arguments. */
static int want_npos(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                     const struct seen *s, size_t n)
{
    return s->npos == n ? 0 : wrong_args(ck, def, a);
}

/* A command or test followed by what the grammar reads as its test: usually a missing
 * ';' (after a command) or ',' (in a test list) before the next identifier. */
static int no_tests(struct check *ck, const struct cmddef *def, const struct sv_ast *a)
{
    if (!a->ntests)
        return 0;
    const struct sv_ast *t = a->tests[0];
    return fail_at(ck, t->line, t->column, "%s \"%s\" takes no test; is a '%c' missing "
                   "before \"%s\"?", kind_word(def), def->name, def->is_test ? ',' : ';',
                   t->name);
}

static int compile_str(struct check *ck, const struct sv_string *in, struct sv_str *out)
{
    return sv_str_compile(ck->pool, in, has_ext(ck, SV_EXT_VARIABLES), out, ck->err);
}

static int str_arg(struct check *ck, const struct sv_arg *arg, const char *what,
                   struct sv_str *out)
{
    if (arg->kind != SV_ARG_STRINGS || arg->bracketed)
        return fail_at(ck, arg->line, arg->column, "%s must be a single string", what);
    return compile_str(ck, &arg->strs[0], out);
}

static int list_arg(struct check *ck, const struct sv_arg *arg, const char *what,
                    struct sv_list *out)
{
    if (arg->kind != SV_ARG_STRINGS)
        return fail_at(ck, arg->line, arg->column, "%s must be a string or a string list",
                       what);
    out->n = arg->nstrs;
    out->items = pool_zalloc(ck->pool, arg->nstrs * sizeof(*out->items));
    for (size_t i = 0; i < arg->nstrs; i++)
        if (compile_str(ck, &arg->strs[i], &out->items[i]) != 0)
            return -1;
    return 0;
}

/* ---- checks on constant values ---- */

static int header_name_ok(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126 || c == ':')
            return 0;
    }
    return 1;
}

static int check_header_names(struct check *ck, const struct sv_arg *arg,
                              const struct sv_list *l, int addresses)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct sv_str *h = &l->items[i];
        if (h->parts)
            continue; /* known at run time only */
        if (!header_name_ok(h->s, h->len))
            return fail_at(ck, arg->strs[i].line, arg->strs[i].column,
                           "\"%s\" is not a valid header name", h->s);
        if (addresses && !sv_address_header_ok(h->s, h->len))
            return fail_at(ck, arg->strs[i].line, arg->strs[i].column,
                           "\"%s\" does not hold addresses; the address test takes headers "
                           "such as From, To, Cc, Bcc, Sender, Reply-To, Resent-From",
                           h->s);
    }
    return 0;
}

static int check_var_names(struct check *ck, const struct sv_arg *arg, const struct sv_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].parts || !sv_var_name_ok(l->items[i].s, l->items[i].len))
            return fail_at(ck, arg->strs[i].line, arg->strs[i].column,
                           "\"%s\" is not a valid variable name", arg->strs[i].s);
    return 0;
}

/* The matching tags shared by the comparing tests. */
static int matching(struct check *ck, const struct seen *s, struct sv_test *t)
{
    t->cmp = SV_CMP_CASEMAP;
    t->mt = SV_MT_IS;
    if (s->tag[G_MT])
        t->mt = (enum sv_mt)s->tag[G_MT]->value;
    if (s->tag[G_AP])
        t->ap = (enum sv_ap)s->tag[G_AP]->value;
    const struct sv_arg *c = s->val[G_CMP];
    if (c) {
        const char *name = c->strs[0].s;
        if (strcasecmp(name, "i;ascii-casemap") == 0)
            t->cmp = SV_CMP_CASEMAP;
        else if (strcasecmp(name, "i;octet") == 0)
            t->cmp = SV_CMP_OCTET;
        else
            return fail_at(ck, c->line, c->column,
                           "comparator \"%s\" is not supported (i;ascii-casemap and i;octet "
                           "are)", name);
    }
    return 0;
}

/* ---- tests ---- */

static int check_test(struct check *ck, const struct sv_ast *a, struct sv_test **out);

static int t_address(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                     struct seen *s, void *out)
{
    struct sv_test *t = out;
    if (want_npos(ck, def, a, s, 2) != 0 || matching(ck, s, t) != 0)
        return -1;
    int env = t->kind == SV_TEST_ENVELOPE;
    if (list_arg(ck, s->pos[0], env ? "the envelope parts" : "the header names", &t->names) != 0 ||
        list_arg(ck, s->pos[1], "the keys", &t->keys) != 0)
        return -1;
    if (!env)
        return check_header_names(ck, s->pos[0], &t->names, 1);
    for (size_t i = 0; i < t->names.n; i++) {
        const struct sv_str *p = &t->names.items[i];
        if (!p->parts && strcasecmp(p->s, "from") != 0 && strcasecmp(p->s, "to") != 0)
            return fail_at(ck, s->pos[0]->strs[i].line, s->pos[0]->strs[i].column,
                           "envelope part \"%s\" is not supported (\"from\" and \"to\" are)",
                           p->s);
    }
    return 0;
}

static int t_header(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                    struct seen *s, void *out)
{
    struct sv_test *t = out;
    if (want_npos(ck, def, a, s, 2) != 0 || matching(ck, s, t) != 0 ||
        list_arg(ck, s->pos[0], "the header names", &t->names) != 0 ||
        list_arg(ck, s->pos[1], "the keys", &t->keys) != 0)
        return -1;
    return check_header_names(ck, s->pos[0], &t->names, 0);
}

static int t_exists(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                    struct seen *s, void *out)
{
    struct sv_test *t = out;
    if (want_npos(ck, def, a, s, 1) != 0 ||
        list_arg(ck, s->pos[0], "the header names", &t->names) != 0)
        return -1;
    return check_header_names(ck, s->pos[0], &t->names, 0);
}

static int t_size(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                  struct seen *s, void *out)
{
    struct sv_test *t = out;
    if (!s->tag[G_SIZE] || want_npos(ck, def, a, s, 1) != 0 ||
        s->pos[0]->kind != SV_ARG_NUMBER)
        return wrong_args(ck, def, a);
    t->over = s->tag[G_SIZE]->value;
    t->limit = s->pos[0]->number;
    return 0;
}

static int t_logic(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                   struct seen *s, void *out)
{
    struct sv_test *t = out;
    if (s->npos)
        return wrong_args(ck, def, a);
    int is_not = t->kind == SV_TEST_NOT;
    if (is_not ? (a->ntests != 1 || a->test_list) : (a->ntests == 0 || !a->test_list))
        return fail_at(ck, a->line, a->column, "\"%s\" needs %s (usage: %s)", def->name,
                       is_not ? "one test, without parentheses"
                              : "a list of tests in parentheses",
                       def->usage);
    t->nsubs = a->ntests;
    t->subs = pool_alloc(ck->pool, a->ntests * sizeof(*t->subs));
    for (size_t i = 0; i < a->ntests; i++)
        if (check_test(ck, a->tests[i], &t->subs[i]) != 0)
            return -1;
    return 0;
}

static int t_const(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                   struct seen *s, void *out)
{
    (void)out;
    return want_npos(ck, def, a, s, 0);
}

static int t_hasflag(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                     struct seen *s, void *out)
{
    struct sv_test *t = out;
    if (s->npos != 1 && s->npos != 2)
        return wrong_args(ck, def, a);
    if (matching(ck, s, t) != 0)
        return -1;
    if (s->npos == 2) {
        if (need_ext(ck, SV_EXT_VARIABLES, s->pos[0]->line, s->pos[0]->column,
                     "a variable list in", def->name) != 0 ||
            list_arg(ck, s->pos[0], "the variable names", &t->names) != 0 ||
            check_var_names(ck, s->pos[0], &t->names) != 0)
            return -1;
    }
    return list_arg(ck, s->pos[s->npos - 1], "the flags", &t->keys);
}

static int t_body(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                  struct seen *s, void *out)
{
    struct sv_test *t = out;
    if (want_npos(ck, def, a, s, 1) != 0 || matching(ck, s, t) != 0 ||
        list_arg(ck, s->pos[0], "the keys", &t->keys) != 0)
        return -1;
    t->bt = s->tag[G_BT] ? (enum sv_bt)s->tag[G_BT]->value : SV_BT_TEXT;
    if (t->bt == SV_BT_CONTENT &&
        list_arg(ck, s->val[G_BT], "the content types", &t->types) != 0)
        return -1;
    return 0;
}

static int t_string(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                    struct seen *s, void *out)
{
    struct sv_test *t = out;
    if (want_npos(ck, def, a, s, 2) != 0 || matching(ck, s, t) != 0 ||
        list_arg(ck, s->pos[0], "the source strings", &t->names) != 0)
        return -1;
    return list_arg(ck, s->pos[1], "the keys", &t->keys);
}

/* ---- commands ---- */

/* keep's and fileinto's :flags (RFC 5232 5). */
static int flags_tag(struct check *ck, const struct seen *s, struct sv_cmd *c)
{
    if (!s->val[G_FLAGS])
        return 0;
    c->has_flags = 1;
    return list_arg(ck, s->val[G_FLAGS], "the flags", &c->flags);
}

static int c_plain(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                   struct seen *s, void *out)
{
    if (want_npos(ck, def, a, s, 0) != 0)
        return -1;
    return flags_tag(ck, s, out);
}

static int c_fileinto(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                      struct seen *s, void *out)
{
    struct sv_cmd *c = out;
    if (want_npos(ck, def, a, s, 1) != 0 || str_arg(ck, s->pos[0], "the mailbox", &c->arg) != 0)
        return -1;
    c->copy = s->tag[G_COPY] != NULL;
    if (!c->arg.parts && !sv_mailbox_ok(c->arg.s, c->arg.len))
        return fail_at(ck, s->pos[0]->line, s->pos[0]->column,
                       "\"%s\" is not a valid mailbox name", c->arg.s);
    return flags_tag(ck, s, c);
}

static int c_redirect(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                      struct seen *s, void *out)
{
    struct sv_cmd *c = out;
    if (want_npos(ck, def, a, s, 1) != 0 || str_arg(ck, s->pos[0], "the address", &c->arg) != 0)
        return -1;
    c->copy = s->tag[G_COPY] != NULL;
    if (!c->arg.parts && !sv_redirect_ok(ck->pool, c->arg.s))
        return fail_at(ck, s->pos[0]->line, s->pos[0]->column,
                       "\"%s\" is not a valid address to redirect to (like user@example.com)",
                       c->arg.s);
    return 0;
}

static int c_reason(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                    struct seen *s, void *out)
{
    struct sv_cmd *c = out;
    if (want_npos(ck, def, a, s, 1) != 0)
        return -1;
    return str_arg(ck, s->pos[0], "the reason", &c->arg);
}

static int c_vacation(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                      struct seen *s, void *out)
{
    struct sv_cmd *c = out;
    if (want_npos(ck, def, a, s, 1) != 0 || str_arg(ck, s->pos[0], "the reason", &c->arg) != 0)
        return -1;
    if (s->val[G_DAYS]) {
        c->has_days = 1;
        c->days = s->val[G_DAYS]->number;
    }
    c->mime = s->tag[G_MIME] != NULL;
    if (s->val[G_SUBJECT]) {
        c->has_subject = 1;
        if (compile_str(ck, &s->val[G_SUBJECT]->strs[0], &c->subject) != 0)
            return -1;
    }
    if (s->val[G_HANDLE]) {
        c->has_handle = 1;
        if (compile_str(ck, &s->val[G_HANDLE]->strs[0], &c->handle) != 0)
            return -1;
    }
    if (s->val[G_FROM]) {
        c->has_from = 1;
        if (compile_str(ck, &s->val[G_FROM]->strs[0], &c->from) != 0)
            return -1;
    }
    if (s->val[G_ADDRESSES] &&
        list_arg(ck, s->val[G_ADDRESSES], "the addresses", &c->addresses) != 0)
        return -1;
    return 0;
}

static int c_flag(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                  struct seen *s, void *out)
{
    struct sv_cmd *c = out;
    if (s->npos != 1 && s->npos != 2)
        return wrong_args(ck, def, a);
    if (s->npos == 2) {
        struct sv_str name;
        if (need_ext(ck, SV_EXT_VARIABLES, s->pos[0]->line, s->pos[0]->column,
                     "a variable name in", def->name) != 0 ||
            str_arg(ck, s->pos[0], "the variable name", &name) != 0)
            return -1;
        if (name.parts || !sv_var_name_ok(name.s, name.len))
            return fail_at(ck, s->pos[0]->line, s->pos[0]->column,
                           "\"%s\" is not a valid variable name", s->pos[0]->strs[0].s);
        c->var = mailaddr_lower(ck->pool, name.s);
    }
    return list_arg(ck, s->pos[s->npos - 1], "the flags", &c->flags);
}

static int c_set(struct check *ck, const struct cmddef *def, const struct sv_ast *a,
                 struct seen *s, void *out)
{
    struct sv_cmd *c = out;
    struct sv_str name;
    if (want_npos(ck, def, a, s, 2) != 0 ||
        str_arg(ck, s->pos[0], "the variable name", &name) != 0 ||
        str_arg(ck, s->pos[1], "the value", &c->arg) != 0)
        return -1;
    if (name.parts || !sv_var_name_ok(name.s, name.len))
        return fail_at(ck, s->pos[0]->line, s->pos[0]->column,
                       "\"%s\" is not a valid variable name (letters, digits and '_', not "
                       "starting with a digit)", s->pos[0]->strs[0].s);
    c->var = mailaddr_lower(ck->pool, name.s);
    for (int g = G_MOD40; g <= G_MOD10; g++)
        if (s->tag[g])
            c->modifiers |= (unsigned)s->tag[g]->value;
    return 0;
}

#define T(name, kind, ext, groups, usage, fn) {name, 1, kind, ext, groups, usage, fn}
#define C(name, kind, ext, groups, usage, fn) {name, 0, kind, ext, groups, usage, fn}
static const struct cmddef cmddefs[] = {
    T("address", SV_TEST_ADDRESS, 0, G_MATCHING | GB(G_AP),
      "address [COMPARATOR] [ADDRESS-PART] [MATCH-TYPE] <header-list> <key-list>", t_address),
    T("envelope", SV_TEST_ENVELOPE, SV_EXT_ENVELOPE, G_MATCHING | GB(G_AP),
      "envelope [COMPARATOR] [ADDRESS-PART] [MATCH-TYPE] <envelope-part> <key-list>",
      t_address),
    T("header", SV_TEST_HEADER, 0, G_MATCHING,
      "header [COMPARATOR] [MATCH-TYPE] <header-names> <key-list>", t_header),
    T("exists", SV_TEST_EXISTS, 0, 0, "exists <header-names>", t_exists),
    T("size", SV_TEST_SIZE, 0, GB(G_SIZE), "size <:over / :under> <limit: number>", t_size),
    T("allof", SV_TEST_ALLOF, 0, 0, "allof (<test>, <test>, ...)", t_logic),
    T("anyof", SV_TEST_ANYOF, 0, 0, "anyof (<test>, <test>, ...)", t_logic),
    T("not", SV_TEST_NOT, 0, 0, "not <test>", t_logic),
    T("true", SV_TEST_TRUE, 0, 0, "true", t_const),
    T("false", SV_TEST_FALSE, 0, 0, "false", t_const),
    T("hasflag", SV_TEST_HASFLAG, SV_EXT_IMAP4FLAGS, G_MATCHING,
      "hasflag [MATCH-TYPE] [COMPARATOR] [<variable-list>] <list-of-flags>", t_hasflag),
    T("body", SV_TEST_BODY, SV_EXT_BODY, G_MATCHING | GB(G_BT),
      "body [COMPARATOR] [MATCH-TYPE] [:raw / :content <types> / :text] <key-list>", t_body),
    T("string", SV_TEST_STRING, SV_EXT_VARIABLES, G_MATCHING,
      "string [MATCH-TYPE] [COMPARATOR] <source> <key-list>", t_string),
    C("stop", SV_CMD_STOP, 0, 0, "stop;", c_plain),
    C("keep", SV_CMD_KEEP, 0, GB(G_FLAGS), "keep [:flags <list-of-flags>];", c_plain),
    C("discard", SV_CMD_DISCARD, 0, 0, "discard;", c_plain),
    C("fileinto", SV_CMD_FILEINTO, SV_EXT_FILEINTO, GB(G_COPY) | GB(G_FLAGS),
      "fileinto [:copy] [:flags <list-of-flags>] <mailbox: string>;", c_fileinto),
    C("redirect", SV_CMD_REDIRECT, 0, GB(G_COPY), "redirect [:copy] <address: string>;",
      c_redirect),
    C("reject", SV_CMD_REJECT, SV_EXT_REJECT, 0, "reject <reason: string>;", c_reason),
    C("ereject", SV_CMD_EREJECT, SV_EXT_EREJECT, 0, "ereject <reason: string>;", c_reason),
    C("vacation", SV_CMD_VACATION, SV_EXT_VACATION,
      GB(G_DAYS) | GB(G_SUBJECT) | GB(G_FROM) | GB(G_ADDRESSES) | GB(G_MIME) | GB(G_HANDLE),
      "vacation [:days number] [:subject string] [:from string] [:addresses string-list] "
      "[:mime] [:handle string] <reason: string>;", c_vacation),
    C("setflag", SV_CMD_SETFLAG, SV_EXT_IMAP4FLAGS, 0, "setflag [<variable>] <list-of-flags>;",
      c_flag),
    C("addflag", SV_CMD_ADDFLAG, SV_EXT_IMAP4FLAGS, 0, "addflag [<variable>] <list-of-flags>;",
      c_flag),
    C("removeflag", SV_CMD_REMOVEFLAG, SV_EXT_IMAP4FLAGS, 0,
      "removeflag [<variable>] <list-of-flags>;", c_flag),
    C("set", SV_CMD_SET, SV_EXT_VARIABLES, G_MODIFIERS,
      "set [MODIFIER] <name: string> <value: string>;", c_set),
};
#undef T
#undef C

static const struct cmddef *find_def(const char *name, int is_test)
{
    for (size_t i = 0; i < sizeof(cmddefs) / sizeof(cmddefs[0]); i++)
        if (cmddefs[i].is_test == is_test && strcasecmp(cmddefs[i].name, name) == 0)
            return &cmddefs[i];
    return NULL;
}

static int is_control(const char *name)
{
    static const char *const control[] = {"if", "elsif", "else", "require", NULL};
    for (int i = 0; control[i]; i++)
        if (strcasecmp(name, control[i]) == 0)
            return 1;
    return 0;
}

static int check_test(struct check *ck, const struct sv_ast *a, struct sv_test **out)
{
    const struct cmddef *def = find_def(a->name, 1);
    if (!def) {
        if (find_def(a->name, 0) || is_control(a->name))
            return fail_at(ck, a->line, a->column, "\"%s\" is a command, not a test", a->name);
        return fail_at(ck, a->line, a->column, "unknown test \"%s\"", a->name);
    }
    if (need_ext(ck, def->ext, a->line, a->column, "test", def->name) != 0)
        return -1;
    struct sv_test *t = pool_zalloc(ck->pool, sizeof(*t));
    t->kind = (enum sv_test_kind)def->kind;
    t->line = a->line;
    struct seen s;
    if (collect(ck, def, a, &s) != 0)
        return -1;
    if (t->kind != SV_TEST_ALLOF && t->kind != SV_TEST_ANYOF && t->kind != SV_TEST_NOT &&
        no_tests(ck, def, a) != 0)
        return -1;
    if (def->check(ck, def, a, &s, t) != 0)
        return -1;
    *out = t;
    return 0;
}

static int check_block(struct check *ck, const struct sv_ast *first, struct sv_cmd **out,
                       int top);

/* if / elsif: a test and a block, nothing else. */
static int check_if(struct check *ck, const struct sv_ast *a, struct sv_cmd *c)
{
    if (a->nargs)
        return fail_at(ck, a->args[0].line, a->args[0].column,
                       "\"%s\" takes a test and a block, not arguments", a->name);
    if (a->ntests != 1 || a->test_list)
        return fail_at(ck, a->line, a->column, "\"%s\" needs one test (use allof or anyof "
                       "to combine tests)", a->name);
    if (!a->has_block)
        return fail_at(ck, a->line, a->column, "\"%s\" needs a block: %s <test> { ... }",
                       a->name, a->name);
    c->kind = SV_CMD_IF;
    return check_test(ck, a->tests[0], &c->test) != 0 ? -1
           : check_block(ck, a->block, &c->then, 0);
}

/* The commands of a block; at the top, require first. */
static int check_block(struct check *ck, const struct sv_ast *first, struct sv_cmd **out,
                       int top)
{
    struct sv_cmd **tail = out;
    struct sv_cmd *open_if = NULL; /* the if/elsif an elsif or else may follow */
    int requires_allowed = top;
    *out = NULL;
    for (const struct sv_ast *a = first; a; a = a->next) {
        if (strcasecmp(a->name, "require") == 0) {
            if (!requires_allowed)
                return fail_at(ck, a->line, a->column,
                               top ? "require must come before every other command"
                                   : "require is only allowed at the top of the script");
            if (a->nargs != 1 || a->args[0].kind != SV_ARG_STRINGS || a->ntests || a->has_block)
                return fail_at(ck, a->line, a->column, "usage: require <capabilities: "
                               "string-list>;");
            for (size_t i = 0; i < a->args[0].nstrs; i++) {
                const struct sv_string *e = &a->args[0].strs[i];
                unsigned bit = 0;
                for (size_t k = 0; k < sizeof(extensions) / sizeof(extensions[0]); k++)
                    if (strcasecmp(extensions[k].name, e->s) == 0)
                        bit = extensions[k].bit;
                if (!bit)
                    return fail_at(ck, e->line, e->column, "unsupported extension \"%s\" "
                                   "(supported: %s)", e->s, sieve_extensions());
                ck->script->exts |= bit;
            }
            continue;
        }
        requires_allowed = 0;
        int is_elsif = strcasecmp(a->name, "elsif") == 0;
        int is_else = strcasecmp(a->name, "else") == 0;
        struct sv_cmd *c = pool_zalloc(ck->pool, sizeof(*c));
        c->line = a->line;
        if (is_elsif || is_else) {
            if (!open_if)
                return fail_at(ck, a->line, a->column, "\"%s\" must follow if or elsif",
                               a->name);
            if (is_else) {
                if (a->nargs || a->ntests)
                    return fail_at(ck, a->line, a->column, "else takes no test");
                if (!a->has_block)
                    return fail_at(ck, a->line, a->column, "else needs a block: else { ... }");
                if (check_block(ck, a->block, &open_if->otherwise, 0) != 0)
                    return -1;
                open_if = NULL;
                continue;
            }
            if (check_if(ck, a, c) != 0)
                return -1;
            open_if->otherwise = c;
            open_if = c;
            continue;
        }
        if (strcasecmp(a->name, "if") == 0) {
            if (check_if(ck, a, c) != 0)
                return -1;
            open_if = c;
        } else {
            open_if = NULL;
            const struct cmddef *def = find_def(a->name, 0);
            if (!def) {
                if (find_def(a->name, 1))
                    return fail_at(ck, a->line, a->column,
                                   "\"%s\" is a test, not a command: use it in if", a->name);
                return fail_at(ck, a->line, a->column, "unknown command \"%s\"", a->name);
            }
            if (need_ext(ck, def->ext, a->line, a->column, "command", def->name) != 0)
                return -1;
            if (a->has_block)
                return fail_at(ck, a->line, a->column, "command \"%s\" takes no block; end "
                               "it with ';'", def->name);
            c->kind = (enum sv_cmd_kind)def->kind;
            struct seen s;
            if (collect(ck, def, a, &s) != 0 || no_tests(ck, def, a) != 0 ||
                def->check(ck, def, a, &s, c) != 0)
                return -1;
        }
        *tail = c;
        tail = &c->next;
    }
    return 0;
}

int sv_check(pool_t *pool, const struct sv_ast *ast, struct sieve_script *script,
             struct sieve_error *err)
{
    struct check ck = {.pool = pool, .err = err, .script = script};
    return check_block(&ck, ast, &script->cmds, 1);
}
