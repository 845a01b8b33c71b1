/* relay: maps each recipient's maildrop host to its store (MAILSTACK_LMTP_TRANSPORTS) and
 * runs lmtpclient once per store, so names that map to one store share a transaction. A
 * store that cannot be reached leaves its recipients at code 0, which the session treats
 * as "not delivered" — without a queue that means a 4xx to the client, never a 250. */
#include "relay.h"
#include "lmtpclient/lmtpclient.h"
#include "log/log.h"
#include "transport/transport.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int relay_same_store(const transport_t *a, const transport_t *b)
{
    return a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

static void relay_group(pool_t *pool, const struct relay_settings *set, const char *sender,
                        struct relay_rcpt *rcpts, const transport_t *stores, size_t n,
                        size_t first, const char *msg, size_t len)
{
    const transport_t *t = &stores[first];
    /* This store's distinct LMTP recipients, and which one each rcpt maps to. */
    const char **unique = pool_alloc(pool, n * sizeof(*unique));
    size_t *slot = pool_alloc(pool, n * sizeof(*slot));
    int *mine = pool_zalloc(pool, n * sizeof(*mine));
    size_t nu = 0;
    for (size_t i = first; i < n; i++) {
        if (rcpts[i].text || !relay_same_store(&stores[i], t))
            continue;
        mine[i] = 1;
        size_t u = 0;
        while (u < nu && strcmp(unique[u], rcpts[i].lmtp_rcpt) != 0)
            u++;
        if (u == nu)
            unique[nu++] = rcpts[i].lmtp_rcpt;
        slot[i] = u;
    }
    lmtp_reply_t *replies = pool_zalloc(pool, nu * sizeof(*replies));
    char err[256] = "";
    if (lmtpclient_deliver(t->host, t->port, set->lhlo_name, sender, unique, nu, msg, len,
                           set->timeout_ms, replies, err, sizeof(err)) != 0) {
        char port[16];
        snprintf(port, sizeof(port), "%d", t->port);
        log_emit(LOG_WARN, "smtp.lmtp_failed", "transport", rcpts[first].host, "host", t->host,
                 "port", port, "error", err, NULL);
    }
    for (size_t i = first; i < n; i++) {
        if (!mine[i])
            continue;
        const lmtp_reply_t *r = &replies[slot[i]];
        rcpts[i].code = r->code;
        rcpts[i].text = pool_strdup(pool, r->code ? r->text : err);
    }
}

void relay_deliver(pool_t *pool, const struct relay_settings *set, const char *sender,
                   struct relay_rcpt *rcpts, size_t n, const char *msg, size_t len)
{
    transport_t *stores = pool_alloc(pool, (n ? n : 1) * sizeof(*stores));
    for (size_t i = 0; i < n; i++) {
        rcpts[i].code = 0;
        rcpts[i].text = NULL;
        if (transport_resolve(set->transports, rcpts[i].host, set->default_port, &stores[i]) != 0)
            rcpts[i].text = pool_printf(pool, "bad MAILSTACK_LMTP_TRANSPORTS entry for %s",
                                        rcpts[i].host);
    }
    for (size_t i = 0; i < n; i++)
        if (!rcpts[i].text)
            relay_group(pool, set, sender, rcpts, stores, n, i, msg, len);
}
