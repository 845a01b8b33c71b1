/* workq_test: jobs run off the loop thread and their done callbacks on it, in full. */
#include "net/net.h"
#include "workq/workq.h"

#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <pthread.h>
#include <unistd.h>

static pthread_t loop_thread;
static int done_count, done_on_loop, work_off_loop;
static struct event_base *base;

struct job { int n; int result; };

static void work(void *arg)
{
    struct job *j = arg;
    if (!pthread_equal(pthread_self(), loop_thread))
        __atomic_add_fetch(&work_off_loop, 1, __ATOMIC_SEQ_CST);
    usleep(1000);
    j->result = j->n * 2;
}

static void done(void *arg)
{
    struct job *j = arg;
    if (pthread_equal(pthread_self(), loop_thread))
        done_on_loop++;
    if (j->result == j->n * 2)
        done_count++;
    if (done_count == 50)
        event_base_loopbreak(base);
}

static void test_roundtrip(void)
{
    base = net_base_new();
    loop_thread = pthread_self();
    workq_t *q = workq_create(base, 3);
    static struct job jobs[50];
    for (int i = 0; i < 50; i++) {
        jobs[i].n = i;
        CU_ASSERT_EQUAL(workq_submit(q, work, done, &jobs[i]), 0);
    }
    struct timeval tv = {10, 0};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    CU_ASSERT_EQUAL(done_count, 50);
    CU_ASSERT_EQUAL(done_on_loop, 50);
    CU_ASSERT_EQUAL(work_off_loop, 50);
    CU_ASSERT_EQUAL(workq_pending(q), 0);
    workq_destroy(q);
    event_base_free(base);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"jobs round-trip through workers", test_roundtrip},
        {NULL, NULL},
    };
    return testkit_run("workq", cases);
}
