/* mirror_sync: the syncrepl threads behind mirror_sync.h.
 *
 * A session's thread owns its LDAP connection and its PostgreSQL connection (db_conn is
 * per thread). Other threads only ever shutdown(2) the session's socket, under the lock,
 * to make the blocking ldap_sync_init / ldap_sync_poll return: that is how stop and a
 * forced refresh interrupt it, and how a callback that failed to write ends the session
 * (ldap_sync_init does not stop on a callback's error).
 *
 * Cookies: during the refresh stage nothing is saved. A present phase only says at its end
 * which rows are gone, so a cookie saved before that would let a crash skip those
 * deletions; the cookie and the removal of the unseen rows commit in one statement at
 * refreshDone. In the persist stage every change commits with the cookie it carries. */
#include "mirror_sync.h"
#include "config/config.h"
#include "control/control.h"
#include "db/db.h"
#include "ldapconn/ldapconn.h"
#include "log/log.h"
#include "mirror_entry.h"
#include "mirror_scope.h"
#include "mirror_store.h"
#include "pool/pool.h"

#include <errno.h>
#include <ldap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

enum session_state { STATE_STARTING, STATE_REFRESHING, STATE_LIVE, STATE_DOWN };
static const char *const state_names[] = {"starting", "refreshing", "live", "down"};

/* How a session ended. */
enum run_end {
    RUN_STOPPED,          /* the service is stopping */
    RUN_FORCED,           /* a forced refresh interrupted it: start over in full at once */
    RUN_FULL_NEEDED,      /* the cookie was refused (or refresh required): full refresh now */
    RUN_FAILED,           /* LDAP unreachable or refusing, or PostgreSQL down: back off */
};

struct session {
    const char *root, *root_key;
    char *cookie_key, *config_key;
    pthread_t thread;
    int started;

    /* Under sync.lock: read by the loop thread. */
    int fd;                   /* the LDAP socket while a session runs, else -1 */
    enum session_state state;
    int loaded;               /* a complete refresh exists (now or saved before a restart) */
    int db_down, ldap_down, resumed;
    char error[256];
    long refreshes, changes, reconnects;
    double last_refresh_seconds;
    unsigned long serving;    /* the forced-refresh ticket this session's run answers */
    unsigned long done_ticket, failed_ticket;

    /* The session thread's own. */
    ldap_sync_t ls;
    char *cookie;             /* malloc'ed: the cookie PostgreSQL holds for this root */
    pool_t *run_pool;         /* one LDAP session: the seen set */
    char **seen;
    size_t nseen, capseen;
    int in_refresh, present_phase, full, reached_live;
    PGconn *tuned_db;         /* the connection session_db last set up, and its backend */
    int tuned_pid;
    const char *write_error;  /* set when a write failed: the session is being ended */
    int write_db_down;
    long refresh_entries;
    double refresh_t0;
};

struct waiter {
    void (*done)(void *arg, int ok);
    void *arg;
    unsigned long ticket;
    struct waiter *next;
};

static struct {
    mirror_scope_t *scope;
    struct event *notify;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    struct session *sessions;
    int nsessions;
    struct mirror_counts counts; /* under lock */
    unsigned long force_requested; /* under lock */
    struct waiter *waiters;        /* loop thread only */
    char **attrs;
    pool_t *pool;
    long retry_min_ms, retry_max_ms;
} sync;

static double sync_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sync_lock(void)
{
    pthread_mutex_lock(&sync.lock);
}

static void sync_unlock(void)
{
    pthread_mutex_unlock(&sync.lock);
}

/* The loop thread looks at the new state (answers refresh waiters). */
static void sync_poke(void)
{
    event_active(sync.notify, EV_READ, 0);
}

static void sync_add_counts(const struct mirror_counts *d)
{
    sync_lock();
    sync.counts.accounts += d->accounts;
    sync.counts.addresses += d->addresses;
    sync.counts.groups += d->groups;
    sync.counts.deleted += d->deleted;
    metrics_set("directory_mirror_entries", (double)sync.counts.accounts);
    sync_unlock();
}

/* This thread's PostgreSQL connection, committing asynchronously. A crash may then lose
 * the last changes, but WAL keeps commit order and each change carries its cookie, so what
 * is lost is a suffix of changes together with the cookie covering them: the next session
 * resumes from the older cookie and gets them again. Waiting for each commit's flush would
 * cost a disk sync per entry, in a full refresh thousands of them. */
