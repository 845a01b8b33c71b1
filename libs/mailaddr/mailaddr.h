/* mailaddr: RFC 5321 mailboxes (the text between the angle brackets of MAIL FROM and
 * RCPT TO), with RFC 6531 UTF-8 allowed. Splits the local part from its `+detail`
 * (sub-addressing) and the domain, so lookups compare the parts that name a mailbox. */
#ifndef MAILSTACK_MAILADDR_H
#define MAILSTACK_MAILADDR_H

#include "pool/pool.h"

#include <stddef.h>

/* RFC 5321 4.5.3.1: local part 64 octets, domain 255, path (mailbox plus "<>") 256. */
#define MAILADDR_LOCAL_MAX 64
#define MAILADDR_DOMAIN_MAX 255
#define MAILADDR_PATH_MAX 256

typedef struct {
    const char *local;   /* before the first '+', quotes and escapes removed */
    const char *detail;  /* after the first '+' ("" for "user+@"), NULL without '+' */
    const char *domain;  /* ASCII lower-cased; "[…]" for an address literal; NULL for a
                          * bare local part ("postmaster", LMTP's "user") */
} mailaddr_t;

/* Parses `text` (no angle brackets). Returns 0 and fills `out` with strings from `pool`,
 * or -1 when the text is not a mailbox: bad characters, bad dots, an unterminated
 * quote, invalid UTF-8, an empty part, a bad address literal or a length over the
 * limits above. A leading '+' is part of the local part, not a detail delimiter. */
int mailaddr_parse(pool_t *pool, const char *text, mailaddr_t *out);

/* A copy with ASCII letters lower-cased; UTF-8 sequences are left as they are. */
char *mailaddr_lower(pool_t *pool, const char *s);

/* The local part as the sender wrote it, detail included ("hurd+lists"): lookups try it
 * whole before splitting it with their own delimiter setting, as Postfix does. */
char *mailaddr_local_full(pool_t *pool, const mailaddr_t *addr);

/* Sub-addressing with a configurable delimiter set (Postfix's recipient_delimiter): the
 * offset of the first octet of `local` that is one of `delims`, not counting the first
 * octet (a leading delimiter is part of the name); strlen(local) when there is none or
 * `delims` is NULL or empty. */
size_t mailaddr_detail_at(const char *local, const char *delims);

/* "local+detail@domain" (or without the parts that are NULL) as a pool string; the
 * local part is quoted again when it is not a dot-atom. */
char *mailaddr_format(pool_t *pool, const mailaddr_t *addr);

#endif
