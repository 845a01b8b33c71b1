/* match: the comparators i;octet and i;ascii-casemap (RFC 4790) and the match types :is,
 * :contains and :matches (RFC 5228 2.7). Linear where it can be: :contains is
 * Knuth-Morris-Pratt, :matches places each run of pattern between two '*' at its
 * leftmost possible position (which decides a glob exactly, without backtracking) and
 * the part after the last '*' at the end. '?' is one UTF-8 character. Every compared
 * octet is charged to the run's work limit, so no pattern can take unbounded time.
 * The pattern is parsed once per key (callers loop over keys outside, values inside).
 * The captures are RFC 5229's: ${0} the whole value, ${1}... each wildcard in order,
 * every '*' but the last as short as possible. */
#include "sieve/sieve_int.h"

#include <string.h>

static unsigned char fold(enum sv_cmp cmp, unsigned char c)
{
    return cmp == SV_CMP_CASEMAP && c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static int same(enum sv_cmp cmp, const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fold(cmp, (unsigned char)a[i]) != fold(cmp, (unsigned char)b[i]))
            return 0;
    return 1;
}

static int equal(enum sv_cmp cmp, const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && same(cmp, a, b, alen);
}

static int contains(struct sv_run *run, enum sv_cmp cmp, const char *v, size_t vlen,
                    const char *k, size_t klen)
{
    if (klen == 0)
        return 1;
    if (klen > vlen)
        return 0;
    if (sv_charge(run, vlen + klen) != 0)
        return -1;
    size_t small[256];
    size_t *fail = klen <= 256 ? small : pool_alloc(run->pool, klen * sizeof(*fail));
    fail[0] = 0;
    for (size_t i = 1, j = 0; i < klen; i++) {
        while (j && fold(cmp, (unsigned char)k[i]) != fold(cmp, (unsigned char)k[j]))
            j = fail[j - 1];
        if (fold(cmp, (unsigned char)k[i]) == fold(cmp, (unsigned char)k[j]))
            j++;
        fail[i] = j;
    }
    for (size_t i = 0, j = 0; i < vlen; i++) {
        while (j && fold(cmp, (unsigned char)v[i]) != fold(cmp, (unsigned char)k[j]))
            j = fail[j - 1];
        if (fold(cmp, (unsigned char)v[i]) == fold(cmp, (unsigned char)k[j]))
            j++;
        if (j == klen)
            return 1;
    }
    return 0;
}

/* A pattern item: literal octets (escapes removed), '?' or '*'. */
struct item {
    enum { IT_LIT, IT_ONE, IT_STAR } kind;
    const char *s;
    size_t len;
    unsigned wild; /* wildcard number, 1-based */
};

/* The items of pattern k. Literal items point into k, so nothing is copied. The last
 * pattern is kept: callers match one key against all the values before the next key. */
static size_t pattern(struct sv_run *run, const char *k, size_t klen, struct item **out)
{
    if (run->pat_key == k && run->pat_keylen == klen) {
        *out = run->pat_items;
        return run->pat_n;
    }
    struct item *it = pool_alloc(run->pool, (klen + 1) * sizeof(*it));
    size_t n = 0;
    unsigned wild = 0;
    for (size_t i = 0; i < klen; i++) {
        if (k[i] == '*' || k[i] == '?') {
            it[n++] = (struct item){k[i] == '*' ? IT_STAR : IT_ONE, NULL, 0, ++wild};
            continue;
        }
        if (k[i] == '\\' && i + 1 < klen)
            i++;
        if (n && it[n - 1].kind == IT_LIT && it[n - 1].s + it[n - 1].len == k + i)
            it[n - 1].len++;
        else
            it[n++] = (struct item){IT_LIT, k + i, 1, 0};
    }
    run->pat_key = k;
    run->pat_keylen = klen;
    run->pat_items = it;
    run->pat_n = n;
    *out = it;
    return n;
}

static void capture(struct sv_caps *caps, unsigned wild, const char *p, size_t len)
{
    if (caps && wild < SV_MATCH_VARS) {
        caps->p[wild] = p;
        caps->len[wild] = len;
    }
}

