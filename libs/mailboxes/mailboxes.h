/* mailboxes: mailbox rows that more than one service creates. INBOX comes into being on
 * first use — lmtp-store's first delivery or imap-gateway's first SELECT, whichever is
 * first — so both must create it the same way. Exercised end to end by the integration
 * tests (first delivery, first login of a new account). */
#ifndef MAILSTACK_MAILBOXES_H
#define MAILSTACK_MAILBOXES_H

#include <libpq-fe.h>

/* Creates the account's INBOX unless it exists; UIDVALIDITY from the clock, so an INBOX
 * deleted and made again gets a new one. 0, or -1 on a database error (logged). */
int mailboxes_create_inbox(PGconn *db, const char *account_id);

#endif
