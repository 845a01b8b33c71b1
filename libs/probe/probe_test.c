/* probe_test: the answer follows the dependency both ways, is logged only when it changes,
 * comes from a worker thread, one check at a time, and a check still running at shutdown
 * is waited for rather than left writing into freed memory (ASan build). */
#include "control/control.h"
#include "log/log.h"
#include "net/net.h"
#include "probe/probe.h"
#include "workq/workq.h"

#include "testkit/testkit.h"

#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_t loop_thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int answer;              /* what the fake dependency says next */
static int check_ms;            /* how long each check blocks */
static int calls, on_loop, in_flight, max_in_flight, finished;

static int fake_check(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    calls++;
    if (pthread_equal(pthread_self(), loop_thread))
        on_loop++;
    if (++in_flight > max_in_flight)
        max_in_flight = in_flight;
    int says = answer;
    pthread_mutex_unlock(&lock);
    usleep((useconds_t)check_ms * 1000);
    pthread_mutex_lock(&lock);
    in_flight--;
    finished++;
    pthread_mutex_unlock(&lock);
    return says;
}

static int get(int *v)
{
    pthread_mutex_lock(&lock);
    int n = *v;
    pthread_mutex_unlock(&lock);
    return n;
}

static void reset(int says, int ms)
{
    pthread_mutex_lock(&lock);
    answer = says;
    check_ms = ms;
    calls = on_loop = in_flight = max_in_flight = finished = 0;
    pthread_mutex_unlock(&lock);
}

static void set_answer(int says)
{
    pthread_mutex_lock(&lock);
    answer = says;
    pthread_mutex_unlock(&lock);
}

static void wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop until cond(arg) holds or ms pass; returns whether it held. A 5 ms ticker
 * keeps the loop turning even when the probe's own timer is far away. */
static int run_until(struct event_base *loop, int (*cond)(void *), void *arg, int ms)
{
    struct event *tick = event_new(loop, -1, EV_PERSIST, wake, NULL);
    struct timeval every = {0, 5000};
    event_add(tick, &every);
    int held = 0;
    for (int waited = 0; !(held = cond(arg)) && waited < ms; waited += 5)
        event_base_loop(loop, EVLOOP_ONCE);
    event_free(tick);
    return held;
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}
static int is_up(void *p) { return probe_ok(p) == 1; }
static int is_down(void *p) { return probe_ok(p) == 0; }
static int calls_reach(void *target) { return get(&calls) >= *(int *)target; }

/* stdout goes to a file while a probe logs, so the lines can be counted afterwards. */
static int saved_stdout = -1;
static char log_path[] = "/tmp/mailstack-probe-XXXXXX";
static const char *log_text; /* what capture_end returned, for line_has */

static void capture_start(void)
{
    int fd = mkstemp(log_path);
    fflush(stdout);
    saved_stdout = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    close(fd);
}

/* Restores stdout; returns what was written (caller frees). */
static char *capture_end(void)
{
    fflush(stdout);
    dup2(saved_stdout, STDOUT_FILENO);
    close(saved_stdout);
    FILE *f = fopen(log_path, "r");
    static char buf[65536];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
    unlink(log_path);
    return strdup(buf);
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *s = text; (s = strstr(s, needle)); s += strlen(needle))
        n++;
    return n;
}

/* Whether the log line around `at` holds `needle`. */
static int line_has(const char *at, const char *needle)
{
    const char *start = at, *end = strchr(at, '\n');
    while (start > log_text && start[-1] != '\n')
        start--;
    const char *hit = strstr(start, needle);
    return hit && (!end || hit < end);
}

static struct event_base *base;
static workq_t *wq;

/* A probe of the fake dependency on a fresh loop and queue of `threads` workers. */
static probe_t *start(int threads, int says, int ms, int interval_ms, const char *gauge)
{
    base = net_base_new();
    loop_thread = pthread_self();
    wq = workq_create(base, threads);
    reset(says, ms);
    return probe_start(base, wq, &(struct probe_spec){
        .up_event = "probe_test.up", .down_event = "probe_test.down", .gauge = gauge,
        .interval_ms = interval_ms, .check = fake_check});
}

/* The shutdown order every main.c uses. */
static void finish(probe_t *p)
{
    probe_stop(p);
    workq_destroy(wq);
    probe_free(p);
    event_base_free(base);
}

