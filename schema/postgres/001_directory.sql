-- 001_directory.sql - the directory mirror: the xMail entries of LDAP, copied by
-- directory-sync so that recipient lookup and routing keep working while LDAP is down.
-- accounts.uid is the login and mailbox owner; entry_uuid (LDAP entryUUID) follows an
-- entry across renames. account_addresses holds each mailacceptinggeneralid value,
-- lower-cased, so a lookup is one index probe on localpart whatever the case of the address.

CREATE TABLE accounts (
    account_id   bigserial PRIMARY KEY,
    entry_uuid   text UNIQUE,
    dn           text NOT NULL,
    uid          text NOT NULL UNIQUE,
    maildrop     text,
    display_name text,
    quota_kb     bigint,
    created_at   timestamptz DEFAULT now(),
    updated_at   timestamptz DEFAULT now()
);

CREATE TABLE account_addresses (
    account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    localpart  text NOT NULL,
    PRIMARY KEY (account_id, localpart)
);
CREATE INDEX account_addresses_localpart_idx ON account_addresses (localpart);

-- Small facts about the mirror itself, e.g. the syncrepl cookie to resume from.
CREATE TABLE directory_state (
    key   text PRIMARY KEY,
    value text
);
