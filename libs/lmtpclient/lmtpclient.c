/* lmtpclient: the LMTP conversation behind lmtpclient.h over one non-blocking socket,
 * every wait bounded by poll(2). Commands go one at a time (no pipelining): a store is a
 * LAN hop away and one reply per command keeps the failure cases plain — whatever has no
 * reply when the connection dies stays at code 0, so the caller never mistakes it for
 * delivered. */
#include "lmtpclient/lmtpclient.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LMTPCLIENT_LINE_MAX 4096   /* RFC 5321 says 512; be generous, but bounded */
#define LMTPCLIENT_REPLY_LINES 100
#define LMTPCLIENT_OUT_CHUNK 65536

struct lmtpclient_conn {
    int fd;
    int timeout_ms;
    char in[LMTPCLIENT_LINE_MAX * 2];
    size_t inlen;
    char out[LMTPCLIENT_OUT_CHUNK];
    size_t outlen;
    char *err;
    size_t errlen;
};

/* What LHLO advertised that changes our MAIL command. */
struct lmtpclient_caps {
    int size, eightbit, smtputf8;
};

static int lmtpclient_fail(struct lmtpclient_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int lmtpclient_fail(struct lmtpclient_conn *c, const char *fmt, ...)
{
    if (c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int lmtpclient_wait(struct lmtpclient_conn *c, short events, const char *what)
{
    struct pollfd p = {.fd = c->fd, .events = events};
    for (;;) {
        int rc = poll(&p, 1, c->timeout_ms);
        if (rc > 0)
            return 0;
        if (rc == 0)
            return lmtpclient_fail(c, "timeout %s", what);
        if (errno != EINTR)
            return lmtpclient_fail(c, "poll: %s", strerror(errno));
    }
}

static int lmtpclient_connect_fd(struct lmtpclient_conn *c, const struct sockaddr *sa,
                                 socklen_t salen, int family)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    c->fd = fd;
    if (connect(fd, sa, salen) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EAGAIN)
        goto fail;
    if (lmtpclient_wait(c, POLLOUT, "connecting") != 0) {
        errno = ETIMEDOUT;
        goto fail;
    }
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
        errno = soerr ? soerr : errno;
        goto fail;
    }
    return 0;
fail:;
    int saved = errno;
    close(fd);
    c->fd = -1;
    errno = saved;
    return -1;
}

static int lmtpclient_connect(struct lmtpclient_conn *c, const char *host, int port)
{
    if (host[0] == '/') {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        if (strlen(host) >= sizeof(un.sun_path))
            return lmtpclient_fail(c, "socket path too long: %s", host);
        strcpy(un.sun_path, host);
        if (lmtpclient_connect_fd(c, (struct sockaddr *)&un, sizeof(un), AF_UNIX) != 0)
            return lmtpclient_fail(c, "connect to %s: %s", host, strerror(errno));
        return 0;
    }
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0)
        return lmtpclient_fail(c, "resolve %s: %s", host, gai_strerror(rc));
    int saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (lmtpclient_connect_fd(c, ai->ai_addr, ai->ai_addrlen, ai->ai_family) == 0) {
            freeaddrinfo(res);
            return 0;
        }
        saved = errno;
    }
    freeaddrinfo(res);
    return lmtpclient_fail(c, "connect to %s:%d: %s", host, port, strerror(saved));
}

static int lmtpclient_flush(struct lmtpclient_conn *c)
{
    size_t off = 0;
    while (off < c->outlen) {
        ssize_t w = send(c->fd, c->out + off, c->outlen - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (lmtpclient_wait(c, POLLOUT, "sending") != 0)
                return -1;
        } else {
            return lmtpclient_fail(c, "send: %s", w < 0 ? strerror(errno) : "closed");
        }
    }
    c->outlen = 0;
    return 0;
}

static int lmtpclient_put(struct lmtpclient_conn *c, const char *p, size_t n)
{
    while (n > 0) {
        size_t room = sizeof(c->out) - c->outlen;
        size_t k = n < room ? n : room;
        memcpy(c->out + c->outlen, p, k);
        c->outlen += k;
        p += k;
        n -= k;
        if (c->outlen == sizeof(c->out) && lmtpclient_flush(c) != 0)
            return -1;
    }
    return 0;
}

