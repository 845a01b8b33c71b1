/* interp: runs the command tree over one message. Tests gather the values they compare
 * (decoded header values, address parts, envelope addresses, body parts, flags,
 * strings) and match every key against every value, keys outside so a :matches pattern
 * is parsed once. A successful :matches sets ${0}..${9} (RFC 5229 3.2). Every command
 * and test is charged to the work limit; any error stops the run, and sv_act_finish
 * turns it into the implicit keep. */
#include "sieve/sieve_int.h"

#include "mailaddr/mailaddr.h"

#include <string.h>
#include <strings.h>

int sv_charge(struct sv_run *run, unsigned long long n)
{
    run->steps += n;
    if (run->steps <= run->cfg->max_steps)
        return 0;
    return sv_fail(run, "the script needs too much work for this message (the limit is %llu "
                   "steps)", run->cfg->max_steps);
}

int sv_fail(struct sv_run *run, const char *fmt, ...)
{
    if (run->error)
        return -1; /* the first error is the one that matters */
    va_list ap;
    va_start(ap, fmt);
    const char *msg = pool_vprintf(run->pool, fmt, ap);
    va_end(ap);
    run->error = pool_printf(run->pool, "line %u: %s", run->line, msg);
    return -1;
}

void sv_note(struct sv_run *run, const char *fmt, ...)
{
    run->notes = sv_grow(run->pool, run->notes, run->nnotes, &run->capnotes,
                         sizeof(*run->notes));
    va_list ap;
    va_start(ap, fmt);
    run->notes[run->nnotes++] = pool_vprintf(run->pool, fmt, ap);
    va_end(ap);
}

/* The values a test compares. */
struct values {
    struct sv_text *t;
    size_t n, cap;
};

static void add_value(struct sv_run *run, struct values *v, const char *s, size_t len)
{
    v->t = sv_grow(run->pool, v->t, v->n, &v->cap, sizeof(*v->t));
    v->t[v->n++] = (struct sv_text){s, len};
}

static void set_match_vars(struct sv_run *run, const struct sv_caps *caps)
{
    for (unsigned i = 0; i < SV_MATCH_VARS; i++) {
        size_t len = caps->p[i] ? sv_utf8_cut(caps->p[i], caps->len[i],
                                              run->cfg->max_variable_size) : 0;
        run->mv[i] = caps->p[i] ? pool_strndup(run->pool, caps->p[i], len) : "";
        run->mvlen[i] = len;
    }
}

/* 1 if a key matches a value, 0 if none does, -1 on error. */
static int match_keys(struct sv_run *run, const struct sv_test *t, const struct values *v,
                      const struct sv_text *keys, size_t nkeys)
{
    int capture = t->mt == SV_MT_MATCHES && (run->script->exts & SV_EXT_VARIABLES);
    for (size_t k = 0; k < nkeys; k++)
        for (size_t i = 0; i < v->n; i++) {
            struct sv_caps caps;
            int r = sv_match(run, t->cmp, t->mt, v->t[i].s, v->t[i].len, keys[k].s, keys[k].len,
                             capture ? &caps : NULL);
            if (r < 0)
                return -1;
            if (r) {
                if (capture)
                    set_match_vars(run, &caps);
                return 1;
            }
        }
    return 0;
}

static int match_values(struct sv_run *run, const struct sv_test *t, const struct values *v)
{
    struct sv_text *keys;
    if (sv_expand_list(run, &t->keys, &keys) != 0)
        return -1;
    return match_keys(run, t, v, keys, t->keys.n);
}

/* The address parts of the named headers (address test). */
static int address_values(struct sv_run *run, const struct sv_test *t, struct values *v)
{
    struct sv_text *names;
    if (sv_headers_index(run) != 0 || sv_expand_list(run, &t->names, &names) != 0)
        return -1;
    for (size_t n = 0; n < t->names.n; n++)
        for (size_t i = 0; i < run->nhdrs; i++) {
            const char **addrs;
            size_t na;
            if (!sv_header_is(&run->hdrs[i], names[n].s, names[n].len))
                continue;
            if (sv_header_addresses(run, i, &addrs, &na) != 0)
                return -1;
            for (size_t k = 0; k < na; k++) {
                const char *part;
                size_t len;
                if (sv_address_part(run, addrs[k], t->ap, &part, &len) == 0)
                    add_value(run, v, part, len);
            }
        }
    return 0;
}

static int envelope_values(struct sv_run *run, const struct sv_test *t, struct values *v)
{
    struct sv_text *names;
    if (sv_expand_list(run, &t->names, &names) != 0)
        return -1;
    for (size_t n = 0; n < t->names.n; n++) {
        const char *addr = NULL;
        if (strcasecmp(names[n].s, "from") == 0)
            addr = run->env->from ? run->env->from : "";
        else if (strcasecmp(names[n].s, "to") == 0)
            addr = run->env->to;
        const char *part;
        size_t len;
        if (addr && sv_address_part(run, addr, t->ap, &part, &len) == 0)
            add_value(run, v, part, len);
    }
    return 0;
}