static PGconn *session_db(struct session *s)
{
    PGconn *db = db_conn();
    if (!db || (db == s->tuned_db && PQbackendPID(db) == s->tuned_pid))
        return db;
    PGresult *r = db_exec(db, "mirror.async_commit", "SET synchronous_commit TO off", 0, NULL);
    if (!r)
        return NULL;
    PQclear(r);
    s->tuned_db = db;
    s->tuned_pid = PQbackendPID(db);
    return db;
}

/* Ends the running LDAP session from its own thread: a write failed, so the change must
 * come again, from the saved cookie, once PostgreSQL takes writes. */
static void session_fail_write(struct session *s, const char *why, int db_down)
{
    s->write_error = why;
    s->write_db_down = db_down;
    sync_lock();
    if (s->fd >= 0)
        shutdown(s->fd, SHUT_RDWR);
    sync_unlock();
}

static void session_seen_add(struct session *s, const char *uuid)
{
    if (s->nseen == s->capseen) {
        size_t cap = s->capseen ? s->capseen * 2 : 1024;
        char **grown = pool_alloc(s->run_pool, sizeof(char *) * cap);
        if (s->nseen)
            memcpy(grown, s->seen, sizeof(char *) * s->nseen);
        s->seen = grown;
        s->capseen = cap;
    }
    s->seen[s->nseen++] = pool_strdup(s->run_pool, uuid);
}

/* The seen set as a text[] literal; entryUUIDs need no quoting. */
static char *session_seen_literal(struct session *s)
{
    size_t len = 3;
    for (size_t i = 0; i < s->nseen; i++)
        len += strlen(s->seen[i]) + 1;
    char *out = pool_alloc(s->run_pool, len), *w = out;
    *w++ = '{';
    for (size_t i = 0; i < s->nseen; i++) {
        size_t n = strlen(s->seen[i]);
        if (i)
            *w++ = ',';
        memcpy(w, s->seen[i], n);
        w += n;
    }
    *w++ = '}';
    *w = 0;
    return out;
}

/* The cookie to commit with a persist-stage change: the one libldap holds now, when it is
 * new. */
static struct mirror_cookie session_new_cookie(struct session *s)
{
    struct mirror_cookie none = {NULL, NULL};
    const struct berval *c = &s->ls.ls_cookie;
    if (s->in_refresh || !c->bv_val || strlen(c->bv_val) != c->bv_len ||
        (s->cookie && strcmp(s->cookie, c->bv_val) == 0))
        return none;
    return (struct mirror_cookie){s->cookie_key, c->bv_val};
}

static void session_cookie_saved(struct session *s, struct mirror_cookie c)
{
    if (!c.value)
        return;
    free(s->cookie);
    s->cookie = strdup(c.value);
}

/* Writes one change together with the cookie that came with it: a record, or (rec NULL)
 * the removal of the entries in `uuids` (accounts are only soft-deleted). A record
 * PostgreSQL refuses (a uid another entry already has) is logged and skipped: its old row
 * stays as it was, since the entry may be a typo.
 * Any other failure ends the session. */
static int session_write(struct session *s, pool_t *pool, const struct mirror_record *rec,
                         const char *uuids)
{
    PGconn *db = session_db(s);
    if (!db) {
        session_fail_write(s, "postgresql unreachable", 1);
        return LDAP_OTHER;
    }
    struct mirror_counts delta = {0, 0, 0, 0};
    struct mirror_cookie c = session_new_cookie(s);
    int r = rec ? mirror_store_record(db, pool, rec, c, &delta)
                : mirror_store_remove(db, uuids, c, &delta);
    if (r == MIRROR_REJECTED && rec) {
        log_emit(LOG_ERROR, "mirror.entry_rejected", "dn", rec->dn, "uuid", rec->uuid, "uid",
                 rec->uid, NULL);
        metrics_add("directory_mirror_rejected_total", 1);
        return LDAP_SUCCESS;
    }
    if (r != MIRROR_STORED) {
        session_fail_write(s, r == MIRROR_DB_DOWN ? "postgresql unreachable"
                                                  : "writing the mirror failed",
                           r == MIRROR_DB_DOWN);
        return LDAP_OTHER;
    }
    session_cookie_saved(s, c);
    sync_add_counts(&delta);
    return LDAP_SUCCESS;
}

