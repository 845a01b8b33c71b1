/* delivery: what happens to one LMTP message after its final dot - a plan per recipient
 * (the Sieve actions, or an implicit keep, turned into mailboxes to file into), executed in
 * one PostgreSQL transaction with each recipient's outcome kept apart: one recipient over
 * quota or failing does not cost another its message. The body is stored once; a recipient
 * is reported delivered only after the commit. Blocking: call from a worker thread. */
#ifndef DELIVERY_H
#define DELIVERY_H

#include "pool/pool.h"

#include <stddef.h>

/* The final reply each recipient gets, in RCPT order. */
enum delivery_outcome {
    DELIVERY_TEMPFAIL,   /* 451 4.3.0: nothing of it committed, try again */
    DELIVERY_DELIVERED,  /* 250: filed (or discarded / suppressed on purpose, see below) */
    DELIVERY_OVER_QUOTA, /* 552 5.2.2 */
    DELIVERY_REJECTED,   /* 550 5.7.1 with the Sieve reject reason */
};

/* Why a 250 stored nothing, for the log. */
enum delivery_note {
    DELIVERY_NOTE_NONE,
    DELIVERY_NOTE_DUPLICATE, /* the same Message-ID was filed there within the window */
    DELIVERY_NOTE_DISCARDED, /* Sieve discard */
};

/* The Sieve hook. A recipient's script result (libs/sieve's action list) is mapped onto
 * these; with no script the list is one DELIVERY_KEEP. Implicit keep is already resolved:
 * the list says everything that happens. */
enum delivery_action_kind {
    DELIVERY_KEEP,      /* file into the default mailbox: the +detail folder, else INBOX */
    DELIVERY_FILEINTO,  /* file into mailbox (a missing one falls back to the default) */
    DELIVERY_DISCARD,
    DELIVERY_REJECT,    /* reason: refuse with 550 5.7.1 (RFC 5429) */
    DELIVERY_REDIRECT,  /* address: forward the message unchanged */
    DELIVERY_VACATION,  /* an auto-reply to the sender (RFC 5230), at most once a period */
};

struct delivery_action {
    enum delivery_action_kind kind;
    const char *mailbox;             /* FILEINTO */
    const char *const *flags;        /* KEEP, FILEINTO: imap4flags (RFC 5232) */
    size_t nflags;
    const char *reason;              /* REJECT */
    const char *address;             /* REDIRECT: the new recipient; VACATION: the reply's
                                      * recipient (the envelope sender) */
    /* VACATION (RFC 5230), decided by the script except for "once per sender per period",
     * which needs memory: */
    const char *message;             /* the reply, without Date: and Message-ID: */
    const char *key;                 /* names (sender, handle) in that memory */
    unsigned days;
    struct delivery_action *next;
};

struct delivery_rcpt {
    long long account_id;
    const char *address;   /* as given in RCPT: Delivered-To, log, replies */
    const char *detail;    /* the +detail of the address, NULL without one */
    /* out */
    enum delivery_outcome outcome;
    enum delivery_note note;
    const char *reason;    /* REJECTED: the Sieve reason (one line) */
    const char *mailbox;   /* DELIVERED: the first mailbox filed into */
    long long uid;
};

struct delivery_message {
    const char *sender;    /* MAIL FROM, "" for <> */
    const char *data;      /* CRLF form, exactly as received */
    size_t len;
};

/* Plans and files msg for every recipient; sets each one's outcome. Never fails as a
 * whole: what could not be done is a TEMPFAIL outcome. Memory comes from pool. */
void delivery_run(pool_t *pool, const struct delivery_message *msg, struct delivery_rcpt *rcpts,
                  size_t n);

#endif
