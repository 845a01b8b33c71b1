/* probe: the timer, workq round trip and change logging behind probe.h. */
#include "probe/probe.h"

#include "control/control.h"
#include "log/log.h"

#include <stdlib.h>

struct probe {
    struct probe_spec spec;
    workq_t *wq;
    struct event *timer;
    int ok;      /* loop thread only */
    int result;  /* written by the worker; workq's hand-off orders it before probe_done */
    int running; /* submitted and its done not yet run: the next tick must not submit */
};

static void probe_work(void *arg)
{
    probe_t *p = arg;
    p->result = p->spec.check(p->spec.arg) ? 1 : 0;
}

static void probe_done(void *arg)
{
    probe_t *p = arg;
    p->running = 0;
    if (p->ok != p->result)
        log_emit(p->result ? LOG_INFO : LOG_WARN,
                 p->result ? p->spec.up_event : p->spec.down_event, NULL);
    p->ok = p->result;
    if (p->spec.gauge)
        metrics_set(p->spec.gauge, p->ok);
}

static void probe_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    probe_t *p = arg;
    /* A refused submit (queue shutting down) is simply retried at the next tick. */
    if (!p->running && workq_submit(p->wq, probe_work, probe_done, p) == 0)
        p->running = 1;
}

probe_t *probe_start(struct event_base *base, workq_t *wq, const struct probe_spec *spec)
{
    probe_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->spec = *spec;
    p->wq = wq;
    p->timer = event_new(base, -1, EV_PERSIST, probe_tick, p);
    if (!p->timer) {
        free(p);
        return NULL;
    }
    struct timeval every = {spec->interval_ms / 1000, (spec->interval_ms % 1000) * 1000};
    event_add(p->timer, &every);
    probe_tick(-1, 0, p);
    return p;
}

int probe_ok(const probe_t *p)
{
    return p && p->ok;
}

void probe_stop(probe_t *p)
{
    if (p)
        event_del(p->timer);
}

void probe_free(probe_t *p)
{
    if (!p)
        return;
    event_free(p->timer);
    free(p);
}