/* An added or modified entry: its row(s) now. */
static int session_apply(struct session *s, pool_t *pool, LDAPMessage *msg, const char *uuid,
                         const char *op)
{
    struct mirror_record rec;
    mirror_entry_read(pool, sync.scope, s->ls.ls_ld, msg, uuid, &rec);
    if (log_enabled(LOG_DEBUG))
        log_emit(LOG_DEBUG, "mirror.change", "op", op, "dn", rec.dn, "uuid", uuid, "kind",
                 rec.kind == MIRROR_ACCOUNT ? "account"
                 : rec.kind == MIRROR_GROUP ? "group"
                                            : "none",
                 "skipped", rec.why, NULL);
    return session_write(s, pool, &rec, NULL);
}

static int session_entry(ldap_sync_t *ls, LDAPMessage *msg, struct berval *raw_uuid,
                         ldap_sync_refresh_t phase)
{
    struct session *s = ls->ls_private;
    if (s->write_error)
        return LDAP_OTHER;
    /* libldap hands callbacks the head of what ldap_result returned; more than one
     * message there would hide the others, so resume from the cookie instead. */
    if (ldap_count_messages(ls->ls_ld, msg) != 1) {
        log_emit(LOG_ERROR, "mirror.sync_batch", "root", s->root, NULL);
        session_fail_write(s, "several sync messages at once", 0);
        return LDAP_OTHER;
    }
    pool_t *pool = pool_create(0);
    const char *uuid = mirror_uuid_text(pool, raw_uuid);
    int rc = LDAP_SUCCESS;
    if (!uuid) {
        log_emit(LOG_WARN, "mirror.bad_sync_uuid", "root", s->root, NULL);
    } else {
        if (s->in_refresh && phase != LDAP_SYNC_CAPI_DELETE)
            session_seen_add(s, uuid);
        switch (phase) {
        case LDAP_SYNC_CAPI_PRESENT:
            s->present_phase = 1;
            break;
        case LDAP_SYNC_CAPI_ADD:
            rc = session_apply(s, pool, msg, uuid, "add");
            metrics_add("directory_mirror_changes_total{op=\"add\"}", 1);
            break;
        case LDAP_SYNC_CAPI_MODIFY:
            rc = session_apply(s, pool, msg, uuid, "modify");
            metrics_add("directory_mirror_changes_total{op=\"modify\"}", 1);
            break;
        case LDAP_SYNC_CAPI_DELETE:
            rc = session_write(s, pool, NULL, pool_printf(pool, "{%s}", uuid));
            metrics_add("directory_mirror_changes_total{op=\"delete\"}", 1);
            break;
        default:
            break;
        }
        if (phase != LDAP_SYNC_CAPI_PRESENT) {
            if (s->in_refresh)
                s->refresh_entries++;
            sync_lock();
            s->changes++;
            sync_unlock();
        }
    }
    pool_destroy(pool);
    return rc;
}

/* 1 when a Sync Info message is refreshPresent (libldap reports refreshDone without
 * saying which phase ended). */
static int session_is_present_info(LDAP *ld, LDAPMessage *msg)
{
    char *oid = NULL;
    struct berval *data = NULL;
    int present = 0;
    if (ldap_parse_intermediate(ld, msg, &oid, &data, NULL, 0) == LDAP_SUCCESS && data) {
        BerElement *ber = ber_init(data);
        ber_len_t len;
        if (ber) {
            present = ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_REFRESH_PRESENT;
            ber_free(ber, 1);
        }
    }
    ldap_memfree(oid);
    if (data)
        ber_bvfree(data);
    return present;
}

/* refreshDone: removes what the present phase did not report, saves the cookie and the
 * scope fingerprint (one statement), recounts, and the session is live. */
