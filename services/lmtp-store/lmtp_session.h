/* lmtp_session: one LMTP (RFC 2033) conversation: LHLO, MAIL, RCPT, DATA, RSET, NOOP,
 * QUIT, with PIPELINING, STARTTLS (RFC 3207) and AUTH (RFC 4954: PLAIN and LOGIN through
 * libs/saslauth); after the data, one reply per accepted recipient, in order, sent only
 * once the message is committed. Lookups, AUTH steps and delivery run on workers; the
 * session stops reading while one is in flight, so pipelined commands wait in the buffer. */
#ifndef LMTP_SESSION_H
#define LMTP_SESSION_H

#include "workq/workq.h"

#include <event2/bufferevent.h>
#include <openssl/ssl.h>

struct lmtp_settings {
    const char *hostname;
    unsigned long long size_limit;
    size_t header_limit;
    int bare_lf_reject;
    int recipient_limit;
    int command_timeout_s;
    workq_t *workers;
    SSL_CTX *tls;                 /* STARTTLS offered when set */
    int allow_plaintext_loopback; /* AUTH PLAIN/LOGIN without TLS from loopback (dev) */
    int sasl;                     /* libs/saslauth is initialised: AUTH can be offered */
};

/* must_auth: a TCP client outside the trusted networks while AUTH is required; MAIL is
 * refused with 530 until it has authenticated. */
void lmtp_session_start(const struct lmtp_settings *settings, struct bufferevent *bev,
                        const char *peer, int is_loopback, int must_auth);
/* Sessions in progress (for /v1/status and a graceful stop). */
int lmtp_session_count(void);
/* Says 421 to idle sessions and closes them; busy ones close when their work is done. */
void lmtp_session_close_all(void);

#endif
