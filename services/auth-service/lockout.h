/* lockout: brute-force bookkeeping for auth-service. Failed checks are counted per
 * (user name, client IP) and per client IP; past a threshold each further attempt waits a
 * doubling penalty, and past a second one the key is locked (429) for a cooling time.
 * Counters live in this process's memory: one replica sees only its own traffic, and a
 * restart forgets them. Pure logic on a caller-supplied clock (milliseconds), used on the
 * loop thread only, so it needs no lock. */
#ifndef AUTH_LOCKOUT_H
#define AUTH_LOCKOUT_H

#include <stddef.h>

struct lockout_settings {
    unsigned user_delay_after; /* failures per (user, IP) before penalties start */
    unsigned user_lock_after;  /* failures per (user, IP) that lock the pair */
    unsigned ip_delay_after;   /* the same per IP, whatever the user name */
    unsigned ip_lock_after;
    long penalty_ms;           /* the first penalty; doubles with each further failure */
    long penalty_max_ms;
    long lock_ms;              /* the cooling time of a lock */
    long forget_ms;            /* a counter without a failure for this long starts over */
    size_t max_entries;        /* beyond this the least recently failed key is dropped */
};

typedef struct lockout lockout_t;

struct lockout_verdict {
    int locked;          /* refuse (429) without checking */
    long delay_ms;       /* else: wait this long before checking */
    long retry_after_ms; /* when locked: time left of the cooling time */
};

/* The settings from MAILSTACK_AUTH_* (see the .c for names and defaults). */
void lockout_settings_load(struct lockout_settings *s);

lockout_t *lockout_new(const struct lockout_settings *s);
void lockout_free(lockout_t *lo);

/* Before a check. User names compare ASCII case-insensitively, as LDAP compares uids. */
struct lockout_verdict lockout_check(lockout_t *lo, const char *user, const char *ip,
                                     long now_ms);
/* After a check: a failure counts for (user, IP) and for the IP; a success forgets the
 * (user, IP) counter only, so one good account cannot wipe an IP's record. */
void lockout_failure(lockout_t *lo, const char *user, const char *ip, long now_ms);
void lockout_success(lockout_t *lo, const char *user, const char *ip, long now_ms);

/* Keys held now (for metrics and tests). */
size_t lockout_entries(const lockout_t *lo);

#endif
