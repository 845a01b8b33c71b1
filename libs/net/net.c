/* net: listeners, TLS and shutdown behind net.h, on libevent and OpenSSL. */
#include "net/net.h"
#include "config/config.h"
#include "log/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <event2/buffer.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* libevent offers no getter for a listener's callback argument, so each context is kept
 * on a list to be found again by net_listener_free. Listeners are made and freed on the
 * loop thread only. */
struct net_listener_ctx {
    net_accept_fn fn;
    void *arg;
    SSL_CTX *tls;
    struct evconnlistener *listener;
    struct net_listener_ctx *next;
};
static struct net_listener_ctx *net_listeners;

struct event_base *net_base_new(void)
{
    static int threads_ready;
    if (!threads_ready) {
        evthread_use_pthreads();
        /* A peer that closes mid-write must not kill the process. */
        signal(SIGPIPE, SIG_IGN);
        threads_ready = 1;
    }
    return event_base_new();
}

static int net_peer_text(const struct sockaddr *sa, char *buf, size_t len)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)len);
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)len);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return in6->sin6_addr.s6_addr[12] == 127;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    snprintf(buf, len, "unix");
    return 1;
}

static void net_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                          int salen, void *arg)
{
    (void)salen;
    struct net_listener_ctx *ctx = arg;
    struct event_base *base = evconnlistener_get_base(l);
    /* Replies are small and often pipelined: without this, Nagle holds each one back
     * until the previous is acknowledged (a 40 ms delayed-ACK stall per reply). */
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    char peer[INET6_ADDRSTRLEN + 1];
    int loopback = net_peer_text(sa, peer, sizeof(peer));
    struct bufferevent *bev;
    if (ctx->tls) {
        SSL *ssl = SSL_new(ctx->tls);
        if (!ssl) {
            evutil_closesocket(fd);
            return;
        }
        bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    } else {
        bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    }
    if (!bev) {
        evutil_closesocket(fd);
        return;
    }
    ctx->fn(bev, peer, loopback, ctx->arg);
}

static void net_on_listen_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    /* EMFILE and friends: log and keep listening; libevent retries on the next event. */
    log_emit(LOG_ERROR, "net.accept_failed", "error", strerror(errno), NULL);
}

static struct evconnlistener *net_listen_sa(struct event_base *base, struct sockaddr *sa,
                                            socklen_t salen, SSL_CTX *tls, net_accept_fn fn,
                                            void *arg, const char *what)
{
    struct net_listener_ctx *ctx = calloc(1, sizeof(*ctx));
    ctx->fn = fn;
    ctx->arg = arg;
    ctx->tls = tls;
    struct evconnlistener *l = evconnlistener_new_bind(
        base, net_on_accept, ctx, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        128, sa, (int)salen);
    if (!l) {
        log_emit(LOG_ERROR, "net.listen_failed", "address", what, "error", strerror(errno), NULL);
        free(ctx);
        return NULL;
    }
    evconnlistener_set_error_cb(l, net_on_listen_error);
    ctx->listener = l;
    ctx->next = net_listeners;
    net_listeners = ctx;
    log_emit(LOG_INFO, "net.listening", "address", what, "tls", tls ? "implicit" : "no", NULL);
    return l;
}

struct evconnlistener *net_listen_tcp(struct event_base *base, const char *addr, int port,
                                      SSL_CTX *tls, net_accept_fn fn, void *arg)
{
    if (!addr)
        addr = config_str("MAILSTACK_BIND_ADDR", "127.0.0.1");
    char what[300];
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t salen;
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, addr, &in6->sin6_addr) != 1)
            goto bad;
        salen = sizeof(*in6);
        snprintf(what, sizeof(what), "[%s]:%d", addr, port);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, addr, &in->sin_addr) != 1)
            goto bad;
        salen = sizeof(*in);
        snprintf(what, sizeof(what), "%s:%d", addr, port);
    }
    return net_listen_sa(base, (struct sockaddr *)&ss, salen, tls, fn, arg, what);
bad:
    log_emit(LOG_ERROR, "net.bad_address", "address", addr, NULL);
    return NULL;
}