static void test_follows_the_dependency(void)
{
    log_init("probe_test");
    log_set_level(LOG_INFO);
    capture_start();
    /* Checks outlast the interval and three workers are free: only the probe's own guard
     * keeps them from overlapping. */
    probe_t *p = start(3, 0, 30, 10, "probe_test_up");
    int ok_at_start = probe_ok(p);
    int three = 3;
    int saw_three = run_until(base, calls_reach, &three, 5000);
    int still_down = probe_ok(p);
    double gauge_down_first = metrics_get("probe_test_up");
    set_answer(1);
    int went_up = run_until(base, is_up, p, 5000);
    double gauge_up = metrics_get("probe_test_up");
    int calls_before_down = get(&calls);
    set_answer(0);
    int went_down = run_until(base, is_down, p, 5000);
    double gauge_down = metrics_get("probe_test_up");
    int more = get(&calls) + 3; /* more down answers: no more log lines */
    int several_down = run_until(base, calls_reach, &more, 5000);
    char *logged = capture_end();
    log_text = logged;

    CU_ASSERT_EQUAL(ok_at_start, 0);
    CU_ASSERT(saw_three);
    CU_ASSERT_EQUAL(still_down, 0);
    CU_ASSERT_EQUAL(gauge_down_first, 0);
    CU_ASSERT(went_up);
    CU_ASSERT_EQUAL(gauge_up, 1);
    CU_ASSERT(calls_before_down > 3);
    CU_ASSERT(went_down);
    CU_ASSERT_EQUAL(gauge_down, 0);
    CU_ASSERT(several_down);
    CU_ASSERT_EQUAL(get(&on_loop), 0);
    CU_ASSERT_EQUAL(get(&max_in_flight), 1);
    /* Down at start is the initial state: only the two changes are logged, in order. */
    CU_ASSERT_EQUAL(count(logged, "\"probe_test.up\""), 1);
    CU_ASSERT_EQUAL(count(logged, "\"probe_test.down\""), 1);
    char *up = strstr(logged, "\"probe_test.up\""), *down = strstr(logged, "\"probe_test.down\"");
    CU_ASSERT(up && down && up < down);
    CU_ASSERT(up && line_has(up, "\"level\":\"info\""));
    CU_ASSERT(down && line_has(down, "\"level\":\"warn\""));
    free(logged);

    /* Stopped: the check in flight may end, none starts after it. */
    probe_stop(p);
    int calls_at_stop = get(&calls);
    run_until(base, never, NULL, 100);
    CU_ASSERT_EQUAL(get(&calls), calls_at_stop);
    finish(p);
}

static void test_first_check_at_once(void)
{
    log_set_level(LOG_ERROR); /* keeps the runner's output readable */
    /* An interval far beyond the test: any check seen is the one made at start. */
    probe_t *p = start(2, 1, 0, 60000, NULL);
    CU_ASSERT(run_until(base, is_up, p, 2000));
    run_until(base, never, NULL, 100);
    CU_ASSERT_EQUAL(get(&calls), 1);
    CU_ASSERT_EQUAL(get(&on_loop), 0);
    finish(p);
}

static void test_check_in_flight_at_shutdown(void)
{
    log_set_level(LOG_ERROR); /* keeps the runner's output readable */
    probe_t *p = start(1, 1, 300, 5000, NULL);
    int one = 1;
    CU_ASSERT(run_until(base, calls_reach, &one, 2000));
    CU_ASSERT_EQUAL(get(&finished), 0);
    /* finish()'s order, spelled out to look between the steps: destroying the queue joins
     * the worker and drops the done callback, so the free comes after any write into p
     * (ASan would report one that did not). */
    probe_stop(p);
    workq_destroy(wq);
    CU_ASSERT_EQUAL(get(&finished), 1);
    CU_ASSERT_EQUAL(probe_ok(p), 0);
    probe_free(p);
    event_base_free(base);
}

int main(void)
{
    static const testkit_case_t cases[] = {
        {"answer follows the dependency, off the loop, one at a time", test_follows_the_dependency},
        {"first check runs at start", test_first_check_at_once},
        {"check in flight at shutdown is waited for", test_check_in_flight_at_shutdown},
        {NULL, NULL},
    };
    return testkit_run("probe", cases);
}
