/* probe: the periodic health check of one dependency (PostgreSQL, LDAP, directory-sync)
 * that a service's /readyz and /v1/status answer from. The check blocks, so it runs on a
 * workq worker, never more than one at a time; its answer is kept for the loop thread,
 * logged when it changes and, if asked, exported as a 0/1 gauge. */
#ifndef MAILSTACK_PROBE_H
#define MAILSTACK_PROBE_H

#include "workq/workq.h"

#include <event2/event.h>

typedef struct probe probe_t;

struct probe_spec {
    /* Logged (info / warn) when the answer turns up / down. The state starts down, so a
     * dependency already unreachable at start logs nothing until it first answers. */
    const char *up_event, *down_event;
    const char *gauge; /* set to 1/0 after every check; NULL for none */
    int interval_ms;
    /* Runs on a worker thread; returns 1 when the dependency answered. */
    int (*check)(void *arg);
    void *arg;
};

/* Submits the first check at once, then one every interval_ms unless the last is still
 * running. The spec is copied but its strings are not (pass literals). NULL if out of
 * memory. Call on the loop thread, as every function here. */
probe_t *probe_start(struct event_base *base, workq_t *wq, const struct probe_spec *spec);
/* The answer of the last finished check: 0 until the first one says up. */
int probe_ok(const probe_t *p);
/* No further checks (on shutdown); one in flight still finishes and is recorded. */
void probe_stop(probe_t *p);
/* Only after workq_destroy(wq) if a check may be in flight: until the workers are joined it
 * still writes into p (its done callback is then dropped, so nothing reads p later). */
void probe_free(probe_t *p);

#endif
