/* header: reading fields of a message's header section as delivery needs them (the
 * Message-ID for duplicate suppression). Pure; the message is left as it is. */
#ifndef HEADER_H
#define HEADER_H

#include "pool/pool.h"

#include <stddef.h>

/* The value of the first field called `name` (ASCII case-insensitive) in the header section
 * of msg (CRLF or LF lines, up to the first empty line): unfolded, leading and trailing
 * blanks removed, NUL-terminated in pool. NULL when there is no such field. *len gets its
 * length (a value may hold any octet). */
const char *header_get(pool_t *pool, const char *msg, size_t msglen, const char *name,
                       size_t *len);

/* The present time as an RFC 5322 date ("Wed, 25 Nov 2026 10:02:48 +0000"), for the
 * messages delivery writes itself. */
void header_date_now(char *buf, size_t len);

#endif
