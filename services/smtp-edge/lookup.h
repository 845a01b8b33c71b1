/* lookup: asks directory-sync where a recipient's mail goes (GET /v1/lookup). Blocking
 * with a timeout: call it on a workq worker. */
#ifndef SMTP_LOOKUP_H
#define SMTP_LOOKUP_H

#include "pool/pool.h"

enum lookup_status { LOOKUP_FOUND, LOOKUP_UNKNOWN, LOOKUP_UNAVAILABLE };

struct lookup_target {
    const char *lmtp_rcpt;  /* the maildrop with the +detail kept: hurd+lists@lmtp-store */
    const char *host;       /* the maildrop's host part, the LMTP transport name */
};

/* FOUND fills `target` (strings from pool); UNKNOWN is the directory's 404; anything else
 * — unreachable, timeout, another status, an unusable answer — is UNAVAILABLE, a
 * temporary failure (the reason goes to `why` for the log). */
enum lookup_status lookup_recipient(pool_t *pool, const char *base_url, const char *address,
                                    long timeout_ms, struct lookup_target *target,
                                    const char **why);

#endif
