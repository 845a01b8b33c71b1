/* message: reading the parts of a stored RFC 5322 message that FETCH needs — where the
 * header ends, the chosen header fields (HEADER.FIELDS), one field's value — working on
 * the bytes as stored, CRLF or bare LF, 8-bit included, never changing them. */
#ifndef IMAP_MESSAGE_H
#define IMAP_MESSAGE_H

#include "pool/pool.h"

#include <stddef.h>

/* Length of the header including the blank line that ends it; the whole message when it
 * has no blank line (then the text is empty). */
size_t message_header_length(const unsigned char *msg, size_t len);

/* The header fields named in names (ASCII case-insensitive) — or all the others when
 * exclude is set — in their original order with their continuation lines, followed by a
 * blank line, as RFC 3501 HEADER.FIELDS returns them. In pool. */
unsigned char *message_header_fields(pool_t *pool, const unsigned char *hdr, size_t len,
                                     char *const *names, size_t nnames, int exclude,
                                     size_t *outlen);

/* The value of the first field `name`, unfolded (line breaks dropped) and trimmed, NUL
 * bytes cut; NULL when there is no such field. In pool. */
char *message_header_get(pool_t *pool, const unsigned char *hdr, size_t len, const char *name);

#endif
