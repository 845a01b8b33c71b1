/* smtp_session: the ESMTP state machine behind smtp_session.h. Commands are handled one at
 * a time: while a lookup or a delivery runs on a worker the session stops reading, so
 * pipelined commands wait in the input buffer and replies keep their order. A session
 * with a job in flight is never freed under it; the job's completion frees it. Memory:
 * `cmd` holds one command's parse, `txn` one transaction, `pool` the connection.
 *
 * There is no queue yet: the final reply to DATA waits for the stores, and is 250 only
 * when every mailbox's store said 2xx. For the same reason a recipient that forwards to
 * an external address is refused with a 451 at RCPT rather than accepted and lost. */
#include "smtp_session.h"
#include "config/config.h"
#include "control/control.h"
#include "log/log.h"
#include "lookup.h"
#include "net/net.h"
#include "pool/pool.h"
#include "received.h"
#include "smtpproto/smtpproto.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define SMTP_PULLUP 4096
#define SMTP_OUTPUT_HIGH (1024 * 1024)
#define SMTP_FLUSH_POLL_MS 50
#define SMTP_FLUSH_POLLS 100   /* give up flushing a closing TLS session after 5 s */

struct smtp_rcpt {
    const char *address;    /* as the client gave it */
    struct lookup_result result;  /* its mailboxes: several for an alias or a group */
};

struct smtp_session {
    struct smtp_session *prev, *next;
    const struct smtp_settings *cfg;
    struct bufferevent *bev;   /* NULL once the connection is gone */
    pool_t *pool, *txn, *cmd;
    char id[16];
    char peer[64];
    char helo[256];
    int esmtp, tls;
    int errors;
    smtpproto_lines_t lines;
    smtpproto_data_t *data;    /* the message being read or delivered */
    int in_data, busy, closing, throttled;
    struct event *flush_timer;  /* TLS: waits for the layer below to flush */
    int flush_polls;
    /* the transaction */
    int have_mail, smtputf8;
    const char *sender;
    struct smtp_rcpt *rcpts;
    size_t nrcpt, rcpt_cap;
};

struct smtp_lookup {
    struct smtp_session *s;
    const char *address;   /* as given, for replies */
    const char *query;     /* what the directory is asked */
    pool_t *pool;          /* the worker's own: the loop thread owns txn meanwhile */
    enum lookup_status status;
    struct lookup_result result;
    const char *why;
};

struct smtp_delivery {
    struct smtp_session *s;
    pool_t *pool;
    char id[16];
    const char *sender, *received;
    const char *body;
    size_t len;
    struct relay_rcpt *rcpts;
    size_t n;
};

static struct smtp_session *smtp_sessions;
static int smtp_count;
static int smtp_stopping;

static void smtp_session_process(struct smtp_session *s);

static void smtp_reply(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
    if (!s->bev)
        return;
    struct evbuffer *out = bufferevent_get_output(s->bev);
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(out, fmt, ap);
    va_end(ap);
    evbuffer_add(out, "\r\n", 2);
}