void net_listener_free(struct evconnlistener *l)
{
    if (!l)
        return;
    for (struct net_listener_ctx **p = &net_listeners; *p; p = &(*p)->next) {
        if ((*p)->listener == l) {
            struct net_listener_ctx *ctx = *p;
            *p = ctx->next;
            free(ctx);
            break;
        }
    }
    evconnlistener_free(l);
}

struct evconnlistener *net_listen_unix(struct event_base *base, const char *path,
                                       net_accept_fn fn, void *arg)
{
    struct sockaddr_un un;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(un.sun_path)) {
        log_emit(LOG_ERROR, "net.bad_address", "address", path, "error", "path too long", NULL);
        return NULL;
    }
    strcpy(un.sun_path, path);
    /* A socket left by a previous run would make bind fail; only sockets are removed. */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    return net_listen_sa(base, (struct sockaddr *)&un, sizeof(un), NULL, fn, arg, path);
}

SSL_CTX *net_tls_server_ctx(const char *cert_file, const char *key_file)
{
    if (!cert_file || !key_file || !*cert_file || !*key_file)
        return NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char err[256];
        ERR_error_string_n(ERR_get_error(), err, sizeof(err));
        log_emit(LOG_ERROR, "net.tls_load_failed", "cert", cert_file, "error", err, NULL);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

struct bufferevent *net_starttls(struct bufferevent *bev, SSL_CTX *tls)
{
    /* Plaintext the client pipelined after STARTTLS must never be read as if it came
     * over TLS (the CVE-2011-0411 class of injection), so it is thrown away. */
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    SSL *ssl = SSL_new(tls);
    if (!ssl)
        return NULL;
    struct bufferevent *tlsbev = bufferevent_openssl_filter_new(
        bufferevent_get_base(bev), bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!tlsbev)
        SSL_free(ssl);
    return tlsbev;
}

int net_bev_is_tls(struct bufferevent *bev)
{
    return bufferevent_openssl_get_ssl(bev) != NULL;
}

struct net_shutdown {
    struct event_base *base;
    void (*on_stop)(void *);
    void *arg;
    int grace_ms;
    int fired;
    struct event *sigterm, *sigint, *idle_check;
    int (*busy)(void *);
    void *busy_arg;
};

static struct net_shutdown net_shutdown_state;

static void net_on_idle_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct net_shutdown *s = arg;
    if (!s->busy(s->busy_arg)) {
        event_del(s->idle_check);
        event_base_loopexit(s->base, NULL);
    }
}

static void net_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct net_shutdown *s = arg;
    if (s->fired) {
        event_base_loopbreak(s->base);
        return;
    }
    s->fired = 1;
    log_emit(LOG_INFO, "service.stopping", "signal", sig == SIGTERM ? "TERM" : "INT", NULL);
    if (s->on_stop)
        s->on_stop(s->arg);
    event_del(s->sigterm);
    event_del(s->sigint);
    struct timeval tv = {s->grace_ms / 1000, (s->grace_ms % 1000) * 1000};
    event_base_loopexit(s->base, &tv);
    if (s->busy) {
        struct timeval every = {0, 50000};
        s->idle_check = event_new(s->base, -1, EV_PERSIST, net_on_idle_check, s);
        event_add(s->idle_check, &every);
    }
}

void net_shutdown_when_idle(int (*busy)(void *arg), void *arg)
{
    net_shutdown_state.busy = busy;
    net_shutdown_state.busy_arg = arg;
}

void net_on_shutdown(struct event_base *base, void (*on_stop)(void *arg), void *arg,
                     int grace_ms)
{
    struct net_shutdown *s = &net_shutdown_state;
    s->base = base;
    s->on_stop = on_stop;
    s->arg = arg;
    s->grace_ms = grace_ms;
    s->sigterm = evsignal_new(base, SIGTERM, net_on_signal, s);
    s->sigint = evsignal_new(base, SIGINT, net_on_signal, s);
    event_add(s->sigterm, NULL);
    event_add(s->sigint, NULL);
}
