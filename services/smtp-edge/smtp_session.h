/* smtp_session: one inbound ESMTP conversation (RFC 5321) — EHLO/HELO, MAIL, RCPT checked
 * against our domains and the directory, DATA read with the smtpproto reader, stamped
 * with Received: and handed to the LMTP stores before the final reply. All sessions share
 * the loop thread; lookups and deliveries run on workq workers. */
#ifndef SMTP_SESSION_H
#define SMTP_SESSION_H

#include "relay.h"
#include "workq/workq.h"

#include <event2/bufferevent.h>
#include <openssl/ssl.h>
#include <stddef.h>

struct smtp_settings {
    const char *hostname;         /* MAILSTACK_HOSTNAME: greeting, EHLO, Received */
    const char *directory_url;    /* MAILSTACK_DIRECTORY_URL */
    long lookup_timeout_ms;
    size_t size_limit;            /* MAILSTACK_MESSAGE_SIZE_LIMIT */
    size_t header_limit;          /* MAILSTACK_HEADER_SIZE_LIMIT */
    size_t recipient_limit;       /* MAILSTACK_RECIPIENT_LIMIT */
    int idle_timeout_s;           /* MAILSTACK_COMMAND_TIME_LIMIT */
    int bare_lf_reject;           /* MAILSTACK_SMTP_REJECT_BARE_LF */
    int error_limit;              /* MAILSTACK_SMTP_ERROR_LIMIT: bad commands before 421 */
    SSL_CTX *tls;                 /* STARTTLS offered when set */
    struct relay_settings relay;
    workq_t *workers;
};

/* Starts a session on an accepted connection; `settings` must outlive it. */
void smtp_session_start(const struct smtp_settings *settings, struct bufferevent *bev,
                        const char *peer);
/* Sessions open now (for /v1/status and a graceful stop). */
int smtp_session_count(void);
/* Shutdown: idle sessions get 421 now; one in a transaction after its final reply. */
void smtp_session_close_all(void);

#endif
