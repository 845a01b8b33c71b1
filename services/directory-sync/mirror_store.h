/* mirror_store: the PostgreSQL side of the mirror. Every change is one statement, so one
 * transaction: an entry's row, its addresses and members, and the sync cookie that covers
 * the change commit together, and a crash can never leave a cookie ahead of the rows (or
 * rows of half an entry). Rows are keyed by entryUUID; a renamed entry keeps its row. */
#ifndef MIRROR_STORE_H
#define MIRROR_STORE_H

#include "mirror_entry.h"
#include "pool/pool.h"

#include <libpq-fe.h>

/* Row counts, or changes to them: live accounts, their addresses, groups, and accounts
 * soft-deleted (deleted_at set) and awaiting their purge. */
struct mirror_counts {
    long accounts, addresses, groups, deleted;
};

enum mirror_store_result {
    MIRROR_STORED = 0,
    MIRROR_REJECTED = 1, /* PostgreSQL refused this entry (e.g. a uid another entry has) */
    MIRROR_DB_DOWN = -1, /* the connection broke: nothing was written, retry later */
};

/* The cookie to save with a change: key and value, or both NULL to leave it. */
struct mirror_cookie {
    const char *key, *value;
};

/* Writes an account or group record (MIRROR_SKIP removes the entry's rows instead). An
 * account's row is never deleted here, only soft-deleted; an account entry that comes back
 * with its entryUUID, or a new entry with the uid of a soft-deleted row, takes it over. */
int mirror_store_record(PGconn *db, pool_t *pool, const struct mirror_record *rec,
                        struct mirror_cookie cookie, struct mirror_counts *delta);
/* Removes the rows of the entries in `uuids` (a text[] literal). */
int mirror_store_remove(PGconn *db, const char *uuids, struct mirror_cookie cookie,
                        struct mirror_counts *delta);
/* Ends a refresh: when `seen` (text[] of every entryUUID the refresh reported) is not
 * NULL, removes the rows of this session (DN under root_key) and the strays (DN under none
 * of roots_array) whose entry was not seen; saves the cookie and the scope fingerprint.
 * *removed is the number of rows removed. */
int mirror_store_finish_refresh(PGconn *db, const char *seen, const char *root_key,
                                const char *roots_array, struct mirror_cookie cookie,
                                struct mirror_cookie fingerprint, long *removed);
/* Saves a cookie alone (one that came without a change). */
int mirror_store_cookie(PGconn *db, struct mirror_cookie cookie);
/* Reads a saved value into *value (pool; NULL when absent). 0, or -1 when PostgreSQL
 * failed. */
int mirror_store_load(PGconn *db, pool_t *pool, const char *key, char **value);
int mirror_store_count(PGconn *db, struct mirror_counts *out);
/* Deletes, with their mail, the accounts soft-deleted more than retention_days ago, and
 * logs each one (uid, messages removed). Returns how many, or -1 when PostgreSQL failed. */
long mirror_store_purge(PGconn *db, double retention_days);

#endif
