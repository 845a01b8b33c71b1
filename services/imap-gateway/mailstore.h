/* mailstore: the imap-gateway's reads and writes of the mail tables in PostgreSQL
 * (accounts, mailboxes, messages, message_blobs). Blocking: call from workers only. Every
 * query names account_id first, as the schema is distributed by account. Functions
 * return 0 on success, 1 when the thing asked for does not exist, -1 when PostgreSQL
 * failed (logged; the client gets a temporary NO). */
#ifndef IMAP_MAILSTORE_H
#define IMAP_MAILSTORE_H

#include "pool/pool.h"

#include <stddef.h>
#include <stdint.h>

int mailstore_account_id(const char *account, int64_t *account_id);

struct mailstore_mailbox {
    char *name;
    int subscribed;
};

/* All mailboxes of the account, by name. */
int mailstore_mailboxes(pool_t *pool, int64_t account_id, struct mailstore_mailbox **out,
                        size_t *n);

struct mailstore_selection {
    int64_t mailbox_id, uidvalidity, uidnext;
    uint32_t *uids;             /* ascending: sequence number n is uids[n - 1] */
    size_t count;
    size_t first_unseen;        /* sequence number, 0 when all are \Seen */
};

/* Opens a mailbox by exact name, from one consistent snapshot. INBOX is created on first
 * use (a user who never got mail has no row yet), the way delivery creates it. */
int mailstore_select(pool_t *pool, int64_t account_id, const char *name,
                     struct mailstore_selection *out);

/* UIDs above after_uid (new mail since the last look) and the current UIDNEXT. */
int mailstore_new_uids(pool_t *pool, int64_t account_id, int64_t mailbox_id,
                       uint32_t after_uid, uint32_t **uids, size_t *n, int64_t *uidnext);

struct mailstore_message {
    uint32_t uid;
    char *flags;                /* space-separated, e.g. "\Seen \Answered" */
    int64_t internaldate;       /* seconds since the epoch */
    int64_t size;
    char *envelope;             /* cached by delivery, or NULL */
    char *bodystructure;        /* cached by delivery, or NULL */
    unsigned char *data;        /* the full message, when fetched */
    size_t len;
};

/* Metadata of the listed messages that still exist, in UID order. */
int mailstore_fetch_meta(pool_t *pool, int64_t account_id, int64_t mailbox_id,
                         const uint32_t *uids, size_t n, struct mailstore_message **out,
                         size_t *nout);
/* Fills data/len of each message: the trace header prefix followed by the stored body. */
int mailstore_fetch_data(pool_t *pool, int64_t account_id, int64_t mailbox_id,
                         struct mailstore_message *msgs, size_t n);
/* Adds \Seen to those of the messages that lack it, in one statement with a new
 * HIGHESTMODSEQ, then NOTIFYs mailstack_mailbox "account_id:mailbox_id" as delivery does;
 * *changed lists the UIDs that changed. */
int mailstore_set_seen(pool_t *pool, int64_t account_id, int64_t mailbox_id,
                       const uint32_t *uids, size_t n, uint32_t **changed, size_t *nchanged);

/* "SELECT 1" on this worker's connection: 0 when PostgreSQL answers. */
int mailstore_ping(void);

#endif