static int lmtpclient_command(struct lmtpclient_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int lmtpclient_command(struct lmtpclient_conn *c, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line) - 2)
        return lmtpclient_fail(c, "command too long");
    memcpy(line + n, "\r\n", 2);
    if (lmtpclient_put(c, line, (size_t)n + 2) != 0)
        return -1;
    return lmtpclient_flush(c);
}

/* One reply line into `line` (CR LF removed). */
static int lmtpclient_line(struct lmtpclient_conn *c, char *line, size_t size)
{
    for (;;) {
        char *lf = memchr(c->in, '\n', c->inlen);
        if (lf) {
            size_t n = (size_t)(lf - c->in);
            size_t keep = n;
            if (keep > 0 && c->in[keep - 1] == '\r')
                keep--;
            if (keep >= size)
                return lmtpclient_fail(c, "reply line too long");
            memcpy(line, c->in, keep);
            line[keep] = 0;
            memmove(c->in, lf + 1, c->inlen - n - 1);
            c->inlen -= n + 1;
            return 0;
        }
        if (c->inlen >= LMTPCLIENT_LINE_MAX)
            return lmtpclient_fail(c, "reply line too long");
        ssize_t r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
        if (r > 0) {
            c->inlen += (size_t)r;
        } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (lmtpclient_wait(c, POLLIN, "waiting for a reply") != 0)
                return -1;
        } else {
            return lmtpclient_fail(c, "connection lost: %s", r < 0 ? strerror(errno)
                                                                    : "closed by the server");
        }
    }
}

static void lmtpclient_caps_line(const char *text, struct lmtpclient_caps *caps)
{
    size_t n = strcspn(text, " ");
    if (n == 4 && strncasecmp(text, "SIZE", 4) == 0)
        caps->size = 1;
    else if (n == 8 && strncasecmp(text, "8BITMIME", 8) == 0)
        caps->eightbit = 1;
    else if (n == 8 && strncasecmp(text, "SMTPUTF8", 8) == 0)
        caps->smtputf8 = 1;
}

/* A whole (possibly multi-line) reply; LHLO's keywords go to caps when non-NULL. On
 * failure out->code stays 0. */
static int lmtpclient_reply(struct lmtpclient_conn *c, lmtp_reply_t *out,
                            struct lmtpclient_caps *caps)
{
    char line[LMTPCLIENT_LINE_MAX];
    size_t tlen = 0;
    int first = 0;
    out->code = 0;
    out->text[0] = 0;
    for (int i = 0; i < LMTPCLIENT_REPLY_LINES; i++) {
        if (lmtpclient_line(c, line, sizeof(line)) != 0)
            return -1;
        if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
            line[1] > '9' || line[2] < '0' || line[2] > '9' ||
            (line[3] && line[3] != ' ' && line[3] != '-'))
            return lmtpclient_fail(c, "malformed reply: %.80s", line);
        int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (i == 0)
            first = code;
        else if (code != first)
            return lmtpclient_fail(c, "inconsistent multi-line reply");
        const char *text = line[3] ? line + 4 : "";
        if (caps && i > 0)
            lmtpclient_caps_line(text, caps);
        if (tlen < sizeof(out->text) - 1) {
            int n = snprintf(out->text + tlen, sizeof(out->text) - tlen, "%s%s",
                             i ? "\n" : "", text);
            tlen = n < 0 ? tlen : tlen + (size_t)n;
            if (tlen >= sizeof(out->text))
                tlen = sizeof(out->text) - 1;
        }
        if (line[3] != '-') {
            out->code = code;
            return 0;
        }
    }
    return lmtpclient_fail(c, "reply has too many lines");
}

static int lmtpclient_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

/* The message, dot-stuffed: a dot after any LF (a bare one too, in case the server ends
 * lines there) or at the very start is doubled. */
static int lmtpclient_send_message(struct lmtpclient_conn *c, const char *msg, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '.' && (i == 0 || msg[i - 1] == '\n')) {
            if (lmtpclient_put(c, msg + start, i - start) != 0 || lmtpclient_put(c, ".", 1) != 0)
                return -1;
            start = i;
        }
    }
    if (lmtpclient_put(c, msg + start, len - start) != 0)
        return -1;
    if ((len < 2 || msg[len - 2] != '\r' || msg[len - 1] != '\n') && len > 0 &&
        lmtpclient_put(c, "\r\n", 2) != 0)
        return -1;
    if (lmtpclient_put(c, ".\r\n", 3) != 0)
        return -1;
    return lmtpclient_flush(c);
}

