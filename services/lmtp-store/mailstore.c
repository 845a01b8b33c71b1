/* mailstore: recipient lookup behind mailstore.h, in the directory mirror tables. */
#include "mailstore.h"
#include "config/config.h"
#include "db/db.h"
#include "log/log.h"
#include "mailaddr/mailaddr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum mailstore_status mailstore_resolve(char *local, const char **detail, long long *account_id)
{
    PGconn *db = db_conn();
    if (!db)
        return MAILSTORE_TEMPFAIL;
    size_t at = mailaddr_detail_at(local, config_str("MAILSTACK_RECIPIENT_DELIMITER", "+"));
    char base[MAILADDR_PATH_MAX];
    snprintf(base, sizeof(base), "%.*s", (int)at, local);
    const char *p[3] = {local, local[at] ? base : NULL,
                        config_bool("MAILSTACK_LOOKUP_CASE_INSENSITIVE", 1) ? "1" : "0"};
    /* Maildrops name the mailbox by the account's uid (hurd@lmtp-store); an accepted
     * alias is honoured too, for LMTP clients that pass the original address. The whole
     * local part wins over its part before the delimiter. A soft-deleted account (gone
     * from LDAP, its mail kept for the retention period) has no addresses and is no
     * recipient. */
    PGresult *r = db_exec(db, "mailstore.resolve",
                          "SELECT account_id, whole FROM ("
                          " SELECT account_id, 0 AS pri, CASE WHEN $3 = '1'"
                          "  THEN lower(uid) = lower($1) ELSE uid = $1 END AS whole"
                          "  FROM accounts WHERE deleted_at IS NULL AND CASE WHEN $3 = '1'"
                          "  THEN lower(uid) IN (lower($1), lower($2)) ELSE uid IN ($1, $2) END"
                          " UNION ALL"
                          " SELECT account_id, 1, localpart = CASE WHEN $3 = '1'"
                          "  THEN lower($1) ELSE $1 END"
                          "  FROM account_addresses WHERE localpart IN"
                          "  (CASE WHEN $3 = '1' THEN lower($1) ELSE $1 END,"
                          "   CASE WHEN $3 = '1' THEN lower($2) ELSE $2 END)"
                          ") c ORDER BY whole DESC, pri, account_id LIMIT 1",
                          3, p);
    if (!r)
        return MAILSTORE_TEMPFAIL;
    enum mailstore_status st = MAILSTORE_UNKNOWN;
    if (PQntuples(r) == 1) {
        *account_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        *detail = NULL;
        if (strcmp(PQgetvalue(r, 0, 1), "t") != 0) {
            local[at] = 0;
            *detail = local + at + 1;
        }
        st = MAILSTORE_OK;
    }
    PQclear(r);
    return st;
}
