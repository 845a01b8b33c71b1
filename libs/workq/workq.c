/* workq: worker threads behind workq.h. Finished jobs are handed back to the loop thread
 * through one event made active from the worker (libevent's pthread support makes that
 * safe), so `done` callbacks run where libevent objects may be touched. */
#include "workq/workq.h"

#include <pthread.h>
#include <stdlib.h>

struct workq_job {
    workq_fn work, done;
    void *arg;
    struct workq_job *next;
};

struct workq {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct workq_job *todo_head, *todo_tail;
    struct workq_job *done_head, *done_tail;
    size_t pending;
    int stopping;
    int nthreads;
    pthread_t *threads;
    struct event *done_ev;
    void (*thread_exit)(void);
};

static void workq_push(struct workq_job **head, struct workq_job **tail, struct workq_job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static void *workq_thread(void *arg)
{
    workq_t *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->todo_head && !q->stopping)
            pthread_cond_wait(&q->cond, &q->lock);
        struct workq_job *j = q->todo_head;
        if (!j)
            break; /* stopping and drained */
        q->todo_head = j->next;
        if (!q->todo_head)
            q->todo_tail = NULL;
        pthread_mutex_unlock(&q->lock);
        j->work(j->arg);
        pthread_mutex_lock(&q->lock);
        workq_push(&q->done_head, &q->done_tail, j);
        if (!q->stopping)
            event_active(q->done_ev, EV_READ, 0);
    }
    void (*on_exit)(void) = q->thread_exit;
    pthread_mutex_unlock(&q->lock);
    if (on_exit)
        on_exit();
    return NULL;
}

static void workq_on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    workq_t *q = arg;
    pthread_mutex_lock(&q->lock);
    struct workq_job *j = q->done_head;
    q->done_head = q->done_tail = NULL;
    pthread_mutex_unlock(&q->lock);
    while (j) {
        struct workq_job *n = j->next;
        if (j->done)
            j->done(j->arg);
        pthread_mutex_lock(&q->lock);
        q->pending--;
        pthread_mutex_unlock(&q->lock);
        free(j);
        j = n;
    }
}

workq_t *workq_create(struct event_base *base, int nthreads)
{
    workq_t *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->done_ev = event_new(base, -1, 0, workq_on_done, q);
    q->nthreads = nthreads > 0 ? nthreads : 4;
    q->threads = calloc((size_t)q->nthreads, sizeof(pthread_t));
    for (int i = 0; i < q->nthreads; i++)
        pthread_create(&q->threads[i], NULL, workq_thread, q);
    return q;
}

int workq_submit(workq_t *q, workq_fn work, workq_fn done, void *arg)
{
    struct workq_job *j = malloc(sizeof(*j));
    if (!j)
        return -1;
    j->work = work;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&q->lock);
    if (q->stopping) {
        pthread_mutex_unlock(&q->lock);
        free(j);
        return -1;
    }
    workq_push(&q->todo_head, &q->todo_tail, j);
    q->pending++;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

size_t workq_pending(workq_t *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->pending;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void workq_on_thread_exit(workq_t *q, void (*fn)(void))
{
    pthread_mutex_lock(&q->lock);
    q->thread_exit = fn;
    pthread_mutex_unlock(&q->lock);
}

void workq_destroy(workq_t *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    for (int i = 0; i < q->nthreads; i++)
        pthread_join(q->threads[i], NULL);
    struct workq_job *j = q->done_head;
    while (j) {
        struct workq_job *n = j->next;
        free(j);
        j = n;
    }
    event_free(q->done_ev);
    free(q->threads);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
    free(q);
}
