/* lmtp_session: the LMTP state machine behind lmtp_session.h. Memory: one pool per
 * session for the transaction in progress (MAIL..end of DATA, or RSET), cleared as it
 * ends; the message itself lives in the DATA reader until it is stored. AUTH answers
 * follow RFC 4954: 235 2.7.0, 535 5.7.8 bad credentials, 454 4.7.0 when auth-service or
 * LDAP is down (or its lockout holds), 538 5.7.11 without TLS; credentials are wiped once
 * used and never logged. */
#include "lmtp_session.h"
#include "control/control.h"
#include "dedup.h"
#include "delivery.h"
#include "log/log.h"
#include "mailaddr/mailaddr.h"
#include "mailstore.h"
#include "net/net.h"
#include "pool/pool.h"
#include "saslauth/saslauth.h"
#include "smtpproto/smtpproto.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

struct lmtp_rcpt {
    const char *address;
    const char *detail;     /* +detail, NULL without one */
    long long account_id;
    struct lmtp_rcpt *next;
};

struct lmtp_session {
    const struct lmtp_settings *cfg;
    struct bufferevent *bev;
    pool_t *tx;             /* the transaction's: cleared at its end */
    char id[24];
    char peer[64];
    int lhlo_done;
    int loopback;
    int must_auth;          /* MAIL needs AUTH first */
    char account[256];      /* who authenticated; "" before AUTH */
    saslauth_t *sasl;       /* the AUTH exchange in progress */
    int auth_waiting;       /* the next line answers a 334 challenge */
    const char *sender;     /* NULL: no MAIL yet */
    struct lmtp_rcpt *rcpts, *rcpts_tail;
    int nrcpts;
    smtpproto_lines_t lines;
    smtpproto_data_t *data; /* non-NULL while reading DATA, or from the first BDAT on */
    /* BDAT: the chunk being read. A refused chunk is still read (RFC 3030: its bytes
     * are not commands), then answered with chunk_refusal. */
    int in_chunk, chunk_last;
    unsigned long long chunk_size, chunk_left;
    const char *chunk_refusal;
    int busy;               /* a worker holds the session */
    int in_process;         /* lmtp_process is running on it: not to be freed yet */
    int closing;            /* flush the output, then free */
    int dead;               /* the peer went away while busy */
    struct event *flush_timer;
    int flush_polls;
    struct lmtp_session *prev, *next;
};

/* Under TLS the last reply waits in the underlying connection, out of our callbacks: a
 * closing session polls it this often, this many times at most, before it is freed. */
#define LMTP_FLUSH_POLL_MS 20
#define LMTP_FLUSH_POLLS 250

static struct lmtp_session *lmtp_sessions;
static int lmtp_nsessions;
static unsigned long lmtp_serial;

static void lmtp_process(struct lmtp_session *s);

static void lmtp_reply(struct lmtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void lmtp_reply(struct lmtp_session *s, const char *fmt, ...)
{
    struct evbuffer *out = bufferevent_get_output(s->bev);
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(out, fmt, ap);
    va_end(ap);
    evbuffer_add(out, "\r\n", 2);
}

static void lmtp_free(struct lmtp_session *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        lmtp_sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    lmtp_nsessions--;
    metrics_set("lmtp_sessions", lmtp_nsessions);
    smtpproto_data_free(s->data);
    saslauth_free(s->sasl);
    if (s->flush_timer)
        event_free(s->flush_timer);
    bufferevent_free(s->bev);
    pool_destroy(s->tx);
    free(s);
}

static void lmtp_reset(struct lmtp_session *s)
{
    smtpproto_data_free(s->data);
    s->data = NULL;
    s->in_chunk = 0;
    s->chunk_refusal = NULL;
    s->sender = NULL;
    s->rcpts = s->rcpts_tail = NULL;
    s->nrcpts = 0;
    pool_clear(s->tx);
}

static void lmtp_try_free(struct lmtp_session *s);

static void lmtp_flush_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lmtp_try_free(arg);
}

