/* rules: the parts of the seed's lookup rules that need no database, kept apart from the
 * SQL walk (resolve.h) so they can be unit tested: the settings, how a local part becomes
 * a lookup key, which maildrops may be targets, and what an alias target or a list
 * member (aliases(5) value, rfc822MailMember) names. */
#ifndef RULES_H
#define RULES_H

#include "mailaddr/mailaddr.h"
#include "pool/pool.h"

struct rules_settings {
    int fold;                /* MAILSTACK_LOOKUP_CASE_INSENSITIVE (default 1) */
    const char *delimiters;  /* MAILSTACK_RECIPIENT_DELIMITER (default "+") */
    long depth_limit;        /* MAILSTACK_ALIAS_DEPTH_LIMIT: nested expansions (default 20) */
    long expansion_limit;    /* MAILSTACK_ALIAS_EXPANSION_LIMIT: names and lists looked up
                              * for one address (default 1000, Postfix's
                              * virtual_alias_expansion_limit) */
};

void rules_settings_load(struct rules_settings *set);

/* The form names are compared in: ASCII-lower-cased when folding, else as given. */
const char *rules_key(pool_t *pool, const struct rules_settings *set, const char *local);

/* The seed's ldap_query_filter, (!(|(maildrop="*|*")(maildrop="*:*"))): an entry whose
 * maildrop is a pipe or a program, or that has none, is never a target. */
int rules_maildrop_deliverable(const char *maildrop);

enum rules_kind {
    RULES_NAME,       /* a local name (root, "john doe"): looked up in the same domain */
    RULES_ADDRESS,    /* local@domain: ours is looked up again, another is a forward */
    RULES_FORBIDDEN,  /* |command, /file or :include: — aliases(5) forms we never run */
    RULES_BAD,        /* none of these */
};

struct rules_target {
    enum rules_kind kind;
    const char *name;    /* RULES_NAME: the name unquoted, detail included */
    mailaddr_t addr;     /* RULES_ADDRESS */
    const char *why;     /* RULES_FORBIDDEN, RULES_BAD: what is wrong, for a reply */
};

/* Classifies one target as written (surrounding white space already removed). */
void rules_classify(pool_t *pool, const char *text, struct rules_target *out);

#endif
