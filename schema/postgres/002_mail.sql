-- 002_mail.sql - the mail model as IMAP needs it. Every per-user table leads with
-- account_id and every query names it, so the data can later be distributed or split by
-- account. Bodies live in message_blobs, content-addressed by SHA-256 and shared (a
-- multi-recipient delivery writes the body once); it stands behind the blob interface of
-- DESIGN.md, so it is not keyed by account and could move to an object store. A message's
-- RFC 822 bytes are its header_prefix (per-recipient Return-Path/Delivered-To) followed by
-- the blob's data, byte for byte as received; messages.size counts both.

CREATE TABLE mailboxes (
    account_id    bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    mailbox_id    bigserial,
    name          text NOT NULL,
    uidvalidity   bigint NOT NULL,
    uidnext       bigint NOT NULL DEFAULT 1,
    highestmodseq bigint NOT NULL DEFAULT 1,
    special_use   text,
    subscribed    boolean NOT NULL DEFAULT true,
    created_at    timestamptz DEFAULT now(),
    PRIMARY KEY (account_id, mailbox_id),
    UNIQUE (account_id, name)
);

CREATE TABLE message_blobs (
    sha256     bytea PRIMARY KEY,
    size       bigint NOT NULL,
    data       bytea NOT NULL,
    created_at timestamptz DEFAULT now()
);

-- envelope and bodystructure cache the parsed IMAP forms so FETCH does not re-parse.
CREATE TABLE messages (
    account_id    bigint NOT NULL,
    mailbox_id    bigint NOT NULL,
    uid           bigint NOT NULL,
    modseq        bigint NOT NULL,
    flags         text[] NOT NULL DEFAULT '{}',
    internaldate  timestamptz NOT NULL DEFAULT now(),
    size          bigint NOT NULL,
    blob_sha256   bytea NOT NULL REFERENCES message_blobs (sha256),
    header_prefix bytea NOT NULL DEFAULT '',
    envelope      text,
    bodystructure text,
    PRIMARY KEY (account_id, mailbox_id, uid),
    FOREIGN KEY (account_id, mailbox_id) REFERENCES mailboxes ON DELETE CASCADE
);
-- CONDSTORE/QRESYNC ask "what changed in this mailbox since MODSEQ n".
CREATE INDEX messages_modseq_idx ON messages (account_id, mailbox_id, modseq);
