/* quota: per-account storage and message-count limits (RFC 9208 STORAGE in KiB, MESSAGE as a
 * count), the seed's autocreatequota and quotawarn. The arithmetic is pure; quota_lock and
 * quota_set_warned run SQL inside the caller's delivery transaction (worker thread). */
#ifndef QUOTA_H
#define QUOTA_H

#include <libpq-fe.h>

struct quota {
    long long storage_limit_kb; /* -1: not limited */
    long long message_limit;    /* -1: not limited */
    long long storage_used;     /* bytes */
    long long messages_used;
    int warned;                 /* the quotawarn notice went out and usage stayed above */
};

/* 1 when `bytes` more in `messages` more messages stay within every limit: a message that
 * brings usage exactly to a limit fits, one byte or one message more does not. */
int quota_fits(const struct quota *q, long long bytes, long long messages);

/* 1 when usage of some limited resource is at or above percent of its limit. */
int quota_above(const struct quota *q, int percent);

/* RFC 9208 STORAGE usage: whole KiB, rounded up. */
long long quota_storage_kb(const struct quota *q);

/* The account's quota row, locked FOR UPDATE until the transaction ends; made first with
 * the default limits (MAILSTACK_DEFAULT_QUOTA_KB, MAILSTACK_DEFAULT_QUOTA_MESSAGES, 0 = not
 * limited; an account's own quota_kb from the directory wins) and its present usage.
 * Returns 0 or -1 on a database error. */
int quota_lock(PGconn *db, long long account_id, struct quota *out);

/* The common case in one round trip: locks the account's mailbox `name` and its quota row
 * together (mailbox first, as quota_lock after the mailboxes). Returns 0, 1 when either row
 * does not exist yet (then take the long way: lock the mailbox, then quota_lock), -1 on a
 * database error. */
int quota_lock_with_mailbox(PGconn *db, long long account_id, const char *name,
                            long long *mailbox_id, struct quota *out);

int quota_set_warned(PGconn *db, long long account_id, int warned);

#endif