/* A closing session goes once no worker holds it, lmtp_process is done with it and its
 * output is written (the TLS layer's included). */
static void lmtp_try_free(struct lmtp_session *s)
{
    if (s->busy || s->in_process)
        return; /* lmtp_release, or the end of lmtp_process, comes back here */
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
        return; /* lmtp_on_flushed comes back here */
    struct bufferevent *under = bufferevent_get_underlying(s->bev);
    if (under && evbuffer_get_length(bufferevent_get_output(under)) > 0 &&
        s->flush_polls++ < LMTP_FLUSH_POLLS &&
        (s->flush_timer ||
         (s->flush_timer = evtimer_new(bufferevent_get_base(s->bev), lmtp_flush_poll, s)))) {
        static const struct timeval poll = {0, LMTP_FLUSH_POLL_MS * 1000};
        evtimer_add(s->flush_timer, &poll);
        return;
    }
    lmtp_free(s);
}

static void lmtp_on_flushed(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct lmtp_session *s = arg;
    if (s->closing)
        lmtp_try_free(s);
}

/* Stops reading and frees the session once what it wrote has gone out. */
static void lmtp_close(struct lmtp_session *s)
{
    s->closing = 1;
    bufferevent_disable(s->bev, EV_READ);
    lmtp_try_free(s);
}

/* ---- RCPT: resolve on a worker ---- */

struct lmtp_rcpt_job {
    struct lmtp_session *s;
    const char *address, *detail;
    char *local;   /* whole, detail included: mailstore_resolve splits it */
    enum mailstore_status status;
    long long account_id;
};

static void lmtp_rcpt_work(void *arg)
{
    struct lmtp_rcpt_job *j = arg;
    j->status = mailstore_resolve(j->local, &j->detail, &j->account_id);
}

/* Ends a worker's hold on the session: frees it if the peer left, else reads on. */
static void lmtp_release(struct lmtp_session *s)
{
    s->busy = 0;
    if (s->dead) {
        lmtp_free(s);
        return;
    }
    if (s->closing) {
        lmtp_close(s);
        return;
    }
    bufferevent_enable(s->bev, EV_READ);
    lmtp_process(s);
}

static void lmtp_rcpt_done(void *arg)
{
    struct lmtp_rcpt_job *j = arg;
    struct lmtp_session *s = j->s;
    if (!s->dead) {
        if (j->status == MAILSTORE_OK) {
            struct lmtp_rcpt *r = pool_zalloc(s->tx, sizeof(*r));
            r->address = j->address;
            r->detail = j->detail;
            r->account_id = j->account_id;
            if (s->rcpts_tail)
                s->rcpts_tail->next = r;
            else
                s->rcpts = r;
            s->rcpts_tail = r;
            s->nrcpts++;
            lmtp_reply(s, "250 2.1.5 <%s> recipient ok", j->address);
        } else if (j->status == MAILSTORE_UNKNOWN) {
            log_emit(LOG_INFO, "lmtp.unknown_recipient", "session", s->id, "rcpt", j->address,
                     NULL);
            lmtp_reply(s, "550 5.1.1 <%s>: recipient unknown", j->address);
        } else {
            lmtp_reply(s, "451 4.3.0 <%s>: mailbox database unavailable, try again later",
                       j->address);
        }
    }
    lmtp_release(s);
}

/* ---- DATA: deliver on a worker ---- */

struct lmtp_data_job {
    struct lmtp_session *s;
    pool_t *pool;
    struct delivery_message msg;
    struct delivery_rcpt *rcpts;
    size_t n;
};

static void lmtp_data_work(void *arg)
{
    struct lmtp_data_job *j = arg;
    delivery_run(j->pool, &j->msg, j->rcpts, j->n);
}

/* The log event and metric label of a recipient's outcome. */
static const char *lmtp_outcome_name(const struct delivery_rcpt *rc)
{
    switch (rc->outcome) {
    case DELIVERY_DELIVERED:
        return rc->note == DELIVERY_NOTE_DUPLICATE   ? "duplicate"
               : rc->note == DELIVERY_NOTE_DISCARDED ? "discarded"
                                                     : "delivered";
    case DELIVERY_OVER_QUOTA:
        return "over_quota";
    case DELIVERY_REJECTED:
        return "rejected";
    case DELIVERY_TEMPFAIL:
        break;
    }
    return "deferred";
}

