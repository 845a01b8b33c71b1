-- 003_lookup.sql - what the seed's lookup rules need beyond single accounts:
-- * the domain an entry belongs to, for virtual hosting with an LDAP base per domain
--   ('' = an entry of the shared base, valid in every served domain without a base of its own);
-- * LDAP groups (groupOfNames / nisMailAlias) as distribution lists, keyed by entryUUID
--   like accounts; a member is a DN (groupOfNames' member) or an address (rfc822MailMember);
-- * the aliases table in aliases(5) form (`postmaster: root`), imported through the admin
--   API and resolved recursively; a target is a local name, a local address or an external
--   address (a forward).
-- Local parts and names are stored lower-cased when the case-insensitive setting is on.

ALTER TABLE accounts ADD COLUMN domain text NOT NULL DEFAULT '';

CREATE TABLE mail_groups (
    group_id   bigserial PRIMARY KEY,
    entry_uuid text NOT NULL UNIQUE,
    dn         text NOT NULL,
    domain     text NOT NULL DEFAULT '',
    updated_at timestamptz DEFAULT now()
);

-- The group's own addresses (its `mail` / `cn` for nisMailAlias), as account_addresses.
CREATE TABLE group_addresses (
    group_id  bigint NOT NULL REFERENCES mail_groups ON DELETE CASCADE,
    localpart text NOT NULL,
    PRIMARY KEY (group_id, localpart)
);
CREATE INDEX group_addresses_localpart_idx ON group_addresses (localpart);

CREATE TABLE group_members (
    group_id       bigint NOT NULL REFERENCES mail_groups ON DELETE CASCADE,
    member_dn      text,
    member_address text,
    CHECK (num_nonnulls(member_dn, member_address) = 1)
);
CREATE INDEX group_members_group_idx ON group_members (group_id);

CREATE TABLE mail_aliases (
    domain  text NOT NULL DEFAULT '',
    name    text NOT NULL,
    targets text[] NOT NULL,
    PRIMARY KEY (domain, name)
);

CREATE INDEX accounts_dn_idx ON accounts (dn);
