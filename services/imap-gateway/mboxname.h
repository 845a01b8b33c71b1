/* mboxname: mailbox names as IMAP sees them — INBOX is case-insensitive (so is the INBOX
 * prefix of its children, "inbox.Sent" is "INBOX.Sent"), "." separates levels, and LIST
 * patterns use '*' (anything) and '%' (anything within one level). */
#ifndef IMAP_MBOXNAME_H
#define IMAP_MBOXNAME_H

#include "pool/pool.h"

#define MBOXNAME_SEP '.'
#define MBOXNAME_MAX 1024   /* longer names and patterns are refused */

/* name with its INBOX prefix in upper case, in pool. Works on patterns too. */
char *mboxname_normalize(pool_t *pool, const char *name);

/* 1 when the (normalized) pattern matches the name. Time is O(pattern x name). */
int mboxname_match(pool_t *pool, const char *pattern, const char *name);

/* 1 when `child` is below `parent` in the hierarchy ("a.b" below "a"). */
int mboxname_is_child(const char *parent, const char *child);

#endif