static void lmtp_data_done(void *arg)
{
    struct lmtp_data_job *j = arg;
    struct lmtp_session *s = j->s;
    char size[32];
    snprintf(size, sizeof(size), "%zu", j->msg.len);
    for (size_t i = 0; i < j->n; i++) {
        const struct delivery_rcpt *rc = &j->rcpts[i];
        const char *what = lmtp_outcome_name(rc);
        char uid[32], metric[80];
        snprintf(uid, sizeof(uid), "%lld", rc->uid);
        snprintf(metric, sizeof(metric), "lmtp_deliveries_total{result=\"%s\"}", what);
        metrics_add(metric, 1);
        log_emit(rc->outcome == DELIVERY_TEMPFAIL ? LOG_WARN : LOG_INFO,
                 pool_printf(j->pool, "lmtp.%s", what), "session", s->id, "from", s->sender,
                 "rcpt", rc->address, "mailbox", rc->mailbox, "uid", rc->mailbox ? uid : NULL,
                 "size", size, "reason", rc->reason, NULL);
        if (s->dead)
            continue;
        switch (rc->outcome) {
        case DELIVERY_DELIVERED:
            lmtp_reply(s, "250 2.1.5 <%s> delivered", rc->address);
            break;
        case DELIVERY_OVER_QUOTA:
            lmtp_reply(s, "552 5.2.2 <%s> mailbox is full (over quota)", rc->address);
            break;
        case DELIVERY_REJECTED:
            lmtp_reply(s, "550 5.7.1 <%s> %s", rc->address,
                       *rc->reason ? rc->reason : "rejected by the recipient's filter");
            break;
        case DELIVERY_TEMPFAIL:
            lmtp_reply(s, "451 4.3.0 <%s> could not be stored, try again later", rc->address);
            break;
        }
    }
    dedup_prune_maybe(s->cfg->workers);
    lmtp_reset(s);
    lmtp_release(s);
}

static void lmtp_data_finished(struct lmtp_session *s)
{
    const char *refusal = smtpproto_data_refusal(s->data);
    if (refusal) {
        /* RFC 2033: even a refused message gets one reply per accepted recipient. */
        for (struct lmtp_rcpt *r = s->rcpts; r; r = r->next)
            lmtp_reply(s, "%s", refusal);
        log_emit(LOG_INFO, "lmtp.refused", "session", s->id, "reason", refusal, NULL);
        lmtp_reset(s);
        return;
    }
    struct lmtp_data_job *j = pool_zalloc(s->tx, sizeof(*j));
    j->s = s;
    j->pool = s->tx;
    j->msg.sender = s->sender;
    j->msg.data = smtpproto_data_message(s->data, &j->msg.len);
    j->n = (size_t)s->nrcpts;
    j->rcpts = pool_zalloc(s->tx, j->n * sizeof(*j->rcpts));
    size_t i = 0;
    for (struct lmtp_rcpt *r = s->rcpts; r; r = r->next, i++) {
        j->rcpts[i].account_id = r->account_id;
        j->rcpts[i].address = r->address;
        j->rcpts[i].detail = r->detail;
    }
    s->busy = 1;
    bufferevent_disable(s->bev, EV_READ);
    if (workq_submit(s->cfg->workers, lmtp_data_work, lmtp_data_done, j) != 0) {
        s->busy = 0;
        for (i = 0; i < j->n; i++)
            lmtp_reply(s, "421 4.3.2 <%s> service shutting down", j->rcpts[i].address);
        lmtp_reset(s);
        lmtp_close(s);
    }
}

/* ---- STARTTLS and AUTH ---- */

static void lmtp_on_read(struct bufferevent *bev, void *arg);
static void lmtp_on_event(struct bufferevent *bev, short what, void *arg);

