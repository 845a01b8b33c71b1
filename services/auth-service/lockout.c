/* lockout: the counters behind lockout.h, in a keytable ("U" ip NUL user for a pair, "I"
 * ip for an address) ordered by last failure, so that when it is full the key that failed
 * longest ago goes first. Expired keys are dropped when next looked at. */
#include "lockout.h"
#include "config/config.h"
#include "keytable.h"

#include <stdlib.h>
#include <string.h>

struct lockout_count {
    unsigned failures;
    long last_ms;
    long locked_until_ms; /* 0: not locked */
};

struct lockout {
    struct lockout_settings s;
    keytable_t *keys;
};

static long lockout_setting(const char *name, long def)
{
    long v = config_long(name, def);
    return v < 0 ? def : v;
}

/* A limit of 0 turns that step off. */
void lockout_settings_load(struct lockout_settings *s)
{
    s->user_delay_after = (unsigned)lockout_setting("MAILSTACK_AUTH_USER_DELAY_AFTER", 5);
    s->user_lock_after = (unsigned)lockout_setting("MAILSTACK_AUTH_USER_LOCK_AFTER", 10);
    s->ip_delay_after = (unsigned)lockout_setting("MAILSTACK_AUTH_IP_DELAY_AFTER", 50);
    s->ip_lock_after = (unsigned)lockout_setting("MAILSTACK_AUTH_IP_LOCK_AFTER", 200);
    s->penalty_ms = lockout_setting("MAILSTACK_AUTH_PENALTY_MS", 500);
    s->penalty_max_ms = lockout_setting("MAILSTACK_AUTH_PENALTY_MAX_MS", 4000);
    s->lock_ms = lockout_setting("MAILSTACK_AUTH_LOCK_MS", 300000);
    s->forget_ms = lockout_setting("MAILSTACK_AUTH_FORGET_MS", 900000);
    s->max_entries = (size_t)lockout_setting("MAILSTACK_AUTH_LOCKOUT_MAX_ENTRIES", 100000);
}

lockout_t *lockout_new(const struct lockout_settings *s)
{
    lockout_t *lo = calloc(1, sizeof(*lo));
    if (!lo)
        return NULL;
    lo->s = *s;
    /* a pair and its IP are counted together: room for both at least */
    lo->keys = keytable_new(sizeof(struct lockout_count), s->max_entries < 2 ? 2 : s->max_entries,
                            NULL);
    if (!lo->keys) {
        free(lo);
        return NULL;
    }
    return lo;
}

void lockout_free(lockout_t *lo)
{
    if (!lo)
        return;
    keytable_free(lo->keys);
    free(lo);
}

size_t lockout_entries(const lockout_t *lo)
{
    return keytable_count(lo->keys);
}

/* The key of a pair (user != NULL, lower-cased) or of an IP, in buf (freed by caller). */
static char *lockout_key(const char *user, const char *ip, size_t *len)
{
    size_t iplen = strlen(ip), ulen = user ? strlen(user) : 0;
    *len = 1 + iplen + (user ? 1 + ulen : 0);
    char *k = malloc(*len);
    if (!k)
        abort(); /* as pool does: a server that cannot get a few bytes is done */
    k[0] = user ? 'U' : 'I';
    memcpy(k + 1, ip, iplen);
    if (user) {
        k[1 + iplen] = 0;
        for (size_t i = 0; i < ulen; i++) {
            char c = user[i];
            k[2 + iplen + i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
    }
    return k;
}

/* A key whose lock has cooled down, or that has not failed for forget_ms, starts over. */
static int lockout_expired(const lockout_t *lo, const struct lockout_count *e, long now)
{
    if (e->locked_until_ms)
        return now >= e->locked_until_ms;
    return now - e->last_ms >= lo->s.forget_ms;
}

/* The live count of a pair (user != NULL) or an IP; with `create`, made when absent. */
static struct lockout_count *lockout_get(lockout_t *lo, const char *user, const char *ip,
                                         long now, int create)
{
    size_t len;
    char *key = lockout_key(user, ip, &len);
    struct lockout_count *e = keytable_get(lo->keys, key, len);
    if (e && lockout_expired(lo, e, now)) {
        keytable_remove(lo->keys, e);
        e = NULL;
    }
    if (create)
        e = keytable_put(lo->keys, key, len);
    free(key);
    return e;
}

static long lockout_penalty(const lockout_t *lo, const struct lockout_count *e, unsigned after)
{
    if (!e || !after || e->failures < after)
        return 0;
    unsigned steps = e->failures - after;
    long p = lo->s.penalty_ms;
    while (steps-- && p < lo->s.penalty_max_ms)
        p *= 2;
    return p < lo->s.penalty_max_ms ? p : lo->s.penalty_max_ms;
}

struct lockout_verdict lockout_check(lockout_t *lo, const char *user, const char *ip,
                                     long now_ms)
{
    struct lockout_verdict v = {0, 0, 0};
    struct lockout_count *pair = lockout_get(lo, user, ip, now_ms, 0);
    struct lockout_count *addr = lockout_get(lo, NULL, ip, now_ms, 0);
    struct lockout_count *both[2] = {pair, addr};
    for (int i = 0; i < 2; i++) {
        if (both[i] && both[i]->locked_until_ms) {
            v.locked = 1;
            long left = both[i]->locked_until_ms - now_ms;
            if (left > v.retry_after_ms)
                v.retry_after_ms = left;
        }
    }
    if (v.locked)
        return v;
    long a = lockout_penalty(lo, pair, lo->s.user_delay_after);
    long b = lockout_penalty(lo, addr, lo->s.ip_delay_after);
    v.delay_ms = a > b ? a : b;
    return v;
}

static void lockout_count(lockout_t *lo, const char *user, const char *ip, unsigned lock_after,
                          long now)
{
    struct lockout_count *e = lockout_get(lo, user, ip, now, 1);
    e->failures++;
    e->last_ms = now;
    if (lock_after && e->failures >= lock_after && !e->locked_until_ms)
        e->locked_until_ms = now + (lo->s.lock_ms > 0 ? lo->s.lock_ms : 1);
}

void lockout_failure(lockout_t *lo, const char *user, const char *ip, long now_ms)
{
    lockout_count(lo, user, ip, lo->s.user_lock_after, now_ms);
    lockout_count(lo, NULL, ip, lo->s.ip_lock_after, now_ms);
}

void lockout_success(lockout_t *lo, const char *user, const char *ip, long now_ms)
{
    struct lockout_count *e = lockout_get(lo, user, ip, now_ms, 0);
    if (e)
        keytable_remove(lo->keys, e);
}
