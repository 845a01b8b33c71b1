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
#include <strings.h>
#include <time.h>

static int outbound_has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

int outbound_may_reply(pool_t *pool, const char *sender, const char *msg, size_t len)
{
    if (!sender || !*sender)
        return 0;
    const char *at = strrchr(sender, '@');
    size_t local = at ? (size_t)(at - sender) : strlen(sender);
    if (outbound_has_prefix(sender, "MAILER-DAEMON") || outbound_has_prefix(sender, "owner-") ||
        (local >= 8 && strncasecmp(sender + local - 8, "-request", 8) == 0))
        return 0;
    static const char *const lists[] = {"List-Id", "List-Post", "List-Unsubscribe",
                                        "List-Help", "List-Owner", "List-Subscribe"};
    size_t n;
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        if (header_get(pool, msg, len, lists[i], &n))
            return 0;
    const char *v = header_get(pool, msg, len, "Precedence", &n);
    if (v && (strcasecmp(v, "bulk") == 0 || strcasecmp(v, "list") == 0 ||
              strcasecmp(v, "junk") == 0))
        return 0;
    v = header_get(pool, msg, len, "Auto-Submitted", &n);
    if (v && !outbound_has_prefix(v, "no"))
        return 0;
    return 1;
}

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

/* 1 when no reply went to sender for this handle within `days`, recording this one. */
static int outbound_vacation_claim(PGconn *db, const char *acct, const char *sender,
                                   const char *handle, int days)
{
    char d[16];
    snprintf(d, sizeof(d), "%d", days);
    const char *p[4] = {acct, sender, handle, d};
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
                             const struct delivery_message *msg, const struct delivery_action *a)
{
    if (!outbound_may_reply(pool, msg->sender, msg->data, msg->len)) {
        log_emit(LOG_INFO, "lmtp.vacation_skipped", "rcpt", rcpt, "to", msg->sender,
                 "reason", "bounce, list or automated mail", NULL);
        return 0;
    }
    int days = a->days > 0 ? a->days : 7; /* RFC 5230 4.1: the default period */
    int c = outbound_vacation_claim(db, acct, msg->sender, a->handle ? a->handle : "", days);
    if (c <= 0)
        return c;
    size_t n;
    const char *subject = a->subject;
    if (!subject) {
        const char *orig = header_get(pool, msg->data, msg->len, "Subject", &n);
        subject = pool_printf(pool, "Auto: %s", orig ? orig : "");
    }
    const char *msgid = header_get(pool, msg->data, msg->len, "Message-ID", &n);
    const char *refs = msgid ? pool_printf(pool, "In-Reply-To: %s\r\nReferences: %s\r\n", msgid,
                                           msgid)
                             : "";
    const char *host = config_str("MAILSTACK_HOSTNAME", "localhost");
    char date[64];
    header_date_now(date, sizeof(date));
    const char *text = pool_printf(
        pool,
        "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\n"
        "Message-ID: <vacation.%s.%lld@%s>\r\n%sAuto-Submitted: auto-replied (vacation)\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
        a->from ? a->from : rcpt, msg->sender, subject, date, acct, (long long)time(NULL), host, refs,
        a->reason ? a->reason : "");
    /* RFC 5230 5.4: the reply goes out with the null envelope sender. */
    if (outbound_insert(db, acct, "vacation", "", msg->sender, NULL, "", text) != 0)
        return -1;
    log_emit(LOG_INFO, "lmtp.vacation_pending", "rcpt", rcpt, "to", msg->sender, NULL);
    return 0;
}

int outbound_record(PGconn *db, pool_t *pool, long long account_id, const char *rcpt,
                    const struct delivery_message *msg, const unsigned char *sha,
                    const char *prefix, const struct delivery_action *action)
{
    const char *acct = pool_printf(pool, "%lld", account_id);
    if (action->kind == DELIVERY_VACATION)
        return outbound_vacation(db, pool, acct, rcpt, msg, action);
    if (outbound_insert(db, acct, "redirect", msg->sender, action->address, sha, prefix,
                        NULL) != 0)
        return -1;
    log_emit(LOG_INFO, "lmtp.redirect_pending", "rcpt", rcpt, "to", action->address, NULL);
    return 0;
}
