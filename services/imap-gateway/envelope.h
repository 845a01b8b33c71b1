/* envelope: the IMAP ENVELOPE structure (RFC 3501 7.4.2) of a message header — date,
 * subject, the address lists and the message ids — for FETCH ENVELOPE when the store has
 * not cached one. Values keep their raw bytes: an 8-bit display name or subject goes out
 * as a literal, exactly as received. */
#ifndef IMAP_ENVELOPE_H
#define IMAP_ENVELOPE_H

#include "pool/pool.h"

#include <stddef.h>

/* "(date subject (from) (sender) ...)" in pool; *outlen counts it (literals included). */
char *envelope_build(pool_t *pool, const unsigned char *hdr, size_t len, size_t *outlen);

#endif