static void lmtp_set_bev(struct lmtp_session *s, struct bufferevent *bev)
{
    s->bev = bev;
    bufferevent_setcb(bev, lmtp_on_read, lmtp_on_flushed, lmtp_on_event, s);
    struct timeval tv = {s->cfg->command_timeout_s, 0};
    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* PLAIN and LOGIN carry the password in clear: only under TLS, or from loopback when the
 * development setting allows it. */
static int lmtp_plaintext_ok(const struct lmtp_session *s)
{
    return net_bev_is_tls(s->bev) || (s->loopback && s->cfg->allow_plaintext_loopback);
}

static void lmtp_cmd_starttls(struct lmtp_session *s)
{
    if (!s->cfg->tls) {
        lmtp_reply(s, "502 5.5.1 Command not implemented");
        return;
    }
    if (net_bev_is_tls(s->bev)) {
        lmtp_reply(s, "503 5.5.1 TLS already active");
        return;
    }
    lmtp_reply(s, "220 2.0.0 Ready to start TLS");
    struct bufferevent *tlsbev = net_starttls(s->bev, s->cfg->tls);
    if (!tlsbev) {
        log_emit(LOG_WARN, "lmtp.starttls_failed", "session", s->id, NULL);
        lmtp_close(s);
        return;
    }
    /* RFC 3207 4.2: everything learnt before TLS is forgotten. */
    s->lhlo_done = 0;
    lmtp_reset(s);
    smtpproto_lines_init(&s->lines, SMTPPROTO_COMMAND_MAX);
    lmtp_set_bev(s, tlsbev);
}

struct lmtp_auth_job {
    struct lmtp_session *s;
    const char *mech;  /* the first step's; NULL for an answer to a challenge */
    char *data;        /* base64 client data, or NULL (no initial response) */
    enum saslauth_status st;
};

static void lmtp_wipe(char *secret)
{
    if (secret)
        explicit_bzero(secret, strlen(secret));
}

static void lmtp_auth_work(void *arg)
{
    struct lmtp_auth_job *j = arg;
    j->st = j->mech ? saslauth_start(j->s->sasl, j->mech, j->data)
                    : saslauth_step(j->s->sasl, j->data);
}

static const char *lmtp_auth_failure(enum saslauth_status st, const char **reason)
{
    switch (st) {
    case SASLAUTH_FAILED:
        *reason = "credentials";
        return "535 5.7.8 Authentication credentials invalid";
    case SASLAUTH_THROTTLED:
        *reason = "throttled";
        return "454 4.7.0 Too many failed authentications, try again later";
    case SASLAUTH_NOMECH:
        *reason = "mechanism";
        return "504 5.5.4 Unrecognized authentication type";
    case SASLAUTH_BADPROT:
        *reason = "malformed";
        return "501 5.5.2 Cannot decode the authentication data";
    case SASLAUTH_CANCELLED:
        *reason = "cancelled";
        return "501 5.0.0 Authentication cancelled";
    default:
        *reason = "unavailable";
        return "454 4.7.0 Temporary authentication failure";
    }
}

static void lmtp_auth_done(void *arg)
{
    struct lmtp_auth_job *j = arg;
    struct lmtp_session *s = j->s;
    lmtp_wipe(j->data);
    if (s->dead) {
        lmtp_release(s);
        return;
    }
    if (j->st == SASLAUTH_CONTINUE) {
        s->auth_waiting = 1;
        lmtp_reply(s, "334 %s", saslauth_challenge(s->sasl));
        lmtp_release(s);
        return;
    }
    const char *user = saslauth_username(s->sasl);
    if (j->st == SASLAUTH_OK) {
        snprintf(s->account, sizeof(s->account), "%s", saslauth_account(s->sasl));
        metrics_add("lmtp_auth_total{result=\"ok\"}", 1);
        log_emit(LOG_INFO, "lmtp.auth", "session", s->id, "user", user, "account", s->account,
                 "client", s->peer, NULL);
        lmtp_reply(s, "235 2.7.0 Authentication successful");
    } else {
        const char *reason;
        const char *reply = lmtp_auth_failure(j->st, &reason);
        metrics_add(j->st == SASLAUTH_FAILED ? "lmtp_auth_total{result=\"failed\"}"
                                             : "lmtp_auth_total{result=\"other\"}",
                    1);
        log_emit(j->st == SASLAUTH_UNAVAILABLE ? LOG_WARN : LOG_INFO, "lmtp.auth_failed",
                 "session", s->id, "user", user, "client", s->peer, "reason", reason, NULL);
        lmtp_reply(s, "%s", reply);
    }
    saslauth_free(s->sasl);
    s->sasl = NULL;
    lmtp_release(s);
}

static void lmtp_auth_submit(struct lmtp_session *s, const char *mech, const char *data)
{
    struct lmtp_auth_job *j = pool_zalloc(s->tx, sizeof(*j));
    j->s = s;
    j->mech = mech ? pool_strdup(s->tx, mech) : NULL;
    j->data = data ? pool_strdup(s->tx, data) : NULL;
    s->busy = 1;
    bufferevent_disable(s->bev, EV_READ);
    if (workq_submit(s->cfg->workers, lmtp_auth_work, lmtp_auth_done, j) != 0) {
        s->busy = 0;
        lmtp_wipe(j->data);
        lmtp_reply(s, "421 4.3.2 Service shutting down");
        lmtp_close(s);
    }
}

/* AUTH mechanism [initial-response]; arg is wiped here, the job keeps its own copy. */
static void lmtp_cmd_auth(struct lmtp_session *s, char *arg)
{
    char *initial = arg + strcspn(arg, " ");
    if (*initial)
        *initial++ = 0;
    initial += strspn(initial, " ");
    const char *refusal = NULL;
    if (!s->cfg->sasl)
        refusal = "502 5.5.1 Command not implemented";
    else if (!s->lhlo_done)
        refusal = "503 5.5.1 Send LHLO first";
    else if (s->account[0])
        refusal = "503 5.5.1 Already authenticated";
    else if (s->sender)
        refusal = "503 5.5.1 AUTH not allowed during a mail transaction";
    else if (!*arg)
        refusal = "501 5.5.4 Syntax: AUTH mechanism [initial-response]";
    else if (!lmtp_plaintext_ok(s))
        /* Every mechanism offered sends the password in clear. */
        refusal = "538 5.7.11 Encryption required for requested authentication mechanism";
    else if (!(s->sasl = saslauth_new(s->peer, 1)))
        refusal = "454 4.7.0 Temporary authentication failure";
    if (refusal) {
        lmtp_wipe(initial);
        log_emit(LOG_INFO, "lmtp.auth_refused", "session", s->id, "client", s->peer, "reply",
                 refusal, NULL);
        lmtp_reply(s, "%s", refusal);
        return;
    }
    lmtp_auth_submit(s, arg, *initial ? initial : NULL);
    lmtp_wipe(initial);
}

/* The client's answer to a 334 challenge. */
static void lmtp_auth_line(struct lmtp_session *s, char *line)
{
    s->auth_waiting = 0;
    lmtp_auth_submit(s, NULL, line);
    lmtp_wipe(line);
}

/* ---- commands ---- */

static void lmtp_command(struct lmtp_session *s, char *line, size_t len)
{
    smtpproto_command_t cmd;
    const char *err = NULL;
    int parsed = smtpproto_parse(s->tx, line, len, &cmd, &err);
    if (parsed == 0 && cmd.verb == SMTPPROTO_AUTH) {
        lmtp_wipe(line);
        lmtp_cmd_auth(s, (char *)cmd.arg);
        return;
    }
    if (parsed != 0) {
        lmtp_reply(s, "%s", err);
        return;
    }
    switch (cmd.verb) {
    case SMTPPROTO_LHLO:
        s->lhlo_done = 1;
        lmtp_reset(s);
        lmtp_reply(s, "250-%s", s->cfg->hostname);
        lmtp_reply(s, "250-PIPELINING");
        lmtp_reply(s, "250-ENHANCEDSTATUSCODES");
        lmtp_reply(s, "250-8BITMIME");
        lmtp_reply(s, "250-SMTPUTF8");
        lmtp_reply(s, "250-CHUNKING");
        if (s->cfg->tls && !net_bev_is_tls(s->bev))
            lmtp_reply(s, "250-STARTTLS");
        if (s->cfg->sasl && *saslauth_mechanisms(lmtp_plaintext_ok(s)))
            lmtp_reply(s, "250-AUTH %s", saslauth_mechanisms(lmtp_plaintext_ok(s)));
        lmtp_reply(s, "250 SIZE %llu", s->cfg->size_limit);
        return;
    case SMTPPROTO_HELO:
    case SMTPPROTO_EHLO:
        lmtp_reply(s, "500 5.5.1 This is LMTP: use LHLO");
        return;
    case SMTPPROTO_MAIL: {
        if (!s->lhlo_done) {
            lmtp_reply(s, "503 5.5.1 Send LHLO first");
            return;
        }
        if (s->sender) {
            lmtp_reply(s, "503 5.5.1 Nested MAIL command");
            return;
        }
        if (s->must_auth && !s->account[0]) {
            log_emit(LOG_INFO, "lmtp.auth_required", "session", s->id, "client", s->peer, NULL);
            lmtp_reply(s, "530 5.7.0 Authentication required");
            return;
        }
        smtpproto_mail_params_t mp;
        if (smtpproto_mail_params(&cmd, s->cfg->size_limit, &mp, &err) != 0) {
            lmtp_reply(s, "%s", err);
            return;
        }
        s->sender = pool_strdup(s->tx, cmd.path);
        lmtp_reply(s, "250 2.1.0 Sender ok");
        return;
    }
    case SMTPPROTO_RCPT: {
        if (!s->sender) {
            lmtp_reply(s, "503 5.5.1 Need MAIL before RCPT");
            return;
        }
        if (smtpproto_rcpt_params(&cmd, &err) != 0) {
            lmtp_reply(s, "%s", err);
            return;
        }
        if (!cmd.addr.local || !*cmd.path) {
            lmtp_reply(s, "501 5.1.3 Bad recipient address syntax");
            return;
        }
        if (s->nrcpts >= s->cfg->recipient_limit) {
            lmtp_reply(s, "452 4.5.3 Too many recipients");
            return;
        }
        struct lmtp_rcpt_job *j = pool_zalloc(s->tx, sizeof(*j));
        j->s = s;
        j->address = pool_strdup(s->tx, cmd.path);
        j->local = mailaddr_local_full(s->tx, &cmd.addr);
        s->busy = 1;
        bufferevent_disable(s->bev, EV_READ);
        if (workq_submit(s->cfg->workers, lmtp_rcpt_work, lmtp_rcpt_done, j) != 0) {
            s->busy = 0;
            lmtp_reply(s, "421 4.3.2 Service shutting down");
            lmtp_close(s);
        }
        return;
    }
    case SMTPPROTO_DATA: {
        if (s->data) {
            lmtp_reply(s, "503 5.5.1 DATA cannot follow BDAT; send RSET");
            return;
        }
        if (!s->sender) {
            lmtp_reply(s, "503 5.5.1 Need MAIL command");
            return;
        }
        if (s->nrcpts == 0) {
            lmtp_reply(s, "554 5.5.1 No valid recipients");
            return;
        }
        smtpproto_data_opts_t o = {.size_limit = s->cfg->size_limit,
                                   .header_limit = s->cfg->header_limit,
                                   .bare_lf = s->cfg->bare_lf_reject ? SMTPPROTO_BARE_LF_REJECT
                                                                     : SMTPPROTO_BARE_LF_NORMALISE};
        s->data = smtpproto_data_new(&o);
        lmtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
        return;
    }
    case SMTPPROTO_BDAT:
        s->in_chunk = 1;
        s->chunk_size = s->chunk_left = cmd.chunk_size;
        s->chunk_last = cmd.last;
        if (!s->sender) {
            s->chunk_refusal = "503 5.5.1 Need MAIL command";
        } else if (s->nrcpts == 0) {
            s->chunk_refusal = "554 5.5.1 No valid recipients";
        } else if (!s->data) {
            smtpproto_data_opts_t o = {.size_limit = s->cfg->size_limit,
                                       .header_limit = s->cfg->header_limit,
                                       .bare_lf = s->cfg->bare_lf_reject
                                                      ? SMTPPROTO_BARE_LF_REJECT
                                                      : SMTPPROTO_BARE_LF_NORMALISE};
            s->data = smtpproto_data_new_chunked(&o);
        }
        return;
    case SMTPPROTO_RSET:
        lmtp_reset(s);
        lmtp_reply(s, "250 2.0.0 Ok");
        return;
    case SMTPPROTO_NOOP:
        lmtp_reply(s, "250 2.0.0 Ok");
        return;
    case SMTPPROTO_QUIT:
        lmtp_reply(s, "221 2.0.0 Bye");
        lmtp_close(s);
        return;
    case SMTPPROTO_VRFY:
        lmtp_reply(s, "252 2.5.2 Send some mail, I'll try my best");
        return;
    case SMTPPROTO_HELP:
        lmtp_reply(s, "214 2.0.0 LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY (RFC 2033)");
        return;
    case SMTPPROTO_STARTTLS:
        lmtp_cmd_starttls(s);
        return;
    case SMTPPROTO_AUTH:
        return; /* handled above, before anything could copy the credentials */
    }
}

/* Feeds all buffered DATA bytes to the reader, segment by segment, without copying,
 * until the buffer is empty or the final dot was seen. */
static void lmtp_feed_data(struct lmtp_session *s, struct evbuffer *in)
{
    while (evbuffer_get_length(in) > 0 && !smtpproto_data_done(s->data)) {
        struct evbuffer_iovec vec[16];
        int n = evbuffer_peek(in, -1, NULL, vec, 16);
        if (n > 16)
            n = 16;
        size_t total = 0;
        int stopped = 0;
        for (int i = 0; i < n && !stopped; i++) {
            size_t used = smtpproto_data_feed(s->data, vec[i].iov_base, vec[i].iov_len);
            total += used;
            stopped = used < vec[i].iov_len || smtpproto_data_done(s->data);
        }
        evbuffer_drain(in, total);
        if (total == 0)
            break;
    }
}

/* Reads what has arrived of the current BDAT chunk; 1 when the chunk is complete. */
static int lmtp_feed_chunk(struct lmtp_session *s, struct evbuffer *in)
{
    while (s->chunk_left > 0 && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec vec[16];
        int n = evbuffer_peek(in, -1, NULL, vec, 16);
        if (n > 16)
            n = 16;
        size_t total = 0;
        for (int i = 0; i < n && s->chunk_left > 0; i++) {
            size_t len = vec[i].iov_len;
            if (s->chunk_refusal) {
                size_t take = len < s->chunk_left ? len : (size_t)s->chunk_left;
                s->chunk_left -= take;
                total += take;
            } else {
                total += smtpproto_data_feed_chunk(s->data, vec[i].iov_base, len, &s->chunk_left);
            }
        }
        evbuffer_drain(in, total);
    }
    return s->chunk_left == 0;
}

static void lmtp_chunk_end(struct lmtp_session *s)
{
    s->in_chunk = 0;
    if (s->chunk_refusal) {
        lmtp_reply(s, "%s", s->chunk_refusal);
        s->chunk_refusal = NULL;
    } else if (s->chunk_last) {
        smtpproto_data_finish(s->data);
        lmtp_data_finished(s);
    } else {
        lmtp_reply(s, "250 2.0.0 %llu octets received", s->chunk_size);
    }
}

static void lmtp_process(struct lmtp_session *s)
{
    s->in_process = 1;
    while (!s->busy && !s->closing) {
        struct evbuffer *in = bufferevent_get_input(s->bev); /* STARTTLS replaces it */
        if (s->in_chunk) {
            if (!lmtp_feed_chunk(s, in))
                break;
            lmtp_chunk_end(s);
            continue;
        }
        size_t avail = evbuffer_get_length(in);
        if (avail == 0)
            break;
        if (s->data && !smtpproto_data_is_chunked(s->data)) {
            lmtp_feed_data(s, in);
            if (!smtpproto_data_done(s->data))
                break;
            lmtp_data_finished(s);
            continue;
        }
        size_t want = avail < 4096 ? avail : 4096;
        const char *buf = (const char *)evbuffer_pullup(in, (ssize_t)want);
        size_t linelen = 0, consumed = 0;
        enum smtpproto_line r = smtpproto_lines_next(&s->lines, buf, want, &linelen, &consumed);
        if (r == SMTPPROTO_LINE_OK) {
            char *line = pool_strndup(s->tx, buf, linelen);
            evbuffer_drain(in, consumed);
            if (s->auth_waiting)
                lmtp_auth_line(s, line);
            else
                lmtp_command(s, line, linelen);
        } else if (r == SMTPPROTO_LINE_TOO_LONG) {
            evbuffer_drain(in, consumed);
            lmtp_reply(s, "500 5.5.2 Line too long");
        } else {
            evbuffer_drain(in, consumed);
            if (consumed == 0)
                break;
        }
    }
    s->in_process = 0;
    if (s->closing)
        lmtp_try_free(s);
}

static void lmtp_on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    lmtp_process(arg);
}