static void lmtpclient_copy(lmtp_reply_t *dst, const lmtp_reply_t *src)
{
    dst->code = src->code;
    memcpy(dst->text, src->text, sizeof(dst->text));
}

/* The conversation up to the final replies; returns 0 or -1 (connection problem). */
static int lmtpclient_session(struct lmtpclient_conn *c, const char *lhlo_name,
                              const char *mail_from, const char *const *rcpts, size_t n,
                              const char *msg, size_t msglen, lmtp_reply_t *replies)
{
    lmtp_reply_t r;
    struct lmtpclient_caps caps = {0, 0, 0};
    if (lmtpclient_reply(c, &r, NULL) != 0)
        return -1;
    if (r.code / 100 == 2) {
        if (lmtpclient_command(c, "LHLO %s", lhlo_name) != 0 ||
            lmtpclient_reply(c, &r, &caps) != 0)
            return -1;
    }
    int utf8 = !lmtpclient_ascii(mail_from);
    for (size_t i = 0; i < n && !utf8; i++)
        utf8 = !lmtpclient_ascii(rcpts[i]);
    if (r.code / 100 == 2) {
        char size[40] = "";
        if (caps.size)
            snprintf(size, sizeof(size), " SIZE=%zu", msglen);
        if (lmtpclient_command(c, "MAIL FROM:<%s>%s%s%s", mail_from, size,
                               caps.eightbit ? " BODY=8BITMIME" : "",
                               utf8 && caps.smtputf8 ? " SMTPUTF8" : "") != 0 ||
            lmtpclient_reply(c, &r, NULL) != 0)
            return -1;
    }
    if (r.code / 100 != 2) {
        /* Greeting, LHLO or MAIL refused: that answer is every recipient's. */
        for (size_t i = 0; i < n; i++)
            lmtpclient_copy(&replies[i], &r);
        return 0;
    }
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++) {
        if (lmtpclient_command(c, "RCPT TO:<%s>", rcpts[i]) != 0 ||
            lmtpclient_reply(c, &replies[i], NULL) != 0)
            return -1;
        if (replies[i].code / 100 == 2)
            accepted++;
    }
    if (accepted == 0)
        return 0;
    /* From here an accepted recipient has no answer until its post-DATA reply. */
    int *pending = calloc(n, sizeof(*pending));
    if (!pending)
        return lmtpclient_fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (replies[i].code / 100 == 2) {
            pending[i] = 1;
            replies[i].code = 0;
        }
    }
    int rc = -1;
    if (lmtpclient_command(c, "DATA") != 0 || lmtpclient_reply(c, &r, NULL) != 0)
        goto out;
    if (r.code != 354) {
        /* A 2xx here would read as "delivered" for mail never sent: a protocol error. */
        if (r.code / 100 != 4 && r.code / 100 != 5) {
            lmtpclient_fail(c, "unexpected reply to DATA: %d", r.code);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (pending[i])
                lmtpclient_copy(&replies[i], &r);
        rc = 0;
        goto out;
    }
    if (lmtpclient_send_message(c, msg, msglen) != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (pending[i] && lmtpclient_reply(c, &replies[i], NULL) != 0)
            goto out;
    rc = 0;
out:
    free(pending);
    return rc;
}

int lmtpclient_deliver(const char *host, int port, const char *lhlo_name,
                       const char *mail_from, const char *const *rcpts, size_t n,
                       const char *msg, size_t msglen, int timeout_ms, lmtp_reply_t *replies,
                       char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        replies[i].code = 0;
        replies[i].text[0] = 0;
    }
    if (errlen)
        err[0] = 0;
    struct lmtpclient_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    c->err = err;
    c->errlen = errlen;
    int rc = -1;
    if (lmtpclient_connect(c, host, port) == 0) {
        rc = lmtpclient_session(c, lhlo_name, mail_from, rcpts, n, msg, msglen, replies);
        c->errlen = 0; /* a failed QUIT must not put an error beside a 0 */
        if (rc == 0 && lmtpclient_command(c, "QUIT") == 0) {
            lmtp_reply_t bye;
            lmtpclient_reply(c, &bye, NULL); /* a missing 221 changes nothing */
        }
    }
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    return rc;
}
