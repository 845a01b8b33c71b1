/* lmtp_session: one LMTP (RFC 2033) conversation: LHLO, MAIL, RCPT, DATA, RSET, NOOP,
 * QUIT, with PIPELINING; after the data, one reply per accepted recipient, in order, sent
 * only once the message is committed. Lookups and delivery run on workers; the session
 * stops reading while one is in flight, so pipelined commands wait in the buffer. */
#ifndef LMTP_SESSION_H
#define LMTP_SESSION_H

#include "workq/workq.h"

#include <event2/bufferevent.h>

struct lmtp_settings {
    const char *hostname;
    unsigned long long size_limit;
    size_t header_limit;
    int bare_lf_reject;
    int recipient_limit;
    int command_timeout_s;
    workq_t *workers;
};

void lmtp_session_start(const struct lmtp_settings *settings, struct bufferevent *bev,
                        const char *peer);
/* Sessions in progress (for /v1/status and a graceful stop). */
int lmtp_session_count(void);
/* Says 421 to idle sessions and closes them; busy ones close when their work is done. */
void lmtp_session_close_all(void);

#endif
