/* outbound: recording redirects and vacation replies behind outbound.h. A vacation reply
 * is claimed in vacation_replies with one upsert (as dedup claims a Message-ID), so two
 * deliveries at once still answer a sender once per period. */
#include "outbound.h"
#include "config/config.h"
#include "db/db.h"
#include "header.h"
#include "log/log.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* One outbound_pending row: a redirect names the stored blob (sha) and its prefix, a
 * vacation reply carries its own bytes (text). */
static int outbound_insert(PGconn *db, const char *acct, const char *kind, const char *sender,
                           const char *recipient, const unsigned char *sha, const char *prefix,
                           const char *text)
{
    const char *p[7] = {acct, kind, sender, recipient, (const char *)sha, prefix, text};
    int lengths[7] = {0, 0, 0, 0, SHA256_DIGEST_LENGTH, (int)strlen(prefix),
                      text ? (int)strlen(text) : 0};
    int formats[7] = {0, 0, 0, 0, 1, 1, 1};
    PGresult *r = db_exec_bin(db, "outbound.pending",
                              "INSERT INTO outbound_pending (account_id, kind, sender, recipient,"
                              " blob_sha256, header_prefix, message)"
                              " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                              7, p, lengths, formats);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

/* 1 when no reply went out under key within days, recording this one. */
static int outbound_vacation_claim(PGconn *db, const char *acct, const char *to,
                                   const char *key, unsigned days)
{
    char d[16];
    snprintf(d, sizeof(d), "%u", days);
    const char *p[4] = {acct, to, key, d};
    PGresult *r = db_exec(db, "outbound.vacation_claim",
                          "INSERT INTO vacation_replies (account_id, sender, handle)"
                          " VALUES ($1, lower($2), $3)"
                          " ON CONFLICT (account_id, sender, handle) DO UPDATE"
                          " SET replied_at = now()"
                          " WHERE vacation_replies.replied_at <= now() - make_interval(days => $4::int)"
                          " RETURNING 1",
                          4, p);
    if (!r)
        return -1;
    int claimed = PQntuples(r) == 1;
    PQclear(r);
    return claimed;
}

static int outbound_vacation(PGconn *db, pool_t *pool, const char *acct, const char *rcpt,
                             const struct delivery_action *a)
{
    int c = outbound_vacation_claim(db, acct, a->address, a->key, a->days);
    if (c <= 0) {
        if (c == 0)
            log_emit(LOG_INFO, "lmtp.vacation_already_sent", "rcpt", rcpt, "to", a->address,
                     NULL);
        return c;
    }
    char date[64];
    header_date_now(date, sizeof(date));
    const char *text = pool_printf(pool, "Date: %s\r\nMessage-ID: <vacation.%s.%lld.%s@%s>\r\n%s",
                                   date, acct, (long long)time(NULL), a->key,
                                   config_str("MAILSTACK_HOSTNAME", "localhost"), a->message);
    /* RFC 5230 5.4: the reply goes out with the null envelope sender. */
    if (outbound_insert(db, acct, "vacation", "", a->address, NULL, "", text) != 0)
        return -1;
    log_emit(LOG_INFO, "lmtp.vacation_pending", "rcpt", rcpt, "to", a->address, NULL);
    return 0;
}

int outbound_record(PGconn *db, pool_t *pool, long long account_id, const char *rcpt,
                    const struct delivery_message *msg, const unsigned char *sha,
                    const char *prefix, const struct delivery_action *action)
{
    const char *acct = pool_printf(pool, "%lld", account_id);
    if (action->kind == DELIVERY_VACATION)
        return outbound_vacation(db, pool, acct, rcpt, action);
    if (outbound_insert(db, acct, "redirect", msg->sender, action->address, sha, prefix,
                        NULL) != 0)
        return -1;
    log_emit(LOG_INFO, "lmtp.redirect_pending", "rcpt", rcpt, "to", action->address, NULL);
    return 0;
}