static int session_refresh_done(struct session *s)
{
    PGconn *db = session_db(s);
    long removed = 0;
    const struct berval *c = &s->ls.ls_cookie;
    const char *cookie = c->bv_val && strlen(c->bv_val) == c->bv_len ? c->bv_val : NULL;
    /* Without a cookie the server's answer is the whole content whatever phase it ends
     * with (slapd ends a cookie-less refresh with refreshDelete): the rest is gone. */
    int remove_unseen = s->full || s->present_phase;
    int r = db ? mirror_store_finish_refresh(
                     db, remove_unseen ? session_seen_literal(s) : NULL, s->root_key,
                     mirror_scope_roots_array(sync.scope),
                     (struct mirror_cookie){s->cookie_key, cookie},
                     (struct mirror_cookie){s->config_key, mirror_scope_fingerprint(sync.scope)},
                     &removed)
               : MIRROR_DB_DOWN;
    struct mirror_counts counts;
    if (r != MIRROR_STORED || mirror_store_count(db, &counts) != 0) {
        int down = !db || PQstatus(db) != CONNECTION_OK;
        session_fail_write(s, down ? "postgresql unreachable" : "writing the mirror failed",
                           down);
        return LDAP_OTHER;
    }
    free(s->cookie);
    s->cookie = cookie ? strdup(cookie) : NULL;
    s->in_refresh = 0;
    s->reached_live = 1;
    double seconds = sync_now() - s->refresh_t0;
    sync_lock();
    sync.counts = counts;
    s->state = STATE_LIVE;
    s->loaded = 1;
    s->ldap_down = s->db_down = 0;
    s->error[0] = 0;
    s->refreshes++;
    s->last_refresh_seconds = seconds;
    s->done_ticket = s->serving;
    sync_unlock();
    sync_poke();
    char entries[32], gone[32], secs[32], total[32];
    snprintf(entries, sizeof(entries), "%ld", s->refresh_entries);
    snprintf(gone, sizeof(gone), "%ld", removed);
    snprintf(secs, sizeof(secs), "%.3f", seconds);
    snprintf(total, sizeof(total), "%ld", counts.accounts);
    log_emit(LOG_INFO, "mirror.refreshed", "root", s->root, "mode",
             s->full ? "full" : "incremental", "phase", remove_unseen ? "present" : "delete",
             "entries", entries, "removed", gone, "accounts", total, "seconds", secs, NULL);
    metrics_add(s->full ? "directory_mirror_refreshes_total{mode=\"full\"}"
                        : "directory_mirror_refreshes_total{mode=\"incremental\"}",
                1);
    metrics_set("directory_mirror_entries", (double)counts.accounts);
    return LDAP_SUCCESS;
}

static int session_intermediate(ldap_sync_t *ls, LDAPMessage *msg, BerVarray uuids,
                                ldap_sync_refresh_t phase)
{
    struct session *s = ls->ls_private;
    if (s->write_error)
        return LDAP_OTHER;
    if (phase == LDAP_SYNC_CAPI_PRESENTS_IDSET || phase == LDAP_SYNC_CAPI_DELETES_IDSET) {
        pool_t *pool = pool_create(0);
        char *arr = NULL;
        for (int i = 0; uuids && uuids[i].bv_val; i++) {
            const char *uuid = mirror_uuid_text(pool, &uuids[i]);
            if (!uuid)
                continue;
            if (phase == LDAP_SYNC_CAPI_PRESENTS_IDSET) {
                if (s->in_refresh)
                    session_seen_add(s, uuid);
            } else {
                arr = arr ? pool_printf(pool, "%s,%s", arr, uuid) : pool_strdup(pool, uuid);
            }
        }
        int rc = LDAP_SUCCESS;
        if (phase == LDAP_SYNC_CAPI_PRESENTS_IDSET)
            s->present_phase = 1;
        else if (arr)
            rc = session_write(s, pool, NULL, pool_printf(pool, "{%s}", arr));
        pool_destroy(pool);
        return rc;
    }
    if (session_is_present_info(ls->ls_ld, msg))
        s->present_phase = 1;
    return phase == LDAP_SYNC_CAPI_DONE && s->in_refresh ? session_refresh_done(s)
                                                          : LDAP_SUCCESS;
}

/* A session interrupted for a forced refresh has been asked for a newer ticket. */
static int session_forced(struct session *s)
{
    sync_lock();
    int forced = sync.force_requested > s->serving;
    sync_unlock();
    return forced;
}

static void session_set_keepalive(LDAP *ld)
{
    /* A provider host that vanishes without closing the connection is noticed in ~25 s
     * rather than never. */
    int idle = 10, probes = 3, interval = 5;
    ldap_set_option(ld, LDAP_OPT_X_KEEPALIVE_IDLE, &idle);
    ldap_set_option(ld, LDAP_OPT_X_KEEPALIVE_PROBES, &probes);
    ldap_set_option(ld, LDAP_OPT_X_KEEPALIVE_INTERVAL, &interval);
}

