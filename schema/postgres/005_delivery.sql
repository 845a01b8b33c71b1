-- 005_delivery.sql - what lmtp-store's delivery logic keeps besides the messages:
-- * quotas: one row per account (the seed's quota root user.NAME), made with the default
--   limits (or the directory's quota_kb) when the account first gets mail. Limits follow RFC 9208 so imap-gateway's QUOTA
--   reads the same row: STORAGE in KiB (storage_limit_kb), MESSAGE as a count; NULL means
--   that resource is not limited. Usage is kept in bytes and messages by triggers on
--   messages, in the same transaction as every insert or delete, whichever service writes;
--   RFC 9208's STORAGE usage is ceil(storage_used / 1024). warned is set when the quotawarn
--   notice went out and cleared by delivery once usage is back below the threshold.
--   Lock order for anything that adds messages: the target mailbox rows, then this row.
-- * delivery_duplicates: the seed's Cyrus duplicate delivery database - a Message-ID filed
--   into a mailbox within the window is not filed there again; old rows are pruned.
-- * sieve_scripts: the user's Sieve scripts, at most one active per account (ManageSieve in
--   imap-gateway writes them; lmtp-store runs the active one).
-- * vacation_replies: when a Sieve vacation last answered a sender (RFC 5230 :days).
-- * outbound_pending: mail that delivery wants sent (Sieve redirect, vacation replies) until
--   smtp-edge offers a submission or queue API to hand it to.

CREATE TABLE quotas (
    account_id       bigint PRIMARY KEY REFERENCES accounts ON DELETE CASCADE,
    storage_limit_kb bigint CHECK (storage_limit_kb >= 0),
    message_limit    bigint CHECK (message_limit >= 0),
    storage_used     bigint NOT NULL DEFAULT 0,
    messages_used    bigint NOT NULL DEFAULT 0,
    warned           boolean NOT NULL DEFAULT false,
    updated_at       timestamptz DEFAULT now()
);

CREATE FUNCTION quotas_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE quotas SET storage_used = storage_used + NEW.size,
                      messages_used = messages_used + 1, updated_at = now()
     WHERE account_id = NEW.account_id;
    RETURN NULL;
END $$;

CREATE FUNCTION quotas_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE quotas q SET storage_used = q.storage_used - o.bytes,
                        messages_used = q.messages_used - o.count, updated_at = now()
      FROM (SELECT account_id, sum(size) AS bytes, count(*) AS count FROM old_messages
             GROUP BY account_id) o
     WHERE q.account_id = o.account_id;
    RETURN NULL;
END $$;

-- A delivery inserts one row at a time: a row trigger is a plain indexed UPDATE (a
-- statement trigger's transition table cost a quarter of single-session throughput). An
-- EXPUNGE deletes many: a statement trigger with a transition table makes that one UPDATE
-- per account, not one per message.
CREATE TRIGGER messages_quota_insert AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION quotas_count_inserted();
CREATE TRIGGER messages_quota_delete AFTER DELETE ON messages
    REFERENCING OLD TABLE AS old_messages FOR EACH STATEMENT
    EXECUTE FUNCTION quotas_count_deleted();

-- The directory's quota (accounts.quota_kb, which directory-sync takes from LDAP) is the
-- account's storage limit from the moment it has one: lmtp-store uses it when it makes the
-- row, and this trigger follows every change of it. Without one, the row keeps its limit.
CREATE FUNCTION quotas_follow_directory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE quotas SET storage_limit_kb = NEW.quota_kb, updated_at = now()
     WHERE account_id = NEW.account_id;
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_quota_kb AFTER UPDATE OF quota_kb ON accounts
    FOR EACH ROW WHEN (NEW.quota_kb IS NOT NULL AND NEW.quota_kb IS DISTINCT FROM OLD.quota_kb)
    EXECUTE FUNCTION quotas_follow_directory();

-- message_id is the header's bytes (it may hold 8-bit octets, which text would refuse).
CREATE TABLE delivery_duplicates (
    account_id   bigint NOT NULL,
    mailbox_id   bigint NOT NULL,
    message_id   bytea NOT NULL,
    delivered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, mailbox_id, message_id),
    FOREIGN KEY (account_id, mailbox_id) REFERENCES mailboxes ON DELETE CASCADE
);
CREATE INDEX delivery_duplicates_age_idx ON delivery_duplicates (delivered_at);

CREATE TABLE sieve_scripts (
    account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    name       text NOT NULL,
    script     text NOT NULL,
    active     boolean NOT NULL DEFAULT false,
    updated_at timestamptz DEFAULT now(),
    PRIMARY KEY (account_id, name)
);
CREATE UNIQUE INDEX sieve_scripts_one_active_idx ON sieve_scripts (account_id) WHERE active;

CREATE TABLE vacation_replies (
    account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    sender     text NOT NULL,
    handle     text NOT NULL DEFAULT '',
    replied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, sender, handle)
);

-- kind 'redirect' carries the original message (header_prefix || blob) to recipient;
-- kind 'vacation' carries its own reply bytes in message.
CREATE TABLE outbound_pending (
    outbound_id  bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('redirect', 'vacation')),
    sender       text NOT NULL,
    recipient    text NOT NULL,
    blob_sha256  bytea REFERENCES message_blobs (sha256),
    header_prefix bytea NOT NULL DEFAULT '',
    message      bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(blob_sha256, message) = 1)
);
