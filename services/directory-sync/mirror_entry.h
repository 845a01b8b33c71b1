/* mirror_entry: what one LDAP entry becomes in the mirror. An xMail entry is an account
 * (uid, maildrop, display name, quota, its mailacceptinggeneralid values as addresses); a
 * groupOfNames or nisMailAlias entry with an address is a distribution list (its `mail`,
 * mailacceptinggeneralid or, for nisMailAlias, `cn` values as addresses; `member` DNs and
 * rfc822MailMember addresses as members). Anything else, or anything outside the mirrored
 * bases, is not mirrored: a row it had goes. */
#ifndef MIRROR_ENTRY_H
#define MIRROR_ENTRY_H

#include "mirror_scope.h"
#include "pool/pool.h"

#include <ldap.h>

enum mirror_kind { MIRROR_SKIP, MIRROR_ACCOUNT, MIRROR_GROUP };

struct mirror_record {
    enum mirror_kind kind;
    const char *uuid, *dn, *domain;
    /* MIRROR_ACCOUNT; quota_kb is NULL when the entry has none */
    const char *uid, *maildrop, *display_name, *quota_kb;
    /* text[] literals. addresses: local parts (or whole addresses) as lookups compare
     * them, lower-cased when the case-insensitive setting is on, domains always */
    const char *addresses, *member_dns, *member_addresses;
    const char *why; /* MIRROR_SKIP: the reason, for the log */
};

/* The attributes the sync search asks for, NULL-terminated, from pool. */
char **mirror_entry_attributes(pool_t *pool, const mirror_scope_t *scope);

/* Reads entry `e` (with entryUUID `uuid`, text form) into *out, from pool. */
void mirror_entry_read(pool_t *pool, const mirror_scope_t *scope, LDAP *ld, LDAPMessage *e,
                       const char *uuid, struct mirror_record *out);

/* A syncUUID (16 octets) in entryUUID's text form (8-4-4-4-12 lower-case hex); NULL if it
 * is not 16 octets. */
char *mirror_uuid_text(pool_t *pool, const struct berval *raw);

#endif