/* One LDAP session: connect, refresh, then follow changes until something ends it. */
static enum run_end session_run(struct session *s, char *error, size_t errlen)
{
    int rc;
    s->reached_live = 0;
    /* No point following LDAP while nothing can be written. */
    if (!session_db(s)) {
        snprintf(error, errlen, "postgresql unreachable");
        sync_lock();
        s->db_down = 1;
        sync_unlock();
        return RUN_FAILED;
    }
    sync_lock();
    s->db_down = 0;
    sync_unlock();
    LDAP *ld = ldapconn_open(config_str("MAILSTACK_LDAP_URI", "ldap://127.0.0.1:389/"),
                             config_str("MAILSTACK_LDAP_BIND_DN", NULL),
                             config_str("MAILSTACK_LDAP_BIND_PASSWORD", NULL),
                             (int)config_long("MAILSTACK_LDAP_TIMEOUT_MS", 5000), &rc, error,
                             errlen);
    if (!ld) {
        sync_lock();
        s->ldap_down = ldapconn_is_down(rc);
        sync_unlock();
        return RUN_FAILED;
    }
    session_set_keepalive(ld);
    int fd = -1;
    ldap_get_option(ld, LDAP_OPT_DESC, &fd);
    sync_lock();
    s->fd = fd;
    if (sync.stopping || sync.force_requested > s->serving)
        shutdown(fd, SHUT_RDWR);
    s->state = STATE_REFRESHING;
    s->resumed = !s->full;
    sync_unlock();

    s->run_pool = pool_create(64 * 1024);
    s->seen = NULL;
    s->nseen = s->capseen = 0;
    s->in_refresh = 1;
    s->present_phase = s->write_db_down = 0;
    s->write_error = NULL;
    s->refresh_entries = 0;
    s->refresh_t0 = sync_now();
    ldap_sync_initialize(&s->ls);
    s->ls.ls_base = (char *)s->root;
    s->ls.ls_scope = LDAP_SCOPE_SUBTREE;
    s->ls.ls_filter = (char *)mirror_scope_filter(sync.scope);
    s->ls.ls_attrs = sync.attrs;
    s->ls.ls_search_entry = session_entry;
    s->ls.ls_intermediate = session_intermediate;
    s->ls.ls_private = s;
    s->ls.ls_ld = ld;
    if (!s->full)
        ber_str2bv(s->cookie, 0, 1, &s->ls.ls_cookie);
    log_emit(LOG_INFO, "mirror.sync_started", "root", s->root, "mode",
             s->full ? "full" : "resume", NULL);

    rc = ldap_sync_init(&s->ls, LDAP_SYNC_REFRESH_AND_PERSIST);
    while (rc == LDAP_SUCCESS && !s->write_error) {
        rc = ldap_sync_poll(&s->ls);
        /* A cookie that came alone (a Sync Info newcookie) is saved alone. */
        struct mirror_cookie c = session_new_cookie(s);
        if (c.value && rc >= 0 && !s->write_error) {
            PGconn *db = session_db(s);
            if (!db || mirror_store_cookie(db, c) != MIRROR_STORED)
                session_fail_write(s, "postgresql unreachable", 1);
            else
                session_cookie_saved(s, c);
        }
    }
    int was_live = s->reached_live;

    sync_lock();
    s->fd = -1;
    int stopping = sync.stopping;
    sync_unlock();
    /* The strings belong to the scope and sync.attrs; only the cookie is libldap's. */
    s->ls.ls_base = NULL;
    s->ls.ls_filter = NULL;
    s->ls.ls_attrs = NULL;
    s->ls.ls_ld = NULL;
    ldap_sync_destroy(&s->ls, 0);
    ldap_unbind_ext_s(ld, NULL, NULL);
    pool_destroy(s->run_pool);
    s->run_pool = NULL;

    if (stopping)
        return RUN_STOPPED;
    if (s->write_error) {
        snprintf(error, errlen, "%s", s->write_error);
        sync_lock();
        s->db_down = s->write_db_down;
        s->ldap_down = 0;
        sync_unlock();
        return RUN_FAILED;
    }
    if (session_forced(s))
        return RUN_FORCED;
    if (rc == LDAP_SYNC_REFRESH_REQUIRED && !s->full) {
        log_emit(LOG_INFO, "mirror.refresh_required", "root", s->root, NULL);
        return RUN_FULL_NEEDED;
    }
    /* A server's answer to a search that never got going with a cookie (not "busy" or
     * "unavailable"): the cookie is not one it can resume from. */
    if (rc > 0 && !was_live && !s->full && !ldapconn_is_down(rc)) {
        log_emit(LOG_WARN, "mirror.cookie_rejected", "root", s->root, "error",
                 ldap_err2string(rc), NULL);
        return RUN_FULL_NEEDED;
    }
    snprintf(error, errlen, "%s", rc > 0 ? ldap_err2string(rc) : "connection to LDAP lost");
    sync_lock();
    s->ldap_down = rc <= 0 || ldapconn_is_down(rc);
    if (was_live)
        s->reconnects++;
    sync_unlock();
    if (was_live)
        log_emit(LOG_WARN, "mirror.ldap_lost", "root", s->root, "error", error, NULL);
    return RUN_FAILED;
}

