/* auth_check: one credential check against LDAP, run on a worker thread: find the entry
 * for a uid or any of its addresses with the configured filter, then bind as that DN so
 * slapd itself verifies {SSHA}, {SHA}, {CRYPT} or whatever scheme the entry uses. Both
 * steps use pooled connections (auth_pool.h): the search one bound as the service's
 * reader, the bind one rebound as each user, so a user's bind never changes what the
 * searches may read. */
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

/* Makes the connection pools from the MAILSTACK_LDAP_* settings; -1 on failure. */
int auth_check_init(void);
/* Closes the pools; call once no worker runs any more. */
void auth_check_end(void);

/* Blocking; call on a worker thread. An unknown user costs a bind too (as a DN that
 * cannot exist), so LDAP sees, and the caller waits, about the same either way. */
void auth_check(struct auth_request *r);
/* 0 when LDAP answers on a search connection (for /readyz), else -1. */
int auth_check_ping(void);

#endif
