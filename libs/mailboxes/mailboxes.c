/* mailboxes: shared mailbox-row statements behind mailboxes.h. */
#include "mailboxes/mailboxes.h"
#include "db/db.h"

int mailboxes_create_inbox(PGconn *db, const char *account_id)
{
    const char *p[1] = {account_id};
    PGresult *r = db_exec(db, "mailboxes.create_inbox",
                          "INSERT INTO mailboxes (account_id, name, uidvalidity)"
                          " VALUES ($1, 'INBOX', extract(epoch FROM now())::bigint)"
                          " ON CONFLICT (account_id, name) DO NOTHING",
                          1, p);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}
