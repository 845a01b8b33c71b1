/* gateway: the settings and shared objects of the imap-gateway process (worker queue,
 * TLS context, limits), read once at start-up and then only read. */
#ifndef IMAP_GATEWAY_H
#define IMAP_GATEWAY_H

#include "workq/workq.h"

#include <openssl/ssl.h>

struct gateway {
    workq_t *workers;
    SSL_CTX *tls;                  /* NULL: no STARTTLS */
    int allow_plaintext_loopback;  /* LOGIN, AUTH=PLAIN without TLS from 127.0.0.0/8, ::1 */
    long max_line;                 /* command text */
    long max_literal;              /* = the message size limit */
    long login_timeout_s;          /* autologout before login ... */
    long idle_timeout_s;           /* ... and after */
    long auth_throttle_ms;         /* delay of the NO when auth-service says 429 */
    long max_auth_failures;        /* then BYE */
};

extern struct gateway gateway;

/* Reads the MAILSTACK_* settings into `gateway` (workers and tls are set by main). */
void gateway_config_load(void);

#endif
