/* relay: hands an accepted message to the LMTP stores of its recipients' mailboxes — one
 * LMTP transaction per store (the endpoint their maildrop's host maps to), one copy per
 * distinct LMTP recipient. Blocking: call it on a workq worker. */
#ifndef SMTP_RELAY_H
#define SMTP_RELAY_H

#include "pool/pool.h"

#include <stddef.h>

struct relay_rcpt {
    const char *lmtp_rcpt;  /* the LMTP recipient (maildrop with +detail) */
    const char *host;       /* its transport name */
    int code;               /* the store's final reply; 0 = none (connection failure) */
    const char *text;       /* that reply's text, or the failure */
};

struct relay_settings {
    const char *lhlo_name;
    const char *transports;  /* MAILSTACK_LMTP_TRANSPORTS */
    int default_port;        /* MAILSTACK_LMTP_DEFAULT_PORT */
    int timeout_ms;
};

/* Delivers msg (CRLF form, our Received: header included) from `sender` ("" for <>).
 * Recipients with the same LMTP address are sent once and share the reply. Fills every
 * rcpt's code and text. */
void relay_deliver(pool_t *pool, const struct relay_settings *set, const char *sender,
                   struct relay_rcpt *rcpts, size_t n, const char *msg, size_t len);

#endif
