/* mailstore: finding the account an LMTP recipient names, in the directory mirror
 * (filing is delivery.h's). Blocking: call from a worker thread. */
#ifndef MAILSTORE_H
#define MAILSTORE_H

enum mailstore_status { MAILSTORE_OK, MAILSTORE_UNKNOWN, MAILSTORE_TEMPFAIL };

/* Finds the account whose uid (or, failing that, accepted local part) is `local`, the
 * whole local part, detail included; failing that, the part before the recipient
 * delimiter (MAILSTACK_RECIPIENT_DELIMITER), which is then cut off `local` with *detail
 * pointing past it (*detail is NULL for a whole match) — the rules directory-sync's
 * lookup follows. Compared case-insensitively unless MAILSTACK_LOOKUP_CASE_INSENSITIVE=0. */
enum mailstore_status mailstore_resolve(char *local, const char **detail,
                                        long long *account_id);

#endif
