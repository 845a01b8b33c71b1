/* ldapconn: LDAP connections for the services that read the directory (directory-sync,
 * auth-service): open + simple bind with timeouts, RFC 4515 filter escaping, and telling a
 * directory that is down (a temporary failure) from one that said no. */
#ifndef MAILSTACK_LDAPCONN_H
#define MAILSTACK_LDAPCONN_H

#include "pool/pool.h"

#include <ldap.h>
#include <stddef.h>

/* Connects to `uri` (LDAPv3, network and operation timeouts of timeout_ms) and binds as
 * bind_dn/password (anonymous when bind_dn is NULL or empty). On failure returns NULL,
 * sets *rc to the LDAP result code and writes a reason to err. */
LDAP *ldapconn_open(const char *uri, const char *bind_dn, const char *password,
                    int timeout_ms, int *rc, char *err, size_t errlen);

/* A simple bind on an open connection. An empty password is refused here with
 * LDAP_INVALID_CREDENTIALS: LDAP would treat it as an unauthenticated bind and succeed. */
int ldapconn_bind(LDAP *ld, const char *dn, const char *password);

/* 1 when rc means the server could not be reached or is unavailable (retry later),
 * 0 when it answered. */
int ldapconn_is_down(int rc);

/* `value` escaped for use inside a search filter (RFC 4515: * ( ) \ NUL and non-ASCII
 * octets as \XX), allocated from pool. */
char *ldapconn_escape(pool_t *pool, const char *value);

/* The first value of attribute `attr` of entry `e`, copied into pool, or NULL. */
char *ldapconn_first_value(pool_t *pool, LDAP *ld, LDAPMessage *e, const char *attr);

#endif
