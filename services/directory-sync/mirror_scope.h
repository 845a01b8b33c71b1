/* mirror_scope: which LDAP subtrees the mirror follows and which domain each entry belongs
 * to. The bases are the shared user and group bases (domain '') and each served domain's
 * own base (MAILSTACK_LDAP_DOMAIN_BASES, virtual hosting); they are grouped into sync
 * roots, one syncrepl session each. Built once at start from the settings, then read-only,
 * so every sync thread may share it. */
#ifndef MIRROR_SCOPE_H
#define MIRROR_SCOPE_H

#include "pool/pool.h"

#include <stddef.h>

typedef struct mirror_scope mirror_scope_t;

/* From the settings; NULL (and a reason in err) when a configured DN cannot be parsed or
 * no base is left. */
mirror_scope_t *mirror_scope_load(char *err, size_t errlen);
void mirror_scope_free(mirror_scope_t *s);

/* The domain an entry with this DN belongs to: the domain whose base holds it (the most
 * specific base wins), "" for the shared bases, NULL when it lies under no base (or is not
 * a DN). The result is the scope's own string. */
const char *mirror_scope_domain(const mirror_scope_t *s, pool_t *pool, const char *dn);

/* The sync roots: the search bases of the syncrepl sessions. */
int mirror_scope_roots(const mirror_scope_t *s);
const char *mirror_scope_root(const mirror_scope_t *s, int i);
/* The roots, lower-cased, as a PostgreSQL text[] literal: rows whose DN is under none of
 * them are strays that any full refresh removes. */
const char *mirror_scope_roots_array(const mirror_scope_t *s);

/* The entries to mirror (MAILSTACK_LDAP_MIRROR_FILTER), whether local parts are stored
 * lower-cased (MAILSTACK_LOOKUP_CASE_INSENSITIVE) and the attribute holding an account's
 * quota in KiB (MAILSTACK_LDAP_QUOTA_ATTRIBUTE). */
const char *mirror_scope_filter(const mirror_scope_t *s);
int mirror_scope_fold(const mirror_scope_t *s);
const char *mirror_scope_quota_attribute(const mirror_scope_t *s);

/* Everything that decides what a row looks like (roots, bases, filter, case folding,
 * quota attribute): a cookie saved under another fingerprint is not resumed from. */
const char *mirror_scope_fingerprint(const mirror_scope_t *s);

/* `dn` normalised (LDAPv3 string form, spaces and escapes canonical) and ASCII-lower-cased,
 * from pool; NULL when it is not a DN. Two DNs name the same entry when these are equal. */
char *mirror_dn_key(pool_t *pool, const char *dn);

/* A text[] literal element: `v` double-quoted with \ and " escaped, appended to `arr`
 * (NULL to start); wrap the result in {} to use it. */
char *mirror_array_add(pool_t *pool, char *arr, const char *v);

#endif
