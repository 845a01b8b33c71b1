/* received: the Received: trace header smtp-edge puts on every message it accepts
 * (RFC 5321 4.4), naming the client, us, the protocol and the session. */
#ifndef SMTP_RECEIVED_H
#define SMTP_RECEIVED_H

#include "pool/pool.h"

#include <time.h>

struct received_info {
    const char *helo;      /* the client's HELO/EHLO name, NULL if it gave none */
    const char *peer;      /* the client's address as text ("192.0.2.1", "::1") */
    const char *hostname;  /* ours */
    const char *protocol;  /* RFC 3848/6531 "with" keyword: SMTP, ESMTP, ESMTPS, UTF8SMTP */
    const char *id;        /* the message's id, also in our logs */
    const char *rcpt;      /* the one recipient, or NULL when there are several */
    time_t when;
};

/* The whole header field, folded, ending in CRLF. Client-supplied text (HELO name,
 * recipient) is reduced to safe printable ASCII so it cannot break the header. */
char *received_header(pool_t *pool, const struct received_info *r);

/* The RFC 3848 / RFC 6531 "with" keyword for a session. */
const char *received_protocol(int esmtp, int tls, int smtputf8);

#endif
