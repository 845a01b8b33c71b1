/* auth_check: one credential check against LDAP, run on a worker thread: find the entry
 * for a uid or any of its addresses with the configured filter, then bind as that DN so
 * slapd itself verifies {SSHA}, {SHA}, {CRYPT} or whatever scheme the entry uses. */
#ifndef AUTH_CHECK_H
#define AUTH_CHECK_H

#include "pool/pool.h"

enum auth_result { AUTH_OK, AUTH_FAILED, AUTH_UNAVAILABLE };

struct auth_request {
    pool_t *pool;              /* owns everything below */
    const char *username, *password, *service, *remote_ip;
    enum auth_result result;   /* out */
    const char *account, *dn;  /* out, on AUTH_OK */
    const char *reason;        /* out, for the log (never includes the password) */
};

/* Blocking; call on a worker thread. Each worker keeps its own LDAP connections. */
void auth_check(struct auth_request *r);
/* 0 when LDAP answers a bind as the service account (for /readyz), else -1. */
int auth_check_ping(void);
/* Drops this thread's LDAP connections. */
void auth_check_thread_end(void);

#endif