/* Sleeps up to ms unless stop or a forced refresh comes first. */
static void session_wait(struct session *s, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    sync_lock();
    while (!sync.stopping && sync.force_requested <= s->serving &&
           pthread_cond_timedwait(&sync.wake, &sync.lock, &until) != ETIMEDOUT)
        ;
    sync_unlock();
}

/* slapd's syncprov takes a cookie without a CSN (rid=000 alone, or one damaged in
 * PostgreSQL) for no state at all, yet ends its refresh in delete mode, which would leave
 * the rows of entries deleted meanwhile: such a cookie is not resumed from. */
static int session_cookie_usable(const char *cookie)
{
    const char *csn = strcasestr(cookie, "csn=");
    return csn && csn[4] && csn[4] != ',';
}

/* Reads the saved cookie (kept unless it was saved for another scope or is unusable) and
 * the row counts; -1 when PostgreSQL is down. */
static int session_load_cookie(struct session *s)
{
    PGconn *db = session_db(s);
    pool_t *pool = pool_create(0);
    char *cookie = NULL, *fingerprint = NULL;
    struct mirror_counts counts;
    int ok = db && mirror_store_load(db, pool, s->cookie_key, &cookie) == 0 &&
             mirror_store_load(db, pool, s->config_key, &fingerprint) == 0 &&
             mirror_store_count(db, &counts) == 0;
    if (ok) {
        int same = fingerprint && strcmp(fingerprint, mirror_scope_fingerprint(sync.scope)) == 0;
        int usable = cookie && session_cookie_usable(cookie);
        if (cookie && !same)
            log_emit(LOG_INFO, "mirror.scope_changed", "root", s->root, NULL);
        else if (cookie && !usable)
            log_emit(LOG_WARN, "mirror.cookie_unusable", "root", s->root, NULL);
        s->cookie = same && usable ? strdup(cookie) : NULL;
        sync_lock();
        s->loaded = cookie != NULL;
        sync.counts = counts;
        metrics_set("directory_mirror_entries", (double)counts.accounts);
        sync_unlock();
    }
    pool_destroy(pool);
    return ok ? 0 : -1;
}

static void *session_main(void *arg)
{
    struct session *s = arg;
    long delay = sync.retry_min_ms;
    long attempts = 0;
    char error[256];
    int have_cookie_state = 0;
    for (;;) {
        sync_lock();
        int stopping = sync.stopping;
        s->serving = sync.force_requested;
        int forced = s->serving > s->done_ticket;
        sync_unlock();
        if (stopping)
            break;
        enum run_end end;
        if (!have_cookie_state && session_load_cookie(s) != 0) {
            snprintf(error, sizeof(error), "postgresql unreachable");
            sync_lock();
            s->db_down = 1;
            sync_unlock();
            end = RUN_FAILED;
        } else {
            have_cookie_state = 1;
            s->full = forced || !s->cookie;
            end = session_run(s, error, sizeof(error));
        }
        if (end == RUN_STOPPED)
            break;
        if (end == RUN_FORCED)
            continue;
        if (end == RUN_FULL_NEEDED) {
            free(s->cookie);
            s->cookie = NULL;
            continue;
        }
        /* RUN_FAILED: the mirror stays as it is; try again later. */
        sync_lock();
        s->state = STATE_DOWN;
        snprintf(s->error, sizeof(s->error), "%s", error);
        if (sync.force_requested > s->done_ticket)
            s->failed_ticket = sync.force_requested;
        sync_unlock();
        sync_poke();
        if (s->reached_live) {
            delay = sync.retry_min_ms;
            attempts = 0;
        }
        attempts++;
        char att[32], ms[32];
        snprintf(att, sizeof(att), "%ld", attempts);
        snprintf(ms, sizeof(ms), "%ld", delay);
        log_emit(LOG_WARN, "mirror.sync_retry", "root", s->root, "attempt", att, "retry_in_ms",
                 ms, "uri", config_str("MAILSTACK_LDAP_URI", "ldap://127.0.0.1:389/"), "error",
                 error, NULL);
        metrics_add("directory_ldap_reconnect_attempts_total", 1);
        session_wait(s, delay);
        delay = delay * 2 > sync.retry_max_ms ? sync.retry_max_ms : delay * 2;
    }
    free(s->cookie);
    s->cookie = NULL;
    db_close_thread();
    return NULL;
}

