/* session: the IMAP connection behind session.h. Input is parsed only when the parser
 * said enough bytes are there; output is flow-controlled (no new command while more than
 * SESSION_OUTPUT_HIGH waits for the client). A session with a worker job in flight is
 * never freed under the job: closing waits for the job to come back. */
#include "session.h"
#include "command.h"
#include "control/control.h"
#include "gateway.h"
#include "log/log.h"
#include "net/net.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SESSION_OUTPUT_HIGH (1024 * 1024)
#define SESSION_OUTPUT_LOW (64 * 1024)
#define SESSION_TLS_BUFFER (256 * 1024)
#define SESSION_WRITE_TIMEOUT_S 300
#define SESSION_FLUSH_POLL_MS 50
#define SESSION_FLUSH_POLLS 100   /* give up flushing a closed session after 5 s */
/* Before login no command needs a big literal (APPEND needs a login), so an anonymous
 * client cannot make the server buffer a message-sized one. */
#define SESSION_PREAUTH_LITERAL (64 * 1024)

struct session_job {
    struct session *s;
    void (*work)(void *);
    void (*done)(void *);
    void *arg;
};

static struct session *session_list;
static int session_total;
static unsigned long session_seq;

static void session_process(struct session *s);
static void session_try_free(struct session *s);

static void session_on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    session_process(arg);
}

static void session_on_write(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;
    if (s->closing) {
        session_try_free(s);
        return;
    }
    (void)bev;
    if (s->on_drained && session_output_pending(s) <= SESSION_OUTPUT_LOW) {
        void (*fn)(struct session *) = s->on_drained;
        s->on_drained = NULL;
        fn(s);
    }
}

static void session_close(struct session *s)
{
    s->closing = 1;
    s->on_drained = NULL;
    bufferevent_disable(s->bev, EV_READ);
    session_try_free(s);
}

static void session_drop(struct session *s)
{
    s->dropped = 1;
    session_close(s);
}

static void session_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;
    if (what & BEV_EVENT_TIMEOUT) {
        if (!(what & BEV_EVENT_READING)) {
            session_drop(s); /* the client stopped reading what we send */
        } else if (s->busy && !s->closing && !s->on_line) {
            /* A long command (a big FETCH) is running: the client is not idle. */
            bufferevent_enable(bev, EV_READ);
        } else if (!s->closing) {
            log_emit(LOG_INFO, "imap.autologout", "session", s->id, NULL);
            metrics_add("imap_autologouts_total", 1);
            session_bye(s, "Autologout; idle for too long");
        }
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        session_drop(s);
}

static void session_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct session *s = arg;
    if (s->closing) {
        session_try_free(s);
        return;
    }
    void (*fn)(struct session *) = s->timer_fn;
    s->timer_fn = NULL;
    if (fn)
        fn(s);
}

static void session_set_idle_timeout(struct session *s)
{
    long idle = s->state == SESSION_NOTAUTH ? gateway.login_timeout_s : gateway.idle_timeout_s;
    struct timeval rd = {idle, 0}, wr = {SESSION_WRITE_TIMEOUT_S, 0};
    bufferevent_set_timeouts(s->bev, &rd, &wr);
}

static imapproto_parser_t *session_parser(const struct session *s)
{
    imapproto_limits_t lim = {.max_line = (size_t)gateway.max_line,
                              .max_literal = s->state == SESSION_NOTAUTH
                                                 ? SESSION_PREAUTH_LITERAL
                                                 : (size_t)gateway.max_literal};
    return imapproto_parser_new(&lim);
}

void session_authenticated(struct session *s)
{
    s->state = SESSION_AUTH;
    session_set_idle_timeout(s);
    /* Between commands the parser holds nothing, so it can simply be replaced. */
    imapproto_parser_free(s->parser);
    s->parser = session_parser(s);
}

