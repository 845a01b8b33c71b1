/* lookup: asks directory-sync where a recipient's mail goes (GET /v1/lookup). One address
 * may lead to several mailboxes (an alias, a group) or to an external address. Blocking
 * with a timeout: call it on a workq worker. */
#ifndef SMTP_LOOKUP_H
#define SMTP_LOOKUP_H

#include "pool/pool.h"

#include <stddef.h>

enum lookup_status {
    LOOKUP_FOUND,        /* every target is one of our mailboxes */
    LOOKUP_UNKNOWN,      /* the directory's 404 */
    LOOKUP_FORWARD,      /* some target is an external address: nothing sends those yet */
    LOOKUP_LOOP,         /* alias_loop, alias_too_deep */
    LOOKUP_TOO_LARGE,    /* expansion_too_large */
    LOOKUP_UNAVAILABLE,  /* anything else: a temporary failure */
};

struct lookup_target {
    const char *lmtp_rcpt;  /* the maildrop with the +detail kept: hurd+lists@lmtp-store */
    const char *host;       /* the maildrop's host part, the LMTP transport name */
};

struct lookup_result {
    struct lookup_target *targets;  /* FOUND: the mailboxes, at least one */
    size_t n;
};

/* Fills `out` (strings from pool) on FOUND; `why` gets the reason for the log otherwise
 * (the directory's message, the transport error, the first forward). */
enum lookup_status lookup_recipient(pool_t *pool, const char *base_url, const char *address,
                                    long timeout_ms, struct lookup_result *out,
                                    const char **why);

#endif