static int header_values(struct sv_run *run, const struct sv_test *t, struct values *v,
                         int *all_exist)
{
    struct sv_text *names;
    if (sv_headers_index(run) != 0 || sv_expand_list(run, &t->names, &names) != 0)
        return -1;
    *all_exist = 1;
    for (size_t n = 0; n < t->names.n; n++) {
        int found = 0;
        for (size_t i = 0; i < run->nhdrs; i++) {
            if (!sv_header_is(&run->hdrs[i], names[n].s, names[n].len))
                continue;
            found = 1;
            if (!v)
                break;
            const char *val;
            size_t len;
            if (sv_header_value(run, i, &val, &len) != 0)
                return -1;
            add_value(run, v, val, len);
        }
        *all_exist &= found;
    }
    return 0;
}

/* The flags hasflag looks at: the named variables', or the internal variable's. */
static int flag_values(struct sv_run *run, const struct sv_test *t, struct values *v)
{
    const char *const *flags;
    size_t n;
    if (!t->names.n) {
        n = sv_flags_split(run->pool, run->flags, &flags);
        for (size_t i = 0; i < n; i++)
            add_value(run, v, flags[i], strlen(flags[i]));
        return 0;
    }
    struct sv_text *names;
    if (sv_expand_list(run, &t->names, &names) != 0)
        return -1;
    for (size_t k = 0; k < t->names.n; k++) {
        const struct sv_var *var = sv_var_get(run, mailaddr_lower(run->pool, names[k].s));
        n = sv_flags_split(run->pool, var ? var->value : "", &flags);
        for (size_t i = 0; i < n; i++)
            add_value(run, v, flags[i], strlen(flags[i]));
    }
    return 0;
}

static int eval_test(struct sv_run *run, const struct sv_test *t);

static int eval_hasflag(struct sv_run *run, const struct sv_test *t)
{
    struct values v = {0}, keys = {0};
    struct sv_text *raw;
    if (flag_values(run, t, &v) != 0 || sv_expand_list(run, &t->keys, &raw) != 0)
        return -1;
    /* Each key may hold several space-separated flags, as setflag's arguments do. */
    for (size_t i = 0; i < t->keys.n; i++) {
        const char *const *split;
        size_t n = sv_flags_split(run->pool, raw[i].s, &split);
        for (size_t k = 0; k < n; k++)
            add_value(run, &keys, split[k], strlen(split[k]));
    }
    return match_keys(run, t, &v, keys.t, keys.n);
}

static int eval_body(struct sv_run *run, const struct sv_test *t)
{
    struct sv_text *types = NULL;
    if (t->bt == SV_BT_CONTENT && sv_expand_list(run, &t->types, &types) != 0)
        return -1;
    struct values v = {0};
    if (sv_body_items(run, t->bt, types, t->types.n, &v.t, &v.n) != 0)
        return -1;
    v.cap = v.n;
    return match_values(run, t, &v);
}

static int eval_logic(struct sv_run *run, const struct sv_test *t)
{
    int want = t->kind == SV_TEST_ANYOF; /* the result that decides early */
    for (size_t i = 0; i < t->nsubs; i++) {
        int r = eval_test(run, t->subs[i]);
        if (r < 0)
            return -1;
        if (r == want)
            return want;
    }
    return !want;
}

static int eval_test(struct sv_run *run, const struct sv_test *t)
{
    if (sv_charge(run, 1) != 0)
        return -1;
    unsigned saved = run->line;
    run->line = t->line;
    struct values v = {0};
    int r = -1, all;
    switch (t->kind) {
    case SV_TEST_ADDRESS:
        r = address_values(run, t, &v) != 0 ? -1 : match_values(run, t, &v);
        break;
    case SV_TEST_ENVELOPE:
        r = envelope_values(run, t, &v) != 0 ? -1 : match_values(run, t, &v);
        break;
    case SV_TEST_HEADER:
        r = header_values(run, t, &v, &all) != 0 ? -1 : match_values(run, t, &v);
        break;
    case SV_TEST_EXISTS:
        r = header_values(run, t, NULL, &all) != 0 ? -1 : all;
        break;
    case SV_TEST_SIZE:
        r = t->over ? run->msg->len > t->limit : run->msg->len < t->limit;
        break;
    case SV_TEST_ALLOF:
    case SV_TEST_ANYOF:
        r = eval_logic(run, t);
        break;
    case SV_TEST_NOT:
        r = eval_test(run, t->subs[0]);
        r = r < 0 ? -1 : !r;
        break;
    case SV_TEST_TRUE:
    case SV_TEST_FALSE:
        r = t->kind == SV_TEST_TRUE;
        break;
    case SV_TEST_HASFLAG:
        r = eval_hasflag(run, t);
        break;
    case SV_TEST_BODY:
        r = eval_body(run, t);
        break;
    case SV_TEST_STRING:
        if (sv_expand_list(run, &t->names, &v.t) != 0)
            break;
        v.n = v.cap = t->names.n;
        r = match_values(run, t, &v);
        break;
    }
    run->line = saved;
    return r;
}