static void smtp_random_id(char *out, size_t bytes)
{
    unsigned char rnd[8];
    if (bytes > sizeof(rnd))
        bytes = sizeof(rnd);
    if (getrandom(rnd, bytes, 0) != (ssize_t)bytes) {
        /* Only an id for logs and replies: uniqueness, not secrecy, matters. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(rnd, &ts.tv_nsec, bytes < sizeof(ts.tv_nsec) ? bytes : sizeof(ts.tv_nsec));
    }
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02X", rnd[i]);
}

static void smtp_session_reset(struct smtp_session *s)
{
    smtpproto_data_free(s->data);
    s->data = NULL;
    s->in_data = 0;
    s->have_mail = 0;
    s->smtputf8 = 0;
    s->sender = NULL;
    s->rcpts = NULL;
    s->nrcpt = s->rcpt_cap = 0;
    pool_clear(s->txn);
}

static void smtp_session_free(struct smtp_session *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        smtp_sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    smtp_count--;
    metrics_set("smtp_sessions", smtp_count);
    log_emit(LOG_INFO, "smtp.disconnect", "session", s->id, NULL);
    smtpproto_data_free(s->data);
    if (s->flush_timer)
        event_free(s->flush_timer);
    if (s->bev)
        bufferevent_free(s->bev);
    pool_destroy(s->txn);
    pool_destroy(s->cmd);
    pool_destroy(s->pool);
}

static void smtp_session_try_free(struct smtp_session *s);

static void smtp_session_on_flush_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    smtp_session_try_free(arg);
}

/* Frees the session once no job holds it and its last replies are written. Under TLS
 * the filter's output empties into the socket bufferevent below it, which has no
 * callback of ours, so that one is polled. */
static void smtp_session_try_free(struct smtp_session *s)
{
    if (s->busy)
        return;
    if (s->bev && evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
        return; /* the write callback comes back here */
    struct bufferevent *below = s->bev ? bufferevent_get_underlying(s->bev) : NULL;
    if (below && evbuffer_get_length(bufferevent_get_output(below)) > 0 &&
        s->flush_polls++ < SMTP_FLUSH_POLLS) {
        if (!s->flush_timer)
            s->flush_timer = evtimer_new(bufferevent_get_base(s->bev),
                                         smtp_session_on_flush_timer, s);
        struct timeval tv = {0, SMTP_FLUSH_POLL_MS * 1000};
        evtimer_add(s->flush_timer, &tv);
        return;
    }
    smtp_session_free(s);
}

static void smtp_session_close(struct smtp_session *s)
{
    s->closing = 1;
    if (s->bev)
        bufferevent_disable(s->bev, EV_READ);
    smtp_session_try_free(s);
}

static void smtp_session_on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    smtp_session_process(arg);
}

static void smtp_session_on_write(struct bufferevent *bev, void *arg)
{
    struct smtp_session *s = arg;
    if (s->closing) {
        smtp_session_try_free(s);
    } else if (s->throttled) {
        s->throttled = 0;
        bufferevent_enable(bev, EV_READ);
        smtp_session_process(s);
    }
}

static void smtp_session_on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct smtp_session *s = arg;
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && !s->closing) {
        log_emit(LOG_INFO, "smtp.timeout", "session", s->id, NULL);
        smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded", s->cfg->hostname);
        smtp_session_close(s);
        return;
    }
    if (!(what & (BEV_EVENT_TIMEOUT | BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return; /* BEV_EVENT_CONNECTED: the STARTTLS handshake is done */
    /* EOF, error or a client that stopped reading: nothing more can be said to it. */
    if (what & BEV_EVENT_ERROR)
        log_emit(LOG_INFO, "smtp.connection_error", "session", s->id, NULL);
    bufferevent_free(s->bev);
    s->bev = NULL;
    smtp_session_close(s);
}

static void smtp_session_set_bev(struct smtp_session *s, struct bufferevent *bev)
{
    s->bev = bev;
    bufferevent_setcb(bev, smtp_session_on_read, smtp_session_on_write, smtp_session_on_event,
                      s);
    struct timeval idle = {s->cfg->idle_timeout_s, 0};
    bufferevent_set_timeouts(bev, &idle, &idle);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* Re-arms reading after a job and carries on with what was pipelined meanwhile. */
static void smtp_session_resume(struct smtp_session *s)
{
    s->busy = 0;
    if (s->closing || !s->bev) {
        smtp_session_close(s);
        return;
    }
    bufferevent_enable(s->bev, EV_READ);
    smtp_session_process(s);
}

static int smtp_session_submit(struct smtp_session *s, workq_fn work, workq_fn done, void *job)
{
    if (workq_submit(s->cfg->workers, work, done, job) != 0)
        return -1;
    s->busy = 1;
    bufferevent_disable(s->bev, EV_READ);
    return 0;
}

/* A command that was refused; too many of them and the client is shown the door, as
 * Postfix's smtpd_hard_error_limit does (it also stops a BDAT chunk we never offered
 * from being read as commands for long). */
static void smtp_session_error(struct smtp_session *s, const char *reply)
{
    smtp_reply(s, "%s", reply);
    if (++s->errors >= s->cfg->error_limit) {
        log_emit(LOG_INFO, "smtp.too_many_errors", "session", s->id, NULL);
        smtp_reply(s, "421 4.7.0 %s Error: too many errors", s->cfg->hostname);
        smtp_session_close(s);
    }
}

/* ---- RCPT ---- */

/* How a recipient the lookup did not accept is counted, logged and answered. */
static const struct smtp_refusal {
    const char *result;
    enum log_level level;
    const char *code, *text;
} smtp_refusals[] = {
    [LOOKUP_UNKNOWN] = {"unknown", LOG_INFO, "550 5.1.1",
                        "Recipient address rejected: User unknown"},
    /* No outbound queue yet (issue 5): accepting would lose the forwarded copy. */
    [LOOKUP_FORWARD] = {"forward_unavailable", LOG_WARN, "451 4.3.0",
                        "Recipient forwards to another domain; forwarding not available yet, "
                        "try again later"},
    /* RFC 3463 X.4.6: routing loop detected. */
    [LOOKUP_LOOP] = {"alias_loop", LOG_WARN, "550 5.4.6",
                     "Recipient address rejected: alias loop or nesting too deep"},
    [LOOKUP_TOO_LARGE] = {"too_large", LOG_WARN, "550 5.5.3",
                          "Recipient address rejected: expands to too many recipients"},
    [LOOKUP_UNAVAILABLE] = {"tempfail", LOG_WARN, "451 4.3.0",
                            "Directory temporarily unavailable"},
};

static void smtp_lookup_work(void *arg)
{
    struct smtp_lookup *l = arg;
    l->status = lookup_recipient(l->pool, l->s->cfg->directory_url, l->query,
                                 l->s->cfg->lookup_timeout_ms, &l->result, &l->why);
}

/* The lookup's mailboxes, copied into the transaction; their LMTP recipients for the log. */
static const char *smtp_rcpt_add(struct smtp_session *s, const struct smtp_lookup *l)
{
    if (s->nrcpt == s->rcpt_cap) {
        size_t cap = s->rcpt_cap ? s->rcpt_cap * 2 : 8;
        struct smtp_rcpt *r = pool_alloc(s->txn, cap * sizeof(*r));
        if (s->nrcpt)
            memcpy(r, s->rcpts, s->nrcpt * sizeof(*r));
        s->rcpts = r;
        s->rcpt_cap = cap;
    }
    struct smtp_rcpt *r = &s->rcpts[s->nrcpt++];
    r->address = l->address;
    r->result.n = l->result.n;
    r->result.targets = pool_alloc(s->txn, l->result.n * sizeof(*r->result.targets));
    const char *maildrops = "";
    for (size_t i = 0; i < l->result.n; i++) {
        r->result.targets[i].lmtp_rcpt = pool_strdup(s->txn, l->result.targets[i].lmtp_rcpt);
        r->result.targets[i].host = pool_strdup(s->txn, l->result.targets[i].host);
        maildrops = pool_printf(l->pool, "%s%s%s", maildrops, i ? "," : "",
                                l->result.targets[i].lmtp_rcpt);
    }
    return maildrops;
}

static void smtp_lookup_done(void *arg)
{
    struct smtp_lookup *l = arg;
    struct smtp_session *s = l->s;
    if (l->status == LOOKUP_FOUND) {
        metrics_add("smtp_recipients_total{result=\"accepted\"}", 1);
        log_emit(LOG_INFO, "smtp.rcpt", "session", s->id, "to", l->address, "maildrop",
                 smtp_rcpt_add(s, l), "result", "accepted", NULL);
        smtp_reply(s, "250 2.1.5 Ok");
    } else {
        const struct smtp_refusal *r = &smtp_refusals[l->status];
        metrics_add(pool_printf(l->pool, "smtp_recipients_total{result=\"%s\"}", r->result), 1);
        log_emit(r->level, "smtp.rcpt", "session", s->id, "to", l->address, "result",
                 r->result, "error", l->why, NULL);
        smtp_reply(s, "%s <%s>: %s", r->code, l->address, r->text);
    }
    pool_destroy(l->pool);
    smtp_session_resume(s);
}

static void smtp_cmd_rcpt(struct smtp_session *s, const smtpproto_command_t *cmd)
{
    const char *reply;
    if (!s->have_mail) {
        smtp_session_error(s, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if (smtpproto_rcpt_params(cmd, &reply) != 0) {
        smtp_session_error(s, reply);
        return;
    }
    if (s->nrcpt >= s->cfg->recipient_limit) {
        smtp_reply(s, "452 4.5.3 Error: too many recipients");
        return;
    }
    const char *domain = cmd->addr.domain;
    const char *query = cmd->path;
    if (!domain) {
        /* RFC 5321 4.5.1: <Postmaster> without a domain must be accepted. */
        if (strcasecmp(cmd->addr.local, "postmaster") != 0 || cmd->addr.detail) {
            smtp_session_error(s, "501 5.1.3 Bad recipient address syntax");
            return;
        }
        domain = config_str("MAILSTACK_DOMAIN", "example.test");
        query = pool_printf(s->cmd, "postmaster@%s", domain);
    }
    if (!config_is_local_domain(domain)) {
        metrics_add("smtp_recipients_total{result=\"relay_denied\"}", 1);
        log_emit(LOG_INFO, "smtp.rcpt", "session", s->id, "to", cmd->path, "result",
                 "relay_denied", NULL);
        smtp_reply(s, "554 5.7.1 <%s>: Relay access denied", cmd->path);
        return;
    }
    pool_t *pool = pool_create(2048);
    struct smtp_lookup *l = pool_zalloc(pool, sizeof(*l));
    l->pool = pool;
    l->s = s;
    l->address = pool_strdup(s->txn, cmd->path);
    l->query = pool_strdup(pool, query);
    if (smtp_session_submit(s, smtp_lookup_work, smtp_lookup_done, l) != 0) {
        pool_destroy(pool);
        smtp_reply(s, "421 4.3.2 %s Service shutting down", s->cfg->hostname);
        smtp_session_close(s);
    }
}

/* ---- DATA ---- */

static void smtp_delivery_work(void *arg)
{
    struct smtp_delivery *d = arg;
    size_t hlen = strlen(d->received);
    char *msg = malloc(hlen + d->len);
    if (!msg)
        return; /* every recipient stays at code 0: deferred */
    memcpy(msg, d->received, hlen);
    memcpy(msg + hlen, d->body, d->len);
    relay_deliver(d->pool, &d->s->cfg->relay, d->sender, d->rcpts, d->n, msg, hlen + d->len);
    free(msg);
}

/* The final reply: 250 only if every recipient's store said 2xx; 554 when every one
 * refused for good (a retry cannot help); otherwise 451 so the client tries again. */
static void smtp_delivery_done(void *arg)
{
    struct smtp_delivery *d = arg;
    struct smtp_session *s = d->s;
    size_t ok = 0, permanent = 0;
    for (size_t i = 0; i < d->n; i++) {
        const struct relay_rcpt *r = &d->rcpts[i];
        char code[8];
        snprintf(code, sizeof(code), "%d", r->code);
        if (r->code / 100 == 2)
            ok++;
        else if (r->code / 100 == 5)
            permanent++;
        log_emit(r->code / 100 == 2 ? LOG_INFO : LOG_WARN, "smtp.lmtp_reply", "session", s->id,
                 "id", d->id, "to", r->lmtp_rcpt, "code", code, "reply", r->text, NULL);
    }
    char size[24], nrcpt[24];
    snprintf(size, sizeof(size), "%zu", d->len);
    snprintf(nrcpt, sizeof(nrcpt), "%zu", d->n);
    if (ok == d->n) {
        metrics_add("smtp_messages_total{result=\"delivered\"}", 1);
        log_emit(LOG_INFO, "smtp.accepted", "session", s->id, "id", d->id, "from", d->sender,
                 "nrcpt", nrcpt, "size", size, NULL);
        smtp_reply(s, "250 2.0.0 Ok: delivered as %s", d->id);
    } else if (ok == 0 && permanent == d->n) {
        metrics_add("smtp_messages_total{result=\"rejected\"}", 1);
        log_emit(LOG_WARN, "smtp.error", "session", s->id, "id", d->id, "from", d->sender,
                 "error", "every store refused the message", NULL);
        smtp_reply(s, "554 5.0.0 Error: the mailbox store refused the message");
    } else {
        metrics_add("smtp_messages_total{result=\"deferred\"}", 1);
        log_emit(LOG_WARN, "smtp.error", "session", s->id, "id", d->id, "from", d->sender,
                 "error", "delivery to the mailbox store failed", NULL);
        smtp_reply(s, "451 4.3.0 Error: mailbox store unavailable, try again later");
    }
    pool_destroy(d->pool);
    smtp_session_reset(s);
    smtp_session_resume(s);
}

static void smtp_session_data_end(struct smtp_session *s)
{
    s->in_data = 0;
    const char *refusal = smtpproto_data_refusal(s->data);
    if (refusal) {
        char seen[32];
        snprintf(seen, sizeof(seen), "%llu", smtpproto_data_seen(s->data));
        log_emit(LOG_INFO, "smtp.error", "session", s->id, "error", refusal, "size", seen, NULL);
        metrics_add("smtp_messages_total{result=\"refused\"}", 1);
        smtp_reply(s, "%s", refusal);
        smtp_session_reset(s);
        return;
    }
    if (smtpproto_data_flags(s->data) & SMTPPROTO_DATA_LONG_LINE)
        log_emit(LOG_WARN, "smtp.long_line", "session", s->id, NULL);
    pool_t *pool = pool_create(0);
    struct smtp_delivery *d = pool_zalloc(pool, sizeof(*d));
    d->s = s;
    d->pool = pool;
    smtp_random_id(d->id, 6);
    d->sender = pool_strdup(pool, s->sender);
    for (size_t i = 0; i < s->nrcpt; i++)
        d->n += s->rcpts[i].result.n;
    d->rcpts = pool_zalloc(pool, d->n * sizeof(*d->rcpts));
    size_t k = 0;
    for (size_t i = 0; i < s->nrcpt; i++)
        for (size_t j = 0; j < s->rcpts[i].result.n; j++, k++) {
            d->rcpts[k].lmtp_rcpt = pool_strdup(pool, s->rcpts[i].result.targets[j].lmtp_rcpt);
            d->rcpts[k].host = pool_strdup(pool, s->rcpts[i].result.targets[j].host);
        }
    struct received_info ri = {
        .helo = s->helo,
        .peer = s->peer,
        .hostname = s->cfg->hostname,
        .protocol = received_protocol(s->esmtp, s->tls, s->smtputf8),
        .id = d->id,
        .rcpt = s->nrcpt == 1 ? s->rcpts[0].address : NULL,
        .when = time(NULL),
    };
    d->received = received_header(pool, &ri);
    d->body = smtpproto_data_message(s->data, &d->len);
    if (smtp_session_submit(s, smtp_delivery_work, smtp_delivery_done, d) != 0) {
        pool_destroy(pool);
        smtp_reply(s, "421 4.3.2 %s Service shutting down", s->cfg->hostname);
        smtp_session_close(s);
    }
}

/* Feeds what arrived to the DATA reader; 1 when the caller should look at the input
 * again (something was consumed), 0 when it must wait for more. */
static int smtp_session_feed(struct smtp_session *s, struct evbuffer *in)
{
    struct evbuffer_iovec v[16];
    int nv = evbuffer_peek(in, -1, NULL, v, 16);
    size_t used = 0;
    for (int i = 0; i < nv && i < 16 && !smtpproto_data_done(s->data); i++)
        used += smtpproto_data_feed(s->data, v[i].iov_base, v[i].iov_len);
    evbuffer_drain(in, used);
    if (smtpproto_data_done(s->data))
        smtp_session_data_end(s);
    return used > 0;
}

static void smtp_cmd_data(struct smtp_session *s)
{
    if (!s->have_mail) {
        smtp_session_error(s, "503 5.5.1 Error: need MAIL command");
    } else if (s->nrcpt == 0) {
        smtp_session_error(s, "554 5.5.1 Error: no valid recipients");
    } else {
        smtpproto_data_opts_t opts = {s->cfg->size_limit, s->cfg->header_limit,
                                      s->cfg->bare_lf_reject ? SMTPPROTO_BARE_LF_REJECT
                                                             : SMTPPROTO_BARE_LF_NORMALISE};
        s->data = smtpproto_data_new(&opts);
        s->in_data = 1;
        smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
    }
}

/* ---- the other commands ---- */

static void smtp_cmd_ehlo(struct smtp_session *s, const smtpproto_command_t *cmd)
{
    snprintf(s->helo, sizeof(s->helo), "%s", cmd->arg);
    smtp_session_reset(s);
    if (cmd->verb == SMTPPROTO_HELO) {
        s->esmtp = 0;
        smtp_reply(s, "250 %s", s->cfg->hostname);
        return;
    }
    s->esmtp = 1;
    smtp_reply(s, "250-%s\r\n250-PIPELINING\r\n250-SIZE %zu\r\n%s250-ENHANCEDSTATUSCODES\r\n"
                  "250-8BITMIME\r\n250 SMTPUTF8",
               s->cfg->hostname, s->cfg->size_limit,
               s->cfg->tls && !s->tls ? "250-STARTTLS\r\n" : "");
}

static void smtp_cmd_mail(struct smtp_session *s, const smtpproto_command_t *cmd)
{
    smtpproto_mail_params_t params;
    const char *reply;
    if (s->have_mail) {
        smtp_session_error(s, "503 5.5.1 Error: nested MAIL command");
    } else if (smtpproto_mail_params(cmd, s->cfg->size_limit, &params, &reply) != 0) {
        smtp_session_error(s, reply);
    } else {
        s->have_mail = 1;
        s->smtputf8 = params.smtputf8;
        s->sender = pool_strdup(s->txn, cmd->path);
        log_emit(LOG_INFO, "smtp.mail", "session", s->id, "from", s->sender, NULL);
        smtp_reply(s, "250 2.1.0 Ok");
    }
}

static void smtp_cmd_starttls(struct smtp_session *s)
{
    if (!s->cfg->tls) {
        smtp_session_error(s, "502 5.5.1 Error: command not implemented");
        return;
    }
    if (s->tls) {
        smtp_session_error(s, "554 5.5.1 Error: TLS already active");
        return;
    }
    smtp_reply(s, "220 2.0.0 Ready to start TLS");
    struct bufferevent *tlsbev = net_starttls(s->bev, s->cfg->tls);
    if (!tlsbev) {
        log_emit(LOG_WARN, "smtp.starttls_failed", "session", s->id, NULL);
        smtp_session_close(s);
        return;
    }
    /* RFC 3207 4.2: everything learnt before TLS is forgotten. */
    s->tls = 1;
    s->helo[0] = 0;
    s->esmtp = 0;
    smtp_session_reset(s);
    smtpproto_lines_init(&s->lines, SMTPPROTO_COMMAND_MAX);
    smtp_session_set_bev(s, tlsbev);
}

static void smtp_session_command(struct smtp_session *s, const smtpproto_command_t *cmd)
{
    switch (cmd->verb) {
    case SMTPPROTO_EHLO:
    case SMTPPROTO_HELO:
        smtp_cmd_ehlo(s, cmd);
        break;
    case SMTPPROTO_LHLO:
        smtp_session_error(s, "500 5.5.2 Error: command not recognized");
        break;
    case SMTPPROTO_MAIL:
        smtp_cmd_mail(s, cmd);
        break;
    case SMTPPROTO_RCPT:
        smtp_cmd_rcpt(s, cmd);
        break;
    case SMTPPROTO_DATA:
        smtp_cmd_data(s);
        break;
    case SMTPPROTO_RSET:
        smtp_session_reset(s);
        smtp_reply(s, "250 2.0.0 Ok");
        break;
    case SMTPPROTO_NOOP:
        smtp_reply(s, "250 2.0.0 Ok");
        break;
    case SMTPPROTO_QUIT:
        smtp_reply(s, "221 2.0.0 Bye");
        smtp_session_close(s);
        break;
    case SMTPPROTO_VRFY:
        smtp_reply(s, "252 2.0.0 Cannot VRFY user, but will accept message and attempt "
                      "delivery");
        break;
    case SMTPPROTO_HELP:
        smtp_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP%s",
                   s->cfg->tls && !s->tls ? " STARTTLS" : "");
        break;
    case SMTPPROTO_STARTTLS:
        smtp_cmd_starttls(s);
        break;
    case SMTPPROTO_AUTH:
        smtp_session_error(s, "503 5.5.1 Error: authentication not enabled");
        break;
    case SMTPPROTO_BDAT:
        smtp_session_error(s, "502 5.5.1 Error: command not implemented");
        break;
    }
}

static void smtp_session_process(struct smtp_session *s)
{
    while (s->bev && !s->busy && !s->closing) {
        struct evbuffer *in = bufferevent_get_input(s->bev);
        size_t len = evbuffer_get_length(in);
        if (len == 0)
            return;
        if (evbuffer_get_length(bufferevent_get_output(s->bev)) > SMTP_OUTPUT_HIGH) {
            /* The client pipelines without reading replies: wait for it. */
            s->throttled = 1;
            bufferevent_disable(s->bev, EV_READ);
            return;
        }
        if (s->in_data) {
            if (!smtp_session_feed(s, in))
                return;
            continue;
        }
        if (smtp_stopping && !s->have_mail) {
            smtp_reply(s, "421 4.3.2 %s Service shutting down", s->cfg->hostname);
            smtp_session_close(s);
            return;
        }
        size_t want = len < SMTP_PULLUP ? len : SMTP_PULLUP;
        const char *buf = (const char *)evbuffer_pullup(in, (ssize_t)want);
        size_t linelen, used;
        enum smtpproto_line kind = smtpproto_lines_next(&s->lines, buf, want, &linelen, &used);
        if (kind == SMTPPROTO_LINE_NONE) {
            evbuffer_drain(in, used);
            if (used == 0)
                return;
            continue;
        }
        if (kind == SMTPPROTO_LINE_TOO_LONG) {
            evbuffer_drain(in, used);
            smtp_session_error(s, "500 5.5.2 Error: command line too long");
            continue;
        }
        smtpproto_command_t cmd;
        const char *reply;
        pool_clear(s->cmd);
        int rc = smtpproto_parse(s->cmd, buf, linelen, &cmd, &reply);
        evbuffer_drain(in, used);
        if (rc != 0)
            smtp_session_error(s, reply);
        else
            smtp_session_command(s, &cmd);
    }
}

void smtp_session_start(const struct smtp_settings *settings, struct bufferevent *bev,
                        const char *peer)
{
    pool_t *pool = pool_create(0);
    struct smtp_session *s = pool_zalloc(pool, sizeof(*s));
    s->cfg = settings;
    s->pool = pool;
    s->txn = pool_create(0);
    s->cmd = pool_create(2048);
    smtp_random_id(s->id, 5);
    snprintf(s->peer, sizeof(s->peer), "%s", peer);
    smtpproto_lines_init(&s->lines, SMTPPROTO_COMMAND_MAX);
    s->next = smtp_sessions;
    if (smtp_sessions)
        smtp_sessions->prev = s;
    smtp_sessions = s;
    smtp_count++;
    metrics_set("smtp_sessions", smtp_count);
    metrics_add("smtp_connections_total", 1);
    log_emit(LOG_INFO, "smtp.connect", "session", s->id, "peer", s->peer, NULL);
    smtp_session_set_bev(s, bev);
    if (smtp_stopping) {
        smtp_reply(s, "421 4.3.2 %s Service shutting down", settings->hostname);
        smtp_session_close(s);
        return;
    }
    smtp_reply(s, "220 %s ESMTP mailstack", settings->hostname);
}

int smtp_session_count(void)
{
    return smtp_count;
}

void smtp_session_close_all(void)
{
    smtp_stopping = 1;
    for (struct smtp_session *s = smtp_sessions, *next; s; s = next) {
        next = s->next;
        if (!s->busy && !s->have_mail && !s->closing) {
            smtp_reply(s, "421 4.3.2 %s Service shutting down", s->cfg->hostname);
            smtp_session_close(s);
        }
    }
}