static void session_setup_bev(struct session *s, struct bufferevent *bev)
{
    s->bev = bev;
    bufferevent_setcb(bev, session_on_read, session_on_write, session_on_event, s);
    /* The read limit leaves room for one whole command: its longest literal and lines. */
    bufferevent_setwatermark(bev, EV_READ, 0,
                             (size_t)(gateway.max_literal + gateway.max_line) + 65536);
    bufferevent_setwatermark(bev, EV_WRITE, SESSION_OUTPUT_LOW, 0);
    /* Under TLS, keep unsent output above the TLS filter, where the write callback and
     * the flow control see it. */
    struct bufferevent *under = bufferevent_get_underlying(bev);
    if (under)
        bufferevent_setwatermark(under, EV_WRITE, 0, SESSION_TLS_BUFFER);
    session_set_idle_timeout(s);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

void session_accept(struct bufferevent *bev, const char *peer, int is_loopback, void *arg)
{
    (void)arg;
    struct session *s = calloc(1, sizeof(*s));
    if (!s) {
        bufferevent_free(bev);
        return;
    }
    s->pool = pool_create(0);
    s->cmd = pool_create(0);
    s->batch = pool_create(0);
    s->batch_out = evbuffer_new();
    s->state = SESSION_NOTAUTH;
    s->parser = session_parser(s);
    s->loopback = is_loopback;
    snprintf(s->peer, sizeof(s->peer), "%s", peer);
    snprintf(s->id, sizeof(s->id), "%lx-%lu", (unsigned long)getpid(), ++session_seq);
    s->timer = evtimer_new(bufferevent_get_base(bev), session_on_timer, s);
    s->next = session_list;
    if (session_list)
        session_list->prev = s;
    session_list = s;
    session_total++;
    metrics_set("imap_sessions", session_total);
    metrics_add("imap_connections_total", 1);
    session_setup_bev(s, bev);
    log_emit(LOG_INFO, "imap.connect", "session", s->id, "client", s->peer, NULL);
    session_printf(s, "* OK [CAPABILITY %s] mailstack IMAP4rev1 server ready",
                   session_capability(s));
}

static void session_free(struct session *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        session_list = s->next;
    if (s->next)
        s->next->prev = s->prev;
    session_total--;
    metrics_set("imap_sessions", session_total);
    log_emit(LOG_INFO, "imap.disconnect", "session", s->id, "account", s->account, NULL);
    bufferevent_free(s->bev);
    event_free(s->timer);
    saslauth_free(s->sasl);
    imapproto_parser_free(s->parser);
    pool_destroy(s->mbox.pool);
    pool_destroy(s->cmd);
    pool_destroy(s->batch);
    evbuffer_free(s->batch_out);
    pool_destroy(s->pool);
    free(s);
}

size_t session_output_pending(struct session *s)
{
    return evbuffer_get_length(bufferevent_get_output(s->bev));
}

/* All output not yet handed to the kernel, the TLS layer's included. */
static size_t session_unflushed(struct session *s)
{
    size_t n = session_output_pending(s);
    struct bufferevent *under = bufferevent_get_underlying(s->bev);
    if (under)
        n += evbuffer_get_length(bufferevent_get_output(under));
    return n;
}

/* A closing session goes once its job is back and its output is written (polled, since
 * under TLS the last bytes sit in the underlying connection, out of our callbacks). */
static void session_try_free(struct session *s)
{
    static const struct timeval poll = {0, SESSION_FLUSH_POLL_MS * 1000};
    if (s->jobs || s->in_process)
        return; /* the job's return, or the end of session_process, comes back here */
    if (!s->dropped && session_unflushed(s) > 0 && s->flush_polls < SESSION_FLUSH_POLLS) {
        s->flush_polls++;
        s->timer_fn = NULL;
        evtimer_add(s->timer, &poll);
        return;
    }
    session_free(s);
}

void session_write(struct session *s, const void *data, size_t len)
{
    if (!s->dropped)
        evbuffer_add(bufferevent_get_output(s->bev), data, len);
}

static void session_vprintf(struct session *s, const char *prefix, const char *fmt, va_list ap)
{
    if (s->dropped)
        return;
    struct evbuffer *out = bufferevent_get_output(s->bev);
    if (prefix)
        evbuffer_add_printf(out, "%s ", prefix);
    evbuffer_add_vprintf(out, fmt, ap);
    evbuffer_add(out, "\r\n", 2);
}

void session_printf(struct session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    session_vprintf(s, NULL, fmt, ap);
    va_end(ap);
}

void session_done(struct session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    session_vprintf(s, s->tag ? s->tag : "*", fmt, ap);
    va_end(ap);
    s->busy = 0;
    s->tag = s->command = NULL;
    s->cmd_state = NULL;
    s->on_drained = NULL;
    s->on_line = NULL;
    pool_clear(s->cmd);
    if (!s->in_process && !s->closing)
        session_process(s);
}

void session_bye(struct session *s, const char *text)
{
    session_printf(s, "* BYE %s", text);
    session_close(s);
}

void session_logout(struct session *s)
{
    session_printf(s, "* BYE LOGOUT received");
    session_done(s, "OK LOGOUT completed");
    session_close(s);
}

static void session_job_work(void *arg)
{
    struct session_job *j = arg;
    j->work(j->arg);
}

static void session_job_done(void *arg)
{
    struct session_job *j = arg;
    struct session *s = j->s;
    s->jobs--;
    if (s->closing) {
        session_try_free(s);
        return;
    }
    j->done(j->arg);
}

int session_submit(struct session *s, void (*work)(void *), void (*done)(void *), void *arg)
{
    struct session_job *j = pool_alloc(s->cmd, sizeof(*j));
    *j = (struct session_job){s, work, done, arg};
    if (workq_submit(gateway.workers, session_job_work, session_job_done, j) != 0)
        return -1;
    s->jobs++;
    return 0;
}

void session_read_line(struct session *s, void (*fn)(struct session *s, char *line))
{
    s->on_line = fn;
    if (!s->in_process)
        session_process(s);
}

void session_after(struct session *s, long ms, void (*fn)(struct session *s))
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    s->timer_fn = fn;
    evtimer_add(s->timer, &tv);
}

