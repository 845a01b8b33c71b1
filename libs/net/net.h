/* net: the event loop and listeners every service shares (libevent + OpenSSL): TCP and
 * UNIX-socket listeners handing out bufferevents, TLS server contexts, STARTTLS upgrade of
 * a live connection, and SIGTERM/SIGINT handling that stops the loop gracefully. */
#ifndef MAILSTACK_NET_H
#define MAILSTACK_NET_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <sys/socket.h>

/* An event_base with pthreads enabled (for workq). */
struct event_base *net_base_new(void);

/* Called for each accepted connection with a fresh bufferevent (BEV_OPT_CLOSE_ON_FREE)
 * and the peer's address as text ("127.0.0.1", "::1", or "unix"). */
typedef void (*net_accept_fn)(struct bufferevent *bev, const char *peer, int is_loopback,
                              void *arg);

/* addr NULL = MAILSTACK_BIND_ADDR or 127.0.0.1. Returns NULL (and logs) on failure. If
 * tls is non-NULL the connection is TLS from the first byte (implicit TLS). */
struct evconnlistener *net_listen_tcp(struct event_base *base, const char *addr, int port,
                                      SSL_CTX *tls, net_accept_fn fn, void *arg);
struct evconnlistener *net_listen_unix(struct event_base *base, const char *path,
                                       net_accept_fn fn, void *arg);
/* Closes a listener made by net_listen_* and frees what net keeps for it. NULL is fine. */
void net_listener_free(struct evconnlistener *l);

/* A server TLS context from PEM files; NULL (and logged) when they cannot be loaded. */
SSL_CTX *net_tls_server_ctx(const char *cert_file, const char *key_file);

/* Wraps a plaintext bufferevent in a server-side TLS filter after STARTTLS was answered.
 * The returned bufferevent replaces `bev` (which it owns and frees); callbacks must be
 * set again on it. NULL on failure. */
struct bufferevent *net_starttls(struct bufferevent *bev, SSL_CTX *tls);
int net_bev_is_tls(struct bufferevent *bev);

/* SIGTERM/SIGINT: calls on_stop(arg) once (stop listening, close sessions), then breaks
 * the loop after grace_ms if it has not ended on its own. */
void net_on_shutdown(struct event_base *base, void (*on_stop)(void *arg), void *arg,
                     int grace_ms);
/* Optional: after on_stop, the loop ends as soon as busy(arg) returns 0 (checked every
 * 50 ms: sessions closed, no work in flight) instead of always waiting grace_ms. */
void net_shutdown_when_idle(int (*busy)(void *arg), void *arg);

#endif