/* On the loop thread: answers the refresh waiters whose refresh has ended. */
static void sync_notified(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    sync_lock();
    unsigned long done = (unsigned long)-1, failed = 0;
    int all_live = 1;
    for (int i = 0; i < sync.nsessions; i++) {
        struct session *s = &sync.sessions[i];
        if (s->done_ticket < done)
            done = s->done_ticket;
        if (s->failed_ticket > failed)
            failed = s->failed_ticket;
        all_live &= s->state == STATE_LIVE;
    }
    sync_unlock();
    metrics_set("directory_ldap_up", all_live);
    struct waiter **pw = &sync.waiters;
    while (*pw) {
        struct waiter *w = *pw;
        if (w->ticket <= done || w->ticket <= failed) {
            *pw = w->next;
            w->done(w->arg, w->ticket <= done);
            free(w);
        } else {
            pw = &w->next;
        }
    }
}

void mirror_sync_refresh(void (*done)(void *arg, int ok), void *arg)
{
    struct waiter *w = malloc(sizeof(*w));
    if (!w) {
        done(arg, 0);
        return;
    }
    w->done = done;
    w->arg = arg;
    sync_lock();
    w->ticket = ++sync.force_requested;
    for (int i = 0; i < sync.nsessions; i++)
        if (sync.sessions[i].fd >= 0)
            shutdown(sync.sessions[i].fd, SHUT_RDWR);
    pthread_cond_broadcast(&sync.wake);
    sync_unlock();
    w->next = sync.waiters;
    sync.waiters = w;
}

int mirror_sync_start(struct event_base *base)
{
    char err[256];
    sync.scope = mirror_scope_load(err, sizeof(err));
    if (!sync.scope) {
        log_emit(LOG_ERROR, "mirror.bad_scope", "error", err, NULL);
        return -1;
    }
    sync.retry_min_ms = config_long("MAILSTACK_LDAP_RETRY_MIN_MS", 500);
    sync.retry_max_ms = config_long("MAILSTACK_LDAP_RETRY_MAX_MS", 30000);
    if (sync.retry_min_ms < 1)
        sync.retry_min_ms = 500;
    if (sync.retry_max_ms < sync.retry_min_ms)
        sync.retry_max_ms = sync.retry_min_ms;
    sync.pool = pool_create(0);
    sync.attrs = mirror_entry_attributes(sync.pool, sync.scope);
    pthread_mutex_init(&sync.lock, NULL);
    pthread_cond_init(&sync.wake, NULL);
    sync.notify = event_new(base, -1, 0, sync_notified, NULL);
    metrics_describe("directory_mirror_entries", "gauge", "Accounts in the mirror.");
    metrics_describe("directory_mirror_changes_total", "counter",
                     "Entry changes applied from LDAP, by operation.");
    metrics_describe("directory_mirror_refreshes_total", "counter",
                     "Completed syncrepl refreshes, by mode.");
    metrics_describe("directory_mirror_rejected_total", "counter",
                     "Entries PostgreSQL refused (e.g. a duplicate uid).");
    metrics_describe("directory_ldap_reconnect_attempts_total", "counter",
                     "Failed attempts to (re)start a syncrepl session.");
    metrics_describe("directory_ldap_up", "gauge", "1 while every syncrepl session is live.");
    sync.nsessions = mirror_scope_roots(sync.scope);
    sync.sessions = pool_zalloc(sync.pool, sizeof(struct session) * (size_t)sync.nsessions);
    for (int i = 0; i < sync.nsessions; i++) {
        struct session *s = &sync.sessions[i];
        s->fd = -1;
        s->root = mirror_scope_root(sync.scope, i);
        s->root_key = mirror_dn_key(sync.pool, s->root);
        s->cookie_key = pool_printf(sync.pool, "syncrepl_cookie:%s", s->root_key);
        s->config_key = pool_printf(sync.pool, "syncrepl_scope:%s", s->root_key);
        if (pthread_create(&s->thread, NULL, session_main, s) != 0) {
            log_emit(LOG_ERROR, "mirror.thread_failed", "root", s->root, NULL);
            mirror_sync_stop();
            return -1;
        }
        s->started = 1;
    }
    return 0;
}