void session_when_drained(struct session *s, void (*fn)(struct session *s))
{
    s->on_drained = fn;
}

int session_login_allowed(const struct session *s)
{
    return net_bev_is_tls(s->bev) || (s->loopback && gateway.allow_plaintext_loopback);
}

/* Before login: SASL-IR and the mechanisms libsasl2 allows on this connection (none in
 * plaintext, unless on loopback with the dev setting), with LOGINDISABLED to match. */
const char *session_capability(struct session *s)
{
    static char caps[512];
    int tls = net_bev_is_tls(s->bev);
    char mechs[256] = "";
    if (s->state == SESSION_NOTAUTH) {
        const char *list = saslauth_mechanisms(session_login_allowed(s));
        size_t used = 0;
        for (const char *m = list; *m;) {
            size_t n = strcspn(m, " ");
            used += (size_t)snprintf(mechs + used, sizeof(mechs) - used, " AUTH=%.*s", (int)n, m);
            if (used >= sizeof(mechs))
                break;
            m += n;
            m += strspn(m, " ");
        }
    }
    snprintf(caps, sizeof(caps), "IMAP4rev1 LITERAL+ ID NAMESPACE UNSELECT CHILDREN%s%s%s%s",
             s->state == SESSION_NOTAUTH ? " SASL-IR" : "", mechs,
             s->state == SESSION_NOTAUTH && gateway.tls && !tls ? " STARTTLS" : "",
             s->state == SESSION_NOTAUTH && !session_login_allowed(s) ? " LOGINDISABLED" : "");
    return caps;
}