/* The canonical flags of an action: its :flags, or the internal variable's. */
static const char *action_flags(struct sv_run *run, const struct sv_cmd *c)
{
    if (!c->has_flags)
        return run->flags;
    struct sv_text *f;
    if (sv_expand_list(run, &c->flags, &f) != 0)
        return NULL;
    return sv_flags_canon(run, f, c->flags.n);
}

static int exec_flag(struct sv_run *run, const struct sv_cmd *c)
{
    struct sv_text *f;
    if (sv_expand_list(run, &c->flags, &f) != 0)
        return -1;
    const char *list = sv_flags_canon(run, f, c->flags.n);
    const struct sv_var *var = c->var ? sv_var_get(run, c->var) : NULL;
    const char *cur = c->var ? (var ? var->value : "") : run->flags;
    const char *next = !list                        ? NULL
                       : c->kind == SV_CMD_SETFLAG ? list
                       : c->kind == SV_CMD_ADDFLAG ? sv_flags_add(run, cur, list)
                                                   : sv_flags_remove(run, cur, list);
    if (!next)
        return -1;
    if (c->var)
        return sv_var_set(run, c->var, next, strlen(next));
    run->flags = next;
    return 0;
}

static int exec_vacation(struct sv_run *run, const struct sv_cmd *c)
{
    struct sv_vacation_args a = {.days = c->days, .has_days = c->has_days, .mime = c->mime};
    size_t len;
    struct sv_text *addresses;
    if (sv_expand(run, &c->arg, &a.reason, &len) != 0 ||
        (c->has_subject && sv_expand(run, &c->subject, &a.subject, &len) != 0) ||
        (c->has_from && sv_expand(run, &c->from, &a.from, &len) != 0) ||
        (c->has_handle && sv_expand(run, &c->handle, &a.handle, &len) != 0) ||
        sv_expand_list(run, &c->addresses, &addresses) != 0)
        return -1;
    a.addresses = addresses;
    a.naddresses = c->addresses.n;
    return sv_vacation(run, &a);
}

static int exec_block(struct sv_run *run, const struct sv_cmd *c);

/* 0 to go on, 1 after stop, -1 on error. */
static int exec_cmd(struct sv_run *run, const struct sv_cmd *c)
{
    if (sv_charge(run, 1) != 0)
        return -1;
    run->line = c->line;
    const char *s, *flags;
    size_t len;
    switch (c->kind) {
    case SV_CMD_IF: {
        int r = eval_test(run, c->test);
        run->line = c->line;
        if (r < 0)
            return -1;
        return r ? exec_block(run, c->then) : exec_block(run, c->otherwise);
    }
    case SV_CMD_STOP:
        return 1;
    case SV_CMD_KEEP:
        flags = action_flags(run, c);
        return flags ? sv_act_keep(run, flags) : -1;
    case SV_CMD_FILEINTO:
        if (sv_expand(run, &c->arg, &s, &len) != 0 || !(flags = action_flags(run, c)))
            return -1;
        if (!sv_mailbox_ok(s, len))
            return sv_fail(run, "fileinto: \"%s\" is not a valid mailbox name", s);
        return sv_act_fileinto(run, s, flags, c->copy);
    case SV_CMD_REDIRECT:
        if (sv_expand(run, &c->arg, &s, &len) != 0)
            return -1;
        if (!sv_redirect_ok(run->pool, s))
            return sv_fail(run, "redirect: \"%s\" is not a valid address", s);
        return sv_act_redirect(run, s, c->copy);
    case SV_CMD_DISCARD:
        return sv_act_discard(run);
    case SV_CMD_REJECT:
    case SV_CMD_EREJECT:
        if (sv_expand(run, &c->arg, &s, &len) != 0)
            return -1;
        return sv_act_reject(run, s, c->kind == SV_CMD_EREJECT);
    case SV_CMD_VACATION:
        return exec_vacation(run, c);
    case SV_CMD_SETFLAG:
    case SV_CMD_ADDFLAG:
    case SV_CMD_REMOVEFLAG:
        return exec_flag(run, c);
    case SV_CMD_SET: {
        if (sv_expand(run, &c->arg, &s, &len) != 0)
            return -1;
        const char *v = c->modifiers ? sv_modify(run, c->modifiers, s, len, &len) : s;
        return sv_var_set(run, c->var, v, len);
    }
    }
    return 0;
}

static int exec_block(struct sv_run *run, const struct sv_cmd *c)
{
    for (; c; c = c->next) {
        int r = exec_cmd(run, c);
        if (r != 0)
            return r;
    }
    return 0;
}

int sieve_run(const sieve_script_t *script, const struct sieve_message *msg,
              const struct sieve_envelope *env, pool_t *pool, struct sieve_result *out)
{
    static const struct sieve_envelope no_envelope = {"", "", NULL, 0};
    struct sv_run run;
    memset(&run, 0, sizeof(run));
    run.script = script;
    run.cfg = &script->cfg;
    run.pool = pool;
    run.msg = msg;
    run.env = env ? env : &no_envelope;
    run.flags = "";
    exec_block(&run, script->cmds);
    sv_body_release(&run);
    sv_act_finish(&run, out);
    return out->error ? -1 : 0;
}
