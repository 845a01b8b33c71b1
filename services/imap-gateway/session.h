/* session: one IMAP connection — its state (not authenticated, authenticated, selected),
 * reading commands off the wire with imapproto, writing replies, running blocking work
 * on the worker queue, autologout, STARTTLS and closing. Commands run one at a time: the
 * next one is parsed only after the tagged reply of the current one. */
#ifndef IMAP_SESSION_H
#define IMAP_SESSION_H

#include "imapproto/imapproto.h"
#include "pool/pool.h"
#include "saslauth/saslauth.h"

#include <event2/bufferevent.h>
#include <stdint.h>

enum session_state { SESSION_NOTAUTH = 1, SESSION_AUTH = 2, SESSION_SELECTED = 4 };

/* The selected mailbox. Message sequence number n is uids[n - 1]. */
struct session_mailbox {
    pool_t *pool;             /* lives as long as the selection */
    int64_t mailbox_id;
    char *name;
    int64_t uidvalidity, uidnext;
    int readonly;
    uint32_t *uids;
    size_t count, cap;
};

struct session {
    struct session *prev, *next;
    struct bufferevent *bev;
    char id[24];              /* for logs */
    char peer[64];
    int loopback;
    enum session_state state;
    pool_t *pool;             /* the connection's lifetime */
    pool_t *cmd;              /* the current command's; cleared after its tagged reply */
    imapproto_parser_t *parser;
    size_t need;              /* input bytes the parser waits for */
    const char *tag;          /* the current command's, in cmd */
    const char *command;      /* its name, for logs and metrics */
    void *cmd_state;          /* the running command's own state, in cmd */
    /* For a command that works in batches (FETCH): scratch memory and output that only
     * the running job touches, emptied by the loop after each batch. */
    pool_t *batch;
    struct evbuffer *batch_out;
    int busy;                 /* a command is running */
    int closing;              /* BYE sent or peer gone: no more commands */
    int dropped;              /* peer gone: nothing more can be written */
    int in_process;
    int jobs;                 /* worker jobs not yet finished */
    int flush_polls;          /* while closing */
    int auth_failures;
    saslauth_t *sasl;         /* the LOGIN / AUTHENTICATE exchange running, or NULL */
    char *account;            /* after LOGIN, in pool */
    int64_t account_id;
    struct session_mailbox mbox;
    struct event *timer;
    void (*timer_fn)(struct session *s);
    void (*on_drained)(struct session *s);
    void (*on_line)(struct session *s, char *line);
};

/* net_accept_fn: a new connection; sends the greeting. */
void session_accept(struct bufferevent *bev, const char *peer, int is_loopback, void *arg);

/* Output. session_write takes raw bytes (literals); the others add CRLF. */
void session_write(struct session *s, const void *data, size_t len);
void session_printf(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The tagged reply ("<tag> " + text): ends the command, clears its pool and goes on with
 * the next one. */
void session_done(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "* BYE text", then the connection closes once the output is flushed. Nothing may
 * touch s after these. */
void session_bye(struct session *s, const char *text);
/* LOGOUT: "* BYE", the tagged OK, then the close. */
void session_logout(struct session *s);

/* Runs work(arg) on a worker, then done(arg) on the loop — unless the connection went
 * away meanwhile, in which case done is skipped and the session freed. Memory for arg
 * comes from s->cmd, which nothing else touches while the command runs. Returns -1 when
 * the queue is shutting down (the caller answers NO). */
int session_submit(struct session *s, void (*work)(void *), void (*done)(void *), void *arg);
/* The running command reads the client's next line (an AUTHENTICATE response): fn gets
 * it without its CRLF, in s->cmd, or NULL when it was longer than the line limit (then the
 * input was dropped). The login timeout applies while waiting. */
void session_read_line(struct session *s, void (*fn)(struct session *s, char *line));
/* Calls fn(s) after ms milliseconds (a delayed reply). */
void session_after(struct session *s, long ms, void (*fn)(struct session *s));
/* Output queued for the client (above the TLS layer, which holds only a bounded amount
 * more), and a callback for when it has mostly gone, so a long FETCH produces its output
 * as fast as the client reads it. */
size_t session_output_pending(struct session *s);
void session_when_drained(struct session *s, void (*fn)(struct session *s));

/* May LOGIN and the plaintext SASL mechanisms be used here: over TLS, or on loopback when
 * the dev setting allows it. */
int session_login_allowed(const struct session *s);
/* The capability list for this session's current state (no "CAPABILITY" word). */
const char *session_capability(struct session *s);
/* After "OK Begin TLS negotiation now": switches the connection to TLS. */
void session_starttls(struct session *s);
/* Leaves the selected state for the authenticated one. */
void session_unselect(struct session *s);
/* After login: the authenticated state's autologout time and command limits. */
void session_authenticated(struct session *s);

/* Shutdown: BYE to every session and close them; then free what is left. */
void session_shutdown_all(const char *text);
void session_free_all(void);
int session_count(void);

#endif
