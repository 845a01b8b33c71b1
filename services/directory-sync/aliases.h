/* aliases: the aliases(5) text format the seed's /etc/postfix/aliases is written in, as
 * the admin API takes it (PUT /v1/aliases):
 *
 *     # comment
 *     postmaster:  root
 *     staff:       hurd, cyrus,
 *                  "john doe"@example.org     (a line starting with white space continues)
 *
 * A name is a local part (quoted when it holds special characters), folded to lower case
 * when lookups are case-insensitive; targets are local names or addresses, separated by
 * commas outside double quotes. The forms Postfix would run or write to — |command,
 * /file and :include:/file — are refused, as is anything else that is no mailbox. */
#ifndef ALIASES_H
#define ALIASES_H

#include "pool/pool.h"

#include <stddef.h>

struct aliases_entry {
    const char *name;
    const char **targets;   /* as written, white space around them removed */
    size_t ntargets;
    int line;               /* where its logical line starts */
    struct aliases_entry *next;
};

/* Parses `len` octets of `text`. Returns the number of entries (in file order, in *out,
 * from pool), or -1 with a message naming the line ("line 3: ...", printable ASCII
 * only) in err. */
long aliases_parse(pool_t *pool, const char *text, size_t len, int fold,
                   struct aliases_entry **out, char *err, size_t errlen);

#endif
