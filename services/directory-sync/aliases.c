/* aliases: the aliases(5) parser behind aliases.h. Physical lines are joined into logical
 * lines in one scratch buffer, remembering where each physical line starts in it, so an
 * error on a continuation line names that line and not the one its entry began on. */
#include "aliases.h"
#include "mailaddr/mailaddr.h"
#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIASES_SHOW_MAX 60

struct aliases_parser {
    pool_t *pool;
    int fold;
    char *err;
    size_t errlen;
    struct aliases_entry *head, *tail;
    long n;
    /* the logical line being gathered */
    char *buf;
    size_t used;
    size_t *seg_at;   /* offset in buf where each of its physical lines starts */
    int *seg_line;    /* and that line's number */
    size_t nseg;
};

static int aliases_fail(struct aliases_parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int aliases_fail(struct aliases_parser *p, int line, const char *fmt, ...)
{
    int k = snprintf(p->err, p->errlen, "line %d: ", line);
    if (k >= 0 && (size_t)k < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A piece of the input fit for an error message: printable ASCII, bounded. */
static const char *aliases_show(pool_t *pool, const char *s, size_t n)
{
    size_t shown = n > ALIASES_SHOW_MAX ? ALIASES_SHOW_MAX : n;
    char *out = pool_alloc(pool, shown + 4);
    for (size_t i = 0; i < shown; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    strcpy(out + shown, n > shown ? "..." : "");
    return out;
}

/* The physical line that offset `at` of the logical line came from. */
static int aliases_line_of(const struct aliases_parser *p, size_t at)
{
    size_t i = 0;
    while (i + 1 < p->nseg && p->seg_at[i + 1] <= at)
        i++;
    return p->seg_line[i];
}

static void aliases_trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* The end of the text that starts at s and stops at the first `stop` outside double
 * quotes (a backslash inside quotes escapes the next octet), or at the NUL. */
static const char *aliases_scan(const char *s, char stop)
{
    int quoted = 0;
    for (; *s; s++) {
        if (quoted && *s == '\\' && s[1])
            s++;
        else if (*s == '"')
            quoted = !quoted;
        else if (!quoted && *s == stop)
            break;
    }
    return s;
}

static int aliases_entry(struct aliases_parser *p)
{
    const char *s = p->buf;
    int line = p->seg_line[0];
    const char *colon = aliases_scan(s, ':');
    if (!*colon)
        return aliases_fail(p, line, "missing ':' after the alias name");
    const char *name = s;
    size_t nlen = (size_t)(colon - s);
    aliases_trim(&name, &nlen);
    if (nlen == 0)
        return aliases_fail(p, line, "missing alias name before ':'");
    const char *raw = pool_strndup(p->pool, name, nlen);
    mailaddr_t a;
    if (mailaddr_parse(p->pool, raw, &a) != 0 || a.domain)
        return aliases_fail(p, line,
                            "'%s' is not an alias name (a local part without @domain, "
                            "quoted if it holds special characters)",
                            aliases_show(p->pool, name, nlen));
    struct aliases_entry *e = pool_zalloc(p->pool, sizeof(*e));
    e->line = line;
    e->name = mailaddr_local_full(p->pool, &a);
    if (p->fold)
        e->name = mailaddr_lower(p->pool, e->name);
    size_t cap = 4;
    e->targets = pool_alloc(p->pool, cap * sizeof(*e->targets));
    for (const char *v = colon + 1; *v;) {
        const char *end = aliases_scan(v, ',');
        const char *t = v;
        size_t tlen = (size_t)(end - v);
        aliases_trim(&t, &tlen);
        v = *end ? end + 1 : end;
        if (tlen == 0)
            continue; /* "a, , b" and a trailing comma */
        const char *text = pool_strndup(p->pool, t, tlen);
        struct rules_target rt;
        rules_classify(p->pool, text, &rt);
        if (rt.kind == RULES_FORBIDDEN || rt.kind == RULES_BAD)
            return aliases_fail(p, aliases_line_of(p, (size_t)(t - p->buf)), "'%s': %s",
                                aliases_show(p->pool, t, tlen), rt.why);
        if (e->ntargets == cap) {
            const char **more = pool_alloc(p->pool, 2 * cap * sizeof(*more));
            memcpy(more, e->targets, cap * sizeof(*more));
            e->targets = more;
            cap *= 2;
        }
        e->targets[e->ntargets++] = text;
    }
    if (e->ntargets == 0)
        return aliases_fail(p, line, "alias '%s' has no targets",
                            aliases_show(p->pool, e->name, strlen(e->name)));
    if (p->tail)
        p->tail->next = e;
    else
        p->head = e;
    p->tail = e;
    p->n++;
    return 0;
}

static int aliases_by_name(const void *a, const void *b)
{
    const struct aliases_entry *x = *(const struct aliases_entry *const *)a;
    const struct aliases_entry *y = *(const struct aliases_entry *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* newaliases keeps the first of two entries with one name and warns; an upload that
 * silently loses one is worse than one refused. Sorted, so a large file stays cheap. */
static int aliases_duplicates(struct aliases_parser *p)
{
    if (p->n < 2)
        return 0;
    struct aliases_entry **v = pool_alloc(p->pool, (size_t)p->n * sizeof(*v));
    size_t i = 0;
    for (struct aliases_entry *e = p->head; e; e = e->next)
        v[i++] = e;
    qsort(v, (size_t)p->n, sizeof(*v), aliases_by_name);
    struct aliases_entry *dup = NULL, *first = NULL;
    for (i = 1; i < (size_t)p->n; i++)
        if (strcmp(v[i - 1]->name, v[i]->name) == 0 && (!dup || v[i]->line < dup->line)) {
            dup = v[i];
            first = v[i - 1];
        }
    if (!dup)
        return 0;
    return aliases_fail(p, dup->line, "duplicate alias '%s' (first on line %d)",
                        aliases_show(p->pool, dup->name, strlen(dup->name)), first->line);
}

long aliases_parse(pool_t *pool, const char *text, size_t len, int fold,
                   struct aliases_entry **out, char *err, size_t errlen)
{
    struct aliases_parser p = {.pool = pool, .fold = fold, .err = err, .errlen = errlen};
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    p.buf = pool_alloc(pool, len + lines + 1);
    p.seg_at = pool_alloc(pool, lines * sizeof(*p.seg_at));
    p.seg_line = pool_alloc(pool, lines * sizeof(*p.seg_line));
    int lineno = 0;
    for (size_t at = 0; at < len;) {
        const char *s = text + at;
        const char *nl = memchr(s, '\n', len - at);
        size_t n = nl ? (size_t)(nl - s) : len - at;
        at += n + (nl ? 1 : 0);
        lineno++;
        if (n > 0 && s[n - 1] == '\r')
            n--;
        if (memchr(s, '\0', n))
            return aliases_fail(&p, lineno, "NUL byte");
        size_t lead = 0;
        while (lead < n && (s[lead] == ' ' || s[lead] == '\t'))
            lead++;
        if (lead == n || s[lead] == '#')
            continue; /* blank and comment lines, also amid continuations */
        if (lead == 0) {
            if (p.nseg > 0 && aliases_entry(&p) != 0)
                return -1;
            p.used = 0;
            p.nseg = 0;
        } else if (p.nseg == 0) {
            return aliases_fail(&p, lineno, "continuation line without an alias before it");
        } else {
            p.buf[p.used++] = ' ';
        }
        p.seg_at[p.nseg] = p.used;
        p.seg_line[p.nseg++] = lineno;
        memcpy(p.buf + p.used, s, n);
        p.used += n;
        p.buf[p.used] = 0;
    }
    if (p.nseg > 0 && aliases_entry(&p) != 0)
        return -1;
    if (aliases_duplicates(&p) != 0)
        return -1;
    *out = p.head;
    return p.n;
}