/* Items [a, b) (no star among them) against v from pos; the end through *end. */
static int seg_at(struct sv_run *run, enum sv_cmp cmp, const struct item *it, size_t a,
                  size_t b, const char *v, size_t vlen, size_t pos, size_t *end,
                  struct sv_caps *caps)
{
    for (size_t i = a; i < b; i++) {
        if (it[i].kind == IT_LIT) {
            run->steps += it[i].len; /* the octets compared, at most */
            if (vlen - pos < it[i].len || !same(cmp, v + pos, it[i].s, it[i].len))
                return 0;
            pos += it[i].len;
        } else {
            if (pos >= vlen)
                return 0;
            size_t n = sv_utf8_step(v + pos, v + vlen);
            capture(caps, it[i].wild, v + pos, n);
            pos += n;
            run->steps++;
        }
    }
    *end = pos;
    return 1;
}

/* Items [a, b) ending exactly at vlen, not starting before pos: walks backwards, so the
 * characters '?' takes are the last ones. The start through *start. */
static int seg_tail(struct sv_run *run, enum sv_cmp cmp, const struct item *it, size_t a,
                    size_t b, const char *v, size_t vlen, size_t pos, size_t *start,
                    struct sv_caps *caps)
{
    size_t cur = vlen;
    for (size_t i = b; i-- > a;) {
        if (it[i].kind == IT_LIT) {
            run->steps += it[i].len;
            if (cur - pos < it[i].len || !same(cmp, v + cur - it[i].len, it[i].s, it[i].len))
                return 0;
            cur -= it[i].len;
        } else {
            if (cur <= pos)
                return 0;
            size_t c = cur - 1;
            while (c > pos && cur - c < 4 && ((unsigned char)v[c] & 0xc0) == 0x80)
                c--;
            if (sv_utf8_step(v + c, v + cur) != cur - c)
                c = cur - 1; /* not one well-formed character: one octet */
            capture(caps, it[i].wild, v + c, cur - c);
            cur = c;
            run->steps++;
        }
    }
    *start = cur;
    return 1;
}

static int glob(struct sv_run *run, enum sv_cmp cmp, const char *v, size_t vlen,
                const char *k, size_t klen, struct sv_caps *caps)
{
    struct item *it;
    size_t n = pattern(run, k, klen, &it);
    size_t first_star = n, last_star = n;
    for (size_t i = 0; i < n; i++)
        if (it[i].kind == IT_STAR) {
            if (first_star == n)
                first_star = i;
            last_star = i;
        }
    size_t pos, end;
    if (first_star == n) {
        int ok = seg_at(run, cmp, it, 0, n, v, vlen, 0, &end, caps) && end == vlen;
        return sv_charge(run, 0) != 0 ? -1 : ok;
    }
    if (!seg_at(run, cmp, it, 0, first_star, v, vlen, 0, &pos, caps))
        return sv_charge(run, 0) != 0 ? -1 : 0;
    size_t star = first_star;
    while (star != last_star) {
        size_t next = star + 1;
        while (it[next].kind != IT_STAR)
            next++;
        /* Leftmost place for the items between this star and the next. */
        size_t s = pos;
        for (;;) {
            if (seg_at(run, cmp, it, star + 1, next, v, vlen, s, &end, caps))
                break;
            if (s >= vlen || sv_charge(run, 1) != 0)
                return run->error ? -1 : 0;
            s += sv_utf8_step(v + s, v + vlen);
        }
        capture(caps, it[star].wild, v + pos, s - pos);
        pos = end;
        star = next;
    }
    size_t start;
    if (!seg_tail(run, cmp, it, last_star + 1, n, v, vlen, pos, &start, caps))
        return sv_charge(run, 0) != 0 ? -1 : 0;
    capture(caps, it[last_star].wild, v + pos, start - pos);
    return sv_charge(run, 0) != 0 ? -1 : 1;
}

int sv_match(struct sv_run *run, enum sv_cmp cmp, enum sv_mt mt, const char *v, size_t vlen,
             const char *k, size_t klen, struct sv_caps *caps)
{
    switch (mt) {
    case SV_MT_IS:
        if (sv_charge(run, vlen < klen ? vlen + 1 : klen + 1) != 0)
            return -1;
        return equal(cmp, v, vlen, k, klen);
    case SV_MT_CONTAINS:
        return contains(run, cmp, v, vlen, k, klen);
    case SV_MT_MATCHES: {
        struct sv_caps local;
        struct sv_caps *c = caps ? &local : NULL;
        if (c)
            memset(c, 0, sizeof(*c));
        int r = glob(run, cmp, v, vlen, k, klen, c);
        if (r == 1 && caps) {
            *caps = local;
            caps->p[0] = v;
            caps->len[0] = vlen;
        }
        return r;
    }
    }
    return 0;
}
