/* transport: where the mail of a maildrop host goes. The host part of an account's
 * maildrop names an LMTP store (hurd@lmtp-store); MAILSTACK_LMTP_TRANSPORTS maps such
 * names to endpoints, the seed's transport map for mailboxes on another machine. Shared
 * by smtp-edge (which connects there) and directory-sync (whose lookup answer names the
 * store), so both always agree. */
#ifndef MAILSTACK_TRANSPORT_H
#define MAILSTACK_TRANSPORT_H

#include <stddef.h>

typedef struct {
    char host[256];  /* a host name or address, or a UNIX socket path starting with '/' */
    int port;
} transport_t;

/* Looks `name` up (ASCII case-insensitively) in `map`, a comma list of
 * name=host:port, name=[v6addr]:port, name=host (default_port) or name=/socket/path.
 * A name not in the map is itself the host, at default_port. Returns 0, or -1 when the
 * map entry for `name` is malformed (then out is unset). */
int transport_resolve(const char *map, const char *name, int default_port, transport_t *out);

/* The endpoint as text: "host:port", "[v6addr]:port" or the socket path. */
void transport_format(const transport_t *t, char *out, size_t outlen);

#endif
