/* flags: imap4flags (RFC 5232) flag lists. A list is kept in one canonical form - valid
 * IMAP flags only (the five system flags a client may set, spelt as RFC 3501 does, and
 * keywords that are IMAP atoms), one space between them, no duplicates ignoring case -
 * so setflag/addflag/removeflag, hasflag and :flags all see the same thing and what
 * reaches the store is always something IMAP can carry. Invalid flags are dropped, as
 * the RFC allows. */
#include "sieve/sieve_int.h"

#include <string.h>
#include <strings.h>

static const char *const system_flags[] = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted",
                                           "\\Draft", NULL};

/* The canonical spelling of flag, or NULL if it is not one a script may set. */
static const char *flag_canon(pool_t *pool, const char *s, size_t len)
{
    if (s[0] == '\\') {
        for (int i = 0; system_flags[i]; i++)
            if (strlen(system_flags[i]) == len && strncasecmp(system_flags[i], s, len) == 0)
                return system_flags[i];
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c))
            return NULL;
    }
    return pool_strndup(pool, s, len);
}

/* The next space-separated word of *p, or 0 at the end. */
static size_t next_word(const char **p, const char **word)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    const char *e = s;
    while (*e && *e != ' ' && *e != '\t' && *e != '\r' && *e != '\n')
        e++;
    *word = s;
    *p = e;
    return (size_t)(e - s);
}

static int in_list(const char *list, size_t listlen, const char *flag, size_t len)
{
    for (const char *p = list; p < list + listlen;) {
        const char *w;
        size_t n = next_word(&p, &w);
        if (n == 0)
            break;
        if (n == len && strncasecmp(w, flag, len) == 0)
            return 1;
    }
    return 0;
}

/* Appends the valid flags of src that are not in out already and not in del. The
 * duplicate checks are quadratic in a list's length, so they are charged: -1 when the
 * work limit ran out. */
static int append(struct sv_run *run, char *out, size_t *w, size_t max, const char *src,
                  const char *del)
{
    size_t dellen = del ? strlen(del) : 0;
    for (const char *p = src;;) {
        const char *word;
        size_t n = next_word(&p, &word);
        if (n == 0)
            return 0;
        if (sv_charge(run, n + *w + dellen) != 0)
            return -1;
        const char *f = flag_canon(run->pool, word, n);
        if (!f)
            continue;
        size_t fl = strlen(f);
        if (in_list(out, *w, f, fl) || (del && in_list(del, dellen, f, fl)))
            continue;
        if (*w + fl + 1 > max)
            return 0; /* the list is as long as a variable may be */
        if (*w)
            out[(*w)++] = ' ';
        memcpy(out + *w, f, fl);
        *w += fl;
        out[*w] = 0;
    }
}

static char *list_buffer(struct sv_run *run, size_t need, size_t *max)
{
    *max = need < run->cfg->max_variable_size ? need : run->cfg->max_variable_size;
    char *out = pool_alloc(run->pool, *max + 1);
    out[0] = 0;
    return out;
}

const char *sv_flags_canon(struct sv_run *run, const struct sv_text *strs, size_t n)
{
    size_t need = 1, max, w = 0;
    for (size_t i = 0; i < n; i++)
        need += strs[i].len + 1;
    char *out = list_buffer(run, need, &max);
    for (size_t i = 0; i < n; i++)
        if (append(run, out, &w, max, strs[i].s, NULL) != 0)
            return NULL;
    return out;
}

const char *sv_flags_add(struct sv_run *run, const char *set, const char *add)
{
    size_t max, w = 0;
    char *out = list_buffer(run, strlen(set) + strlen(add) + 2, &max);
    if (append(run, out, &w, max, set, NULL) != 0 || append(run, out, &w, max, add, NULL) != 0)
        return NULL;
    return out;
}

const char *sv_flags_remove(struct sv_run *run, const char *set, const char *del)
{
    size_t max, w = 0;
    char *out = list_buffer(run, strlen(set) + 1, &max);
    return append(run, out, &w, max, set, del) != 0 ? NULL : out;
}

size_t sv_flags_split(pool_t *pool, const char *set, const char *const **out)
{
    size_t n = 0;
    for (const char *p = set; *p; p++)
        n += *p == ' ';
    const char **arr = pool_alloc(pool, (n + 2) * sizeof(*arr));
    n = 0;
    for (const char *p = set;;) {
        const char *w;
        size_t len = next_word(&p, &w);
        if (len == 0)
            break;
        arr[n++] = pool_strndup(pool, w, len);
    }
    arr[n] = NULL;
    *out = arr;
    return n;
}
