/* workq: a small pool of worker threads for blocking work (PostgreSQL, LDAP, LMTP, HTTP
 * calls) so the event loop never waits on it. `work` runs on a worker thread and must not
 * touch libevent objects; `done` runs afterwards on the loop thread, where it may. */
#ifndef MAILSTACK_WORKQ_H
#define MAILSTACK_WORKQ_H

#include <event2/event.h>

typedef struct workq workq_t;
typedef void (*workq_fn)(void *arg);

/* Requires evthread_use_pthreads() before the event_base was made (net_base_new does it). */
workq_t *workq_create(struct event_base *base, int nthreads);
/* Returns 0, or -1 when the queue is shutting down (then nothing runs). */
int workq_submit(workq_t *q, workq_fn work, workq_fn done, void *arg);
size_t workq_pending(workq_t *q);
/* Each worker calls fn as it exits (in workq_destroy), to close its thread-local
 * connections (db_close_thread and the like). */
void workq_on_thread_exit(workq_t *q, void (*fn)(void));
/* Finishes queued work, runs no more `done` callbacks, joins the threads. */
void workq_destroy(workq_t *q);

#endif
