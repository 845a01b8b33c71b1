/* lmtpclient: a blocking LMTP client (RFC 2033) for worker threads — hands one message
 * for several recipients to a store and collects the per-recipient replies. Blocking with
 * a timeout on every wait, so call it from a workq worker, never from the loop thread. */
#ifndef MAILSTACK_LMTPCLIENT_H
#define MAILSTACK_LMTPCLIENT_H

#include <stddef.h>

typedef struct {
    int code;        /* SMTP reply code; 0 when no answer came for this recipient */
    char text[512];  /* the reply text without codes, lines joined by '\n', truncated */
} lmtp_reply_t;

/* Sends LHLO, MAIL FROM:<mail_from> (with SIZE and BODY=8BITMIME when the server offers
 * them, SMTPUTF8 when it does and an address is not ASCII), one RCPT TO per recipient,
 * and — if any was accepted — DATA with the message (CRLF form, dot-stuffed here, CRLF
 * added if it does not end in one), then QUIT.
 * replies[i] is recipient i's final answer: its RCPT reply when refused there, else its
 * post-DATA reply (RFC 2033 4.2: one per accepted recipient, in order); a refused
 * LHLO/MAIL/DATA becomes every affected recipient's reply.
 * `host` starting with '/' is a UNIX socket path (port unused). `timeout_ms` bounds each
 * connect, write and reply wait. Returns 0 when every recipient has a reply, or -1 with
 * `err` (connect failure, timeout, connection lost, malformed reply), leaving the
 * unanswered recipients with code 0. */
int lmtpclient_deliver(const char *host, int port, const char *lhlo_name,
                       const char *mail_from, const char *const *rcpts, size_t n,
                       const char *msg, size_t msglen, int timeout_ms, lmtp_reply_t *replies,
                       char *err, size_t errlen);

#endif