void mirror_sync_stop(void)
{
    sync_lock();
    sync.stopping = 1;
    for (int i = 0; i < sync.nsessions; i++)
        if (sync.sessions[i].fd >= 0)
            shutdown(sync.sessions[i].fd, SHUT_RDWR);
    pthread_cond_broadcast(&sync.wake);
    sync_unlock();
}

void mirror_sync_free(void)
{
    for (int i = 0; i < sync.nsessions; i++)
        if (sync.sessions[i].started)
            pthread_join(sync.sessions[i].thread, NULL);
    while (sync.waiters) {
        struct waiter *w = sync.waiters;
        sync.waiters = w->next;
        free(w);
    }
    if (sync.notify)
        event_free(sync.notify);
    mirror_scope_free(sync.scope);
    pool_destroy(sync.pool);
    pthread_cond_destroy(&sync.wake);
    pthread_mutex_destroy(&sync.lock);
    memset(&sync, 0, sizeof(sync));
}

void mirror_sync_purged(long n)
{
    sync_lock();
    sync.counts.deleted = sync.counts.deleted > n ? sync.counts.deleted - n : 0;
    sync_unlock();
}

int mirror_sync_ready(void *arg, char *reason, size_t len)
{
    (void)arg;
    int verdict = CONTROL_READY;
    sync_lock();
    for (int i = 0; i < sync.nsessions; i++) {
        const struct session *s = &sync.sessions[i];
        const char *sep = s->error[0] ? ": " : "";
        if (!s->loaded) {
            snprintf(reason, len, "mirror not loaded yet%s%s", sep, s->error);
            verdict = CONTROL_NOT_READY;
            break;
        }
        if (s->state == STATE_DOWN && s->db_down) {
            snprintf(reason, len, "postgresql unreachable");
            verdict = CONTROL_NOT_READY;
            break;
        }
        if (verdict != CONTROL_READY)
            continue;
        if (s->state == STATE_DOWN) {
            snprintf(reason, len, "%s%s%s", s->ldap_down ? "ldap unreachable" : "ldap sync failed",
                     sep, s->error);
            verdict = CONTROL_DEGRADED;
        } else if (s->state != STATE_LIVE) {
            snprintf(reason, len, "resynchronising with ldap");
            verdict = CONTROL_DEGRADED;
        }
    }
    sync_unlock();
    return verdict;
}

void mirror_sync_status(void *arg, json_t *st)
{
    (void)arg;
    json_t *sessions = json_array();
    int loaded = sync.nsessions > 0;
    double last = 0;
    char last_error[256] = "";
    sync_lock();
    for (int i = 0; i < sync.nsessions; i++) {
        const struct session *s = &sync.sessions[i];
        loaded &= s->loaded;
        if (s->last_refresh_seconds > last)
            last = s->last_refresh_seconds;
        if (s->error[0])
            snprintf(last_error, sizeof(last_error), "%s", s->error);
        json_array_append_new(
            sessions, json_pack("{s:s,s:s,s:b,s:b,s:I,s:I,s:I,s:f,s:s}", "root", s->root, "state",
                                state_names[s->state], "loaded", s->loaded, "resumed",
                                s->resumed, "refreshes", (json_int_t)s->refreshes, "changes",
                                (json_int_t)s->changes, "reconnects", (json_int_t)s->reconnects,
                                "last_refresh_seconds", s->last_refresh_seconds, "last_error",
                                s->error));
    }
    struct mirror_counts counts = sync.counts;
    sync_unlock();
    json_object_set_new(st, "mirror",
                        json_pack("{s:b,s:I,s:I,s:I,s:I,s:f,s:s}", "loaded", loaded, "entries",
                                  (json_int_t)counts.accounts, "addresses",
                                  (json_int_t)counts.addresses, "groups",
                                  (json_int_t)counts.groups, "deleted_accounts",
                                  (json_int_t)counts.deleted, "last_load_seconds", last,
                                  "last_error", last_error));
    json_object_set_new(st, "sync", json_pack("{s:o}", "sessions", sessions));
}
