/* mailstore: recipient lookup behind mailstore.h, in the directory mirror tables. */
#include "mailstore.h"
#include "config/config.h"
#include "db/db.h"
#include "log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mailstore_status mailstore_resolve(const char *local, long long *account_id)
{
    PGconn *db = db_conn();
    if (!db)
        return MAILSTORE_TEMPFAIL;
    int fold = config_bool("MAILSTACK_LOCALPART_CASE_INSENSITIVE", 1);
    const char *p[2] = {local, fold ? "1" : "0"};
    /* Maildrops name the mailbox by the account's uid (hurd@lmtp-store); an accepted
     * alias is honoured too, for LMTP clients that pass the original address. */
    PGresult *r = db_exec(db, "mailstore.resolve",
                          "SELECT account_id FROM ("
                          " SELECT account_id, 0 AS pri FROM accounts"
                          "  WHERE CASE WHEN $2 = '1' THEN lower(uid) = lower($1) ELSE uid = $1 END"
                          " UNION ALL"
                          " SELECT account_id, 1 FROM account_addresses"
                          "  WHERE localpart = CASE WHEN $2 = '1' THEN lower($1) ELSE $1 END"
                          ") c ORDER BY pri, account_id LIMIT 1",
                          2, p);
    if (!r)
        return MAILSTORE_TEMPFAIL;
    enum mailstore_status st = MAILSTORE_UNKNOWN;
    if (PQntuples(r) == 1) {
        *account_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        st = MAILSTORE_OK;
    }
    PQclear(r);
    return st;
}
