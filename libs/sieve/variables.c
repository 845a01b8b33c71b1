/* variables: RFC 5229. At parse time a string that references ${name} or ${N} is split
 * into parts once, so a run only concatenates; at run time the variable store (names
 * are case-insensitive, values cut to max_variable_size), expansion (cut to
 * max_string_size, charged to the work limit) and set's modifiers. A reference that is
 * not well-formed ("${", "${a b}") stays as written, as the RFC asks. */
#include "sieve/sieve_int.h"

#include "mailaddr/mailaddr.h"

#include <string.h>
#include <strings.h>

#define SV_VAR_NAME_MAX 128

static int alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int digit(char c)
{
    return c >= '0' && c <= '9';
}

int sv_var_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > SV_VAR_NAME_MAX || !alpha_(s[0]))
        return 0;
    for (size_t i = 1; i < len; i++)
        if (!alpha_(s[i]) && !digit(s[i]))
            return 0;
    return 1;
}

/* The reference starting at s[i] ("${"): its length, its kind and name, or 0 when it is
 * not one; a namespaced name ("${env.x}") is reported through *ns. */
static size_t scan_ref(const char *s, size_t len, size_t i, struct sv_part *part, int *ns)
{
    size_t j = i + 2, start = j;
    *ns = 0;
    if (j < len && digit(s[j])) {
        unsigned long long n = 0;
        while (j < len && digit(s[j])) {
            if (n < 1000000)
                n = n * 10 + (unsigned)(s[j] - '0');
            j++;
        }
        if (j >= len || s[j] != '}')
            return 0;
        part->kind = SV_PART_MATCH;
        part->index = n < SV_MATCH_VARS ? (unsigned)n : SV_MATCH_VARS;
        return j + 1 - i;
    }
    for (;;) {
        if (j >= len || !alpha_(s[j]))
            return 0;
        while (j < len && (alpha_(s[j]) || digit(s[j])))
            j++;
        if (j < len && s[j] == '.') {
            *ns = 1;
            j++;
            continue;
        }
        break;
    }
    if (j >= len || s[j] != '}')
        return 0;
    part->kind = SV_PART_VAR;
    part->text = s + start;
    part->len = j - start;
    return j + 1 - i;
}

int sv_str_compile(pool_t *pool, const struct sv_string *in, int variables,
                   struct sv_str *out, struct sieve_error *err)
{
    memset(out, 0, sizeof(*out));
    out->s = in->s;
    out->len = in->len;
    if (!variables || !memmem(in->s, in->len, "${", 2))
        return 0;
    size_t cap = 0, n = 0, lit = 0;
    struct sv_part *parts = NULL;
    const char *s = in->s;
    for (size_t i = 0; i <= in->len;) {
        struct sv_part ref = {0};
        int ns = 0;
        size_t rlen = 0;
        if (i + 1 < in->len && s[i] == '$' && s[i + 1] == '{')
            rlen = scan_ref(s, in->len, i, &ref, &ns);
        if (rlen == 0 && i < in->len) {
            i++;
            continue;
        }
        if (ns) {
            /* Column: the string's own plus the characters before the reference, right
             * for a one-line string, which is where such references are written. */
            unsigned col = in->column + 1;
            for (size_t k = 0; k < i; k++)
                col += ((unsigned char)s[k] & 0xc0) != 0x80;
            return sv_err(err, pool, in->line, col, "variable namespace in \"%.*s\" is not "
                          "supported", (int)rlen, s + i);
        }
        if (i > lit) {
            parts = sv_grow(pool, parts, n, &cap, sizeof(*parts));
            parts[n++] = (struct sv_part){SV_PART_TEXT, s + lit, i - lit, 0};
        }
        if (rlen == 0)
            break; /* the end of the string */
        if (ref.kind == SV_PART_VAR)
            ref.text = mailaddr_lower(pool, pool_strndup(pool, ref.text, ref.len));
        parts = sv_grow(pool, parts, n, &cap, sizeof(*parts));
        parts[n++] = ref;
        i += rlen;
        lit = i;
    }
    int refs = 0;
    for (size_t k = 0; k < n; k++)
        refs |= parts[k].kind != SV_PART_TEXT;
    if (refs) {
        out->parts = parts;
        out->nparts = n;
    }
    return 0;
}

const struct sv_var *sv_var_get(const struct sv_run *run, const char *name)
{
    for (size_t i = 0; i < run->nvars; i++)
        if (strcmp(run->vars[i].name, name) == 0)
            return &run->vars[i];
    return NULL;
}

