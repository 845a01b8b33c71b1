-- 004_account_retention.sql - soft delete of accounts. When an entry leaves LDAP (deleted,
-- moved out of every mirrored base, or missing from a full refresh, perhaps because of a
-- filter mistake), directory-sync sets deleted_at and drops its addresses instead of
-- deleting the row: the row's ON DELETE CASCADE would take the user's mailboxes and
-- messages with it, which no mail system does on a directory change. The row is purged
-- (with its mail) once MAILSTACK_ACCOUNT_RETENTION_DAYS have passed; an entry with the
-- same uid or entryUUID that comes back before then takes the row, and its mail, over.
-- NULL = a live account; every reader that finds accounts ignores the others.

ALTER TABLE accounts ADD COLUMN deleted_at timestamptz;
CREATE INDEX accounts_deleted_at_idx ON accounts (deleted_at) WHERE deleted_at IS NOT NULL;
