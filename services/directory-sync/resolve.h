/* resolve: the seed's recipient lookup rules (§3.1, §3.2) over the PostgreSQL mirror.
 * For local@domain, with domain one of ours:
 *  1. the whole local part is tried first, then (if it has one) the part before the
 *     recipient delimiter, whose rest is the detail carried to the store;
 *  2. a name is looked up, first match wins: the aliases table (Postfix's alias_maps;
 *     the domain's own table before the one for every domain), then the entries whose
 *     mailacceptinggeneralid is the name or the whole address (an entry of a domain's own
 *     LDAP base serves that domain only, one of the shared base every domain without a
 *     base of its own), then LDAP groups with that address;
 *  3. an entry whose maildrop is a pipe or a program is never a target;
 *  4. alias targets and group members are resolved again, recursively: local names and
 *     our addresses through these same rules, other addresses as forwards; a target that
 *     names its own alias is the entry of that name (aliases(5)'s `hurd: hurd, x@y`);
 *     a target or member that resolves to nothing is skipped;
 *  5. a loop, a chain deeper than the depth limit, or an expansion past the expansion
 *     limit is an error; two routes to one mailbox give one target;
 *  6. the detail reaches an entry matched directly; alias and group expansion do not pass
 *     it on (Postfix's default propagate_unmatched_extensions leaves aliases out), though
 *     a target may carry its own (`lists: hurd+lists`).
 * Blocking (SQL): call it on a worker thread. */
#ifndef RESOLVE_H
#define RESOLVE_H

#include "pool/pool.h"
#include "rules.h"

enum resolve_status {
    RESOLVE_FOUND,
    RESOLVE_UNKNOWN,     /* nothing deliverable answers to it */
    RESOLVE_NOT_LOCAL,   /* not one of our domains */
    RESOLVE_BAD,         /* not a mailbox with a domain */
    RESOLVE_DOWN,        /* the mirror could not be read */
    RESOLVE_LOOP,
    RESOLVE_TOO_DEEP,
    RESOLVE_TOO_LARGE,
};

struct resolve_target {
    const char *forward;    /* an external address (a forward); NULL for a mailbox */
    const char *account;    /* mailbox: the entry's uid */
    const char *maildrop;
    const char *detail;     /* the sub-address for the store, or NULL */
    long long account_id;
    struct resolve_target *next;
};

struct resolve_result {
    struct resolve_target *targets;  /* in the order found, no duplicates */
    const char *where;               /* LOOP, TOO_DEEP, TOO_LARGE: the name it happened at */
};

/* Syntax and domain are checked before the database is asked, so they are answered
 * while it is down. */
enum resolve_status resolve_address(pool_t *pool, const struct rules_settings *set,
                                    const char *address, struct resolve_result *out);

#endif