void session_starttls(struct session *s)
{
    struct bufferevent *tls = net_starttls(s->bev, gateway.tls);
    if (!tls) {
        log_emit(LOG_WARN, "imap.starttls_failed", "session", s->id, NULL);
        session_drop(s);
        return;
    }
    imapproto_parser_reset(s->parser);
    s->need = 0;
    session_setup_bev(s, tls);
    log_emit(LOG_INFO, "imap.starttls", "session", s->id, NULL);
}

void session_unselect(struct session *s)
{
    pool_destroy(s->mbox.pool);
    memset(&s->mbox, 0, sizeof(s->mbox));
    if (s->state == SESSION_SELECTED)
        s->state = SESSION_AUTH;
}

static void session_resume(struct session *s)
{
    session_process(s);
}

static void session_bad_input(struct session *s, const imapproto_result_t *r)
{
    metrics_add("imap_protocol_errors_total", 1);
    log_emit(LOG_INFO, "imap.bad_command", "session", s->id, "reason", r->error, NULL);
    if (r->error_kind == IMAPPROTO_ERR_TOOBIG)
        session_printf(s, "%s NO [TOOBIG] %s", r->tag ? r->tag : "*", r->error);
    else
        session_printf(s, "%s BAD %s", r->tag ? r->tag : "*", r->error);
    pool_clear(s->cmd);
}

/* For session_read_line: 1 when a line (or the verdict that it is too long) was handed
 * over, 0 when more input is needed. */
static int session_take_line(struct session *s, struct evbuffer *in)
{
    size_t eol_len = 0;
    struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
    void (*fn)(struct session *, char *) = s->on_line;
    if (eol.pos < 0 || (size_t)eol.pos > (size_t)gateway.max_line) {
        if (eol.pos < 0 && evbuffer_get_length(in) <= (size_t)gateway.max_line)
            return 0;
        evbuffer_drain(in, evbuffer_get_length(in));
        s->on_line = NULL;
        fn(s, NULL);
        return 1;
    }
    char *line = pool_alloc(s->cmd, (size_t)eol.pos + 1);
    evbuffer_remove(in, line, (size_t)eol.pos);
    line[eol.pos] = 0;
    evbuffer_drain(in, eol_len);
    s->on_line = NULL;
    fn(s, line);
    return 1;
}

static void session_process(struct session *s)
{
    if (s->in_process)
        return;
    s->in_process = 1;
    while ((!s->busy || s->on_line) && !s->closing) {
        if (session_output_pending(s) > SESSION_OUTPUT_HIGH) {
            session_when_drained(s, session_resume);
            break;
        }
        struct evbuffer *in = bufferevent_get_input(s->bev);
        if (s->on_line) {
            if (!session_take_line(s, in))
                break;
            continue;
        }
        size_t len = evbuffer_get_length(in);
        if (len == 0 || len < s->need)
            break;
        const unsigned char *buf = evbuffer_pullup(in, -1);
        imapproto_result_t r = imapproto_parse(s->parser, buf, len, s->cmd);
        evbuffer_drain(in, r.consumed);
        s->need = 0;
        if (r.status == IMAPPROTO_MORE) {
            s->need = r.need;
            if (!r.consumed)
                break;
        } else if (r.status == IMAPPROTO_CONTINUE) {
            s->need = r.need;
            session_printf(s, "+ Ready for literal data");
            break;
        } else if (r.status == IMAPPROTO_ERROR) {
            session_bad_input(s, &r);
        } else {
            s->busy = 1;
            s->tag = r.command->tag;
            s->command = r.command->name;
            command_dispatch(s, r.command);
        }
    }
    s->in_process = 0;
    if (s->closing)
        session_try_free(s);
}

void session_shutdown_all(const char *text)
{
    for (struct session *s = session_list, *next; s; s = next) {
        next = s->next;
        if (!s->closing)
            session_bye(s, text);
    }
}

void session_free_all(void)
{
    while (session_list)
        session_free(session_list);
}

int session_count(void)
{
    return session_total;
}
