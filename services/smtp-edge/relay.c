/* relay: groups recipients by store and runs lmtpclient once per group. A store that
 * cannot be reached leaves its recipients at code 0, which the session treats as "not
 * delivered" — without a queue that means a 4xx to the client, never a 250. */
#include "relay.h"
#include "lmtpclient/lmtpclient.h"
#include "log/log.h"
#include "transport.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static void relay_group(pool_t *pool, const struct relay_settings *set, const char *sender,
                        struct relay_rcpt *rcpts, size_t n, size_t first, const char *msg,
                        size_t len)
{
    const char *host = rcpts[first].host;
    /* This group's distinct LMTP recipients, and which one each rcpt maps to. */
    const char **unique = pool_alloc(pool, n * sizeof(*unique));
    size_t *slot = pool_alloc(pool, n * sizeof(*slot));
    size_t nu = 0;
    for (size_t i = first; i < n; i++) {
        if (strcasecmp(rcpts[i].host, host) != 0)
            continue;
        size_t u = 0;
        while (u < nu && strcmp(unique[u], rcpts[i].lmtp_rcpt) != 0)
            u++;
        if (u == nu)
            unique[nu++] = rcpts[i].lmtp_rcpt;
        slot[i] = u;
    }
    lmtp_reply_t *replies = pool_zalloc(pool, nu * sizeof(*replies));
    char err[256] = "";
    transport_t t;
    if (transport_resolve(set->transports, host, set->default_port, &t) != 0) {
        snprintf(err, sizeof(err), "bad MAILSTACK_LMTP_TRANSPORTS entry for %s", host);
    } else if (lmtpclient_deliver(t.host, t.port, set->lhlo_name, sender, unique, nu, msg, len,
                                  set->timeout_ms, replies, err, sizeof(err)) != 0) {
        char port[16];
        snprintf(port, sizeof(port), "%d", t.port);
        log_emit(LOG_WARN, "smtp.lmtp_failed", "transport", host, "host", t.host, "port", port,
                 "error", err, NULL);
    }
    for (size_t i = first; i < n; i++) {
        if (strcasecmp(rcpts[i].host, host) != 0)
            continue;
        const lmtp_reply_t *r = &replies[slot[i]];
        rcpts[i].code = r->code;
        rcpts[i].text = pool_strdup(pool, r->code ? r->text : err);
    }
}

void relay_deliver(pool_t *pool, const struct relay_settings *set, const char *sender,
                   struct relay_rcpt *rcpts, size_t n, const char *msg, size_t len)
{
    for (size_t i = 0; i < n; i++)
        rcpts[i].text = NULL;
    for (size_t i = 0; i < n; i++)
        if (!rcpts[i].text)
            relay_group(pool, set, sender, rcpts, n, i, msg, len);
}