static void lmtp_on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct lmtp_session *s = arg;
    if (what & BEV_EVENT_TIMEOUT) {
        log_emit(LOG_INFO, "lmtp.timeout", "session", s->id, NULL);
        if (s->busy)
            return; /* our own work is slow, not the client */
        lmtp_reply(s, "421 4.4.2 %s Error: timeout exceeded", s->cfg->hostname);
        lmtp_close(s);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (s->data || s->sender)
            log_emit(LOG_INFO, "lmtp.lost_connection", "session", s->id, NULL);
        if (s->busy) {
            s->dead = 1;
            bufferevent_disable(s->bev, EV_READ | EV_WRITE);
        } else {
            lmtp_free(s);
        }
    }
}

void lmtp_session_start(const struct lmtp_settings *settings, struct bufferevent *bev,
                        const char *peer, int is_loopback, int must_auth)
{
    struct lmtp_session *s = calloc(1, sizeof(*s));
    s->cfg = settings;
    s->tx = pool_create(0);
    s->loopback = is_loopback;
    s->must_auth = must_auth;
    snprintf(s->id, sizeof(s->id), "L%lx%04lx", (unsigned long)time(NULL), ++lmtp_serial & 0xffff);
    snprintf(s->peer, sizeof(s->peer), "%s", peer);
    smtpproto_lines_init(&s->lines, SMTPPROTO_COMMAND_MAX);
    s->next = lmtp_sessions;
    if (lmtp_sessions)
        lmtp_sessions->prev = s;
    lmtp_sessions = s;
    lmtp_nsessions++;
    metrics_set("lmtp_sessions", lmtp_nsessions);
    metrics_add("lmtp_connections_total", 1);
    lmtp_set_bev(s, bev);
    log_emit(LOG_INFO, "lmtp.connect", "session", s->id, "client", s->peer, "auth",
             must_auth ? "required" : NULL, NULL);
    lmtp_reply(s, "220 %s LMTP mailstack ready", settings->hostname);
}

int lmtp_session_count(void)
{
    return lmtp_nsessions;
}

void lmtp_session_close_all(void)
{
    struct lmtp_session *s = lmtp_sessions;
    while (s) {
        struct lmtp_session *next = s->next;
        if (!s->busy && !s->closing) {
            lmtp_reply(s, "421 4.3.2 %s Service shutting down", s->cfg->hostname);
            lmtp_close(s);
        } else {
            s->closing = 1;
        }
        s = next;
    }
}
