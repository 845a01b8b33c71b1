/* auth_pool: persistent LDAP connections shared by auth-service's workers, so a credential
 * check costs LDAP operations, not a TCP connection and a bind of the service account.
 * A connection is taken for one check and given back; one that failed with the server
 * gone is dropped instead, and the next taker opens a fresh one. Thread-safe. */
#ifndef AUTH_POOL_H
#define AUTH_POOL_H

#include <ldap.h>

typedef struct auth_pool auth_pool_t;

/* Connections to `uri` bound as bind_dn/password (anonymous when bind_dn is NULL or
 * empty); `name` labels the pool's metrics (auth_ldap_connects_total{pool="name"}). */
auth_pool_t *auth_pool_new(const char *name, const char *uri, const char *bind_dn,
                           const char *password, int timeout_ms);
/* Unbinds every idle connection; none may be out. */
void auth_pool_free(auth_pool_t *p);

/* An idle connection, or a new one. NULL when none could be opened; *rc says why. */
LDAP *auth_pool_get(auth_pool_t *p, int *rc);
/* Gives `ld` back; with `broken` set (the server went away under it) it is closed. */
void auth_pool_put(auth_pool_t *p, LDAP *ld, int broken);

#endif
