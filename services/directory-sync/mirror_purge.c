/* mirror_purge: the retention purge behind mirror_purge.h. */
#include "mirror_purge.h"
#include "config/config.h"
#include "db/db.h"
#include "log/log.h"
#include "mirror_store.h"
#include "mirror_sync.h"

#include <errno.h>
#include <event2/http.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define PURGE_INTERVAL_S 3600

static struct {
    double retention_days;
    workq_t *workers;
    pthread_t thread;
    int started, stopping;
    pthread_mutex_t lock;
    pthread_cond_t wake;
} purge = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* On this thread's connection; -1 when PostgreSQL failed. */
static long purge_run(void)
{
    PGconn *db = db_conn();
    long n = db ? mirror_store_purge(db, purge.retention_days) : -1;
    if (n > 0)
        mirror_sync_purged(n);
    if (n < 0)
        log_emit(LOG_WARN, "mirror.purge_failed", NULL);
    return n;
}

static void *purge_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&purge.lock);
    while (!purge.stopping) {
        pthread_mutex_unlock(&purge.lock);
        purge_run();
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += PURGE_INTERVAL_S;
        pthread_mutex_lock(&purge.lock);
        while (!purge.stopping &&
               pthread_cond_timedwait(&purge.wake, &purge.lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&purge.lock);
    db_close_thread();
    return NULL;
}

struct purge_call {
    struct evhttp_request *req;
    long purged;
};

static void purge_work(void *arg)
{
    struct purge_call *c = arg;
    c->purged = purge_run();
}

static void purge_done(void *arg)
{
    struct purge_call *c = arg;
    if (c->purged < 0)
        control_reply_error(c->req, 503, "mirror_unavailable", "directory mirror unavailable");
    else
        control_reply_json(c->req, 200, json_pack("{s:I,s:f}", "purged", (json_int_t)c->purged,
                                                   "retention_days", purge.retention_days));
    free(c);
}

static void purge_handle(struct evhttp_request *req, void *arg)
{
    (void)arg;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        control_reply_error(req, 405, "method_not_allowed", "use POST");
        return;
    }
    if (purge.retention_days == 0) {
        control_reply_error(req, 409, "purge_disabled",
                            "MAILSTACK_ACCOUNT_RETENTION_DAYS is 0: accounts are kept");
        return;
    }
    struct purge_call *c = calloc(1, sizeof(*c));
    if (!c) {
        control_reply_error(req, 503, "no_memory", "out of memory");
        return;
    }
    c->req = req;
    if (workq_submit(purge.workers, purge_work, purge_done, c) != 0) {
        free(c);
        control_reply_error(req, 503, "shutting_down", "service is shutting down");
    }
}

int mirror_purge_start(control_t *control, workq_t *workers)
{
    const char *v = config_str("MAILSTACK_ACCOUNT_RETENTION_DAYS", "30");
    char *end;
    errno = 0;
    double days = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(days) || days < 0 || days > 36500) {
        log_emit(LOG_ERROR, "config.bad_value", "name", "MAILSTACK_ACCOUNT_RETENTION_DAYS",
                 "value", v, NULL);
        return -1;
    }
    purge.retention_days = days;
    purge.workers = workers;
    control_route_admin(control, "/v1/accounts/purge", purge_handle, NULL);
    if (days == 0)
        return 0;
    if (pthread_create(&purge.thread, NULL, purge_main, NULL) != 0) {
        log_emit(LOG_ERROR, "mirror.thread_failed", "root", "purge", NULL);
        return -1;
    }
    purge.started = 1;
    return 0;
}

void mirror_purge_stop(void)
{
    pthread_mutex_lock(&purge.lock);
    purge.stopping = 1;
    pthread_cond_broadcast(&purge.wake);
    pthread_mutex_unlock(&purge.lock);
}

void mirror_purge_free(void)
{
    if (purge.started)
        pthread_join(purge.thread, NULL);
    purge.started = 0;
}
