/* mailstore: finding the account an LMTP recipient names, in the directory mirror
 * (filing is delivery.h's). Blocking: call from a worker thread. */
#ifndef MAILSTORE_H
#define MAILSTORE_H

enum mailstore_status { MAILSTORE_OK, MAILSTORE_UNKNOWN, MAILSTORE_TEMPFAIL };

/* Finds the account whose uid (or, failing that, accepted local part) is `local`, compared
 * case-insensitively unless MAILSTACK_LOCALPART_CASE_INSENSITIVE=0. */
enum mailstore_status mailstore_resolve(const char *local, long long *account_id);

#endif
