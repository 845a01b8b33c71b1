/* mailstore: the PostgreSQL side of delivery — finding the account a recipient names and
 * filing one message for several recipients in a single transaction: the body written
 * once (content-addressed), each recipient's INBOX created on first delivery, UIDs taken
 * from the mailbox row under its lock, and a NOTIFY so IDLE sessions wake. Blocking: call
 * from a worker thread. */
#ifndef MAILSTORE_H
#define MAILSTORE_H

#include "pool/pool.h"

#include <stddef.h>

enum mailstore_status { MAILSTORE_OK, MAILSTORE_UNKNOWN, MAILSTORE_TEMPFAIL };

/* Finds the account whose uid (or, failing that, accepted local part) is `local`, compared
 * case-insensitively unless MAILSTACK_LOCALPART_CASE_INSENSITIVE=0. */
enum mailstore_status mailstore_resolve(const char *local, long long *account_id);

struct mailstore_rcpt {
    long long account_id;
    const char *address;     /* as given in RCPT, for Delivered-To */
    /* out */
    enum mailstore_status status;
    long long mailbox_id, uid;
};

/* Files msg (CRLF form, exactly as received) for every recipient, all or nothing. The
 * per-recipient header prefix is Return-Path: <sender> and Delivered-To: <address>.
 * Sets each rcpt's status; returns 0 when committed, -1 when nothing was stored. */
int mailstore_deliver(pool_t *pool, const char *sender, const char *msg, size_t len,
                      struct mailstore_rcpt *rcpts, size_t n);

#endif