int sv_var_set(struct sv_run *run, const char *name, const char *value, size_t len)
{
    len = sv_utf8_cut(value, len, run->cfg->max_variable_size);
    struct sv_var *v = (struct sv_var *)sv_var_get(run, name);
    if (!v) {
        if (run->nvars >= run->cfg->max_variables)
            return sv_fail(run, "too many variables (the limit is %u)",
                           run->cfg->max_variables);
        run->vars = sv_grow(run->pool, run->vars, run->nvars, &run->capvars, sizeof(*run->vars));
        v = &run->vars[run->nvars++];
        v->name = name;
    }
    v->value = pool_strndup(run->pool, value, len);
    v->len = len;
    return sv_charge(run, len);
}

static void part_value(const struct sv_run *run, const struct sv_part *p, const char **s,
                       size_t *len)
{
    *s = "";
    *len = 0;
    if (p->kind == SV_PART_TEXT) {
        *s = p->text;
        *len = p->len;
    } else if (p->kind == SV_PART_MATCH) {
        if (p->index < SV_MATCH_VARS && run->mv[p->index]) {
            *s = run->mv[p->index];
            *len = run->mvlen[p->index];
        }
    } else {
        const struct sv_var *v = sv_var_get(run, p->text);
        if (v) {
            *s = v->value;
            *len = v->len;
        }
    }
}

int sv_expand(struct sv_run *run, const struct sv_str *str, const char **out, size_t *len)
{
    if (!str->parts) {
        *out = str->s;
        *len = str->len;
        return 0;
    }
    size_t max = run->cfg->max_string_size, total = 0;
    for (size_t i = 0; i < str->nparts && total <= max; i++) {
        const char *s;
        size_t n;
        part_value(run, &str->parts[i], &s, &n);
        total += n;
    }
    if (total > max)
        total = max + 4; /* room to cut on a character boundary below */
    char *buf = pool_alloc(run->pool, total + 1);
    size_t w = 0;
    for (size_t i = 0; i < str->nparts && w < total; i++) {
        const char *s;
        size_t n;
        part_value(run, &str->parts[i], &s, &n);
        if (n > total - w)
            n = total - w;
        memcpy(buf + w, s, n);
        w += n;
    }
    w = sv_utf8_cut(buf, w, max);
    buf[w] = 0;
    *out = buf;
    *len = w;
    return sv_charge(run, w + str->nparts);
}

int sv_expand_list(struct sv_run *run, const struct sv_list *l, struct sv_text **out)
{
    *out = pool_alloc(run->pool, (l->n + 1) * sizeof(**out));
    for (size_t i = 0; i < l->n; i++)
        if (sv_expand(run, &l->items[i], &(*out)[i].s, &(*out)[i].len) != 0)
            return -1;
    return 0;
}

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static char ascii_upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
}

/* Case modifiers change ASCII letters only: the same letters i;ascii-casemap folds, so a
 * value set with :lower compares as a script author expects. */
const char *sv_modify(struct sv_run *run, unsigned mods, const char *value, size_t len,
                      size_t *outlen)
{
    char *v = pool_strndup(run->pool, value, len);
    for (size_t i = 0; i < len; i++) {
        if (mods & SV_MOD_LOWER)
            v[i] = ascii_lower(v[i]);
        else if (mods & SV_MOD_UPPER)
            v[i] = ascii_upper(v[i]);
    }
    if (len && (mods & SV_MOD_LOWERFIRST))
        v[0] = ascii_lower(v[0]);
    if (len && (mods & SV_MOD_UPPERFIRST))
        v[0] = ascii_upper(v[0]);
    if (mods & SV_MOD_QUOTEWILDCARD) {
        char *q = pool_alloc(run->pool, 2 * len + 1);
        size_t w = 0;
        for (size_t i = 0; i < len; i++) {
            if (v[i] == '*' || v[i] == '?' || v[i] == '\\')
                q[w++] = '\\';
            q[w++] = v[i];
        }
        q[w] = 0;
        v = q;
        len = w;
    }
    if (mods & SV_MOD_LENGTH) {
        size_t chars = 0;
        for (size_t i = 0; i < len; i += sv_utf8_step(v + i, v + len))
            chars++;
        v = pool_printf(run->pool, "%zu", chars);
        len = strlen(v);
    }
    *outlen = len;
    return v;
}
