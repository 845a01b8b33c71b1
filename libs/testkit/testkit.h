/* testkit: what every CUnit test binary repeats — running one suite of cases with the
 * basic runner and an exit code, and finding a free loopback port. Test code only. */
#ifndef MAILSTACK_TESTKIT_H
#define MAILSTACK_TESTKIT_H

typedef struct {
    const char *name;
    void (*fn)(void);
} testkit_case_t;

/* Runs the cases (ending with {NULL, NULL}) as suite `suite`, verbose; returns the exit
 * status for main(): 0 when every assertion passed. */
int testkit_run(const char *suite, const testkit_case_t *cases);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int testkit_free_port(void);

#endif
