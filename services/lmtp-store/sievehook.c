/* sievehook: the recipient's active script from sieve_scripts, parsed and run by libs/sieve
 * for every delivery (a parse of even the largest allowed script costs far less than the
 * delivery's commit), its actions mapped onto delivery's. Settings: the seed's
 * sieve_maxscriptsize as MAILSTACK_SIEVE_MAX_SCRIPT_SIZE (100k); the detail separators
 * are MAILSTACK_RECIPIENT_DELIMITER's, as in recipient lookup. */
#include "sievehook.h"
#include "config/config.h"
#include "db/db.h"
#include "log/log.h"
#include "sieve/sieve.h"

#include <stdio.h>
#include <string.h>

/* The active script's text, NULL when the account has none; -1 on a database error. */
static int sievehook_load(PGconn *db, pool_t *pool, long long account_id, const char **name,
                          const char **text, size_t *len)
{
    char acct[24];
    snprintf(acct, sizeof(acct), "%lld", account_id);
    const char *p[1] = {acct};
    PGresult *r = db_exec(db, "sieve.active",
                          "SELECT name, script FROM sieve_scripts WHERE account_id = $1 AND active",
                          1, p);
    if (!r)
        return -1;
    *text = NULL;
    if (PQntuples(r) == 1) {
        *name = pool_strdup(pool, PQgetvalue(r, 0, 0));
        *len = (size_t)PQgetlength(r, 0, 1);
        *text = pool_memdup(pool, PQgetvalue(r, 0, 1), *len + 1);
    }
    PQclear(r);
    return 0;
}

static struct delivery_action *sievehook_map(pool_t *pool, const struct sieve_action *s)
{
    struct delivery_action *a = pool_zalloc(pool, sizeof(*a));
    a->flags = s->flags;
    a->nflags = s->nflags;
    switch (s->kind) {
    case SIEVE_KEEP:
        a->kind = DELIVERY_KEEP;
        break;
    case SIEVE_FILEINTO:
        a->kind = DELIVERY_FILEINTO;
        a->mailbox = s->mailbox;
        break;
    case SIEVE_REDIRECT:
        a->kind = DELIVERY_REDIRECT;
        a->address = s->address;
        break;
    case SIEVE_REJECT:
        a->kind = DELIVERY_REJECT; /* before the final reply: always LMTP's 550, no bounce */
        a->reason = s->reason;
        break;
    case SIEVE_DISCARD:
        a->kind = DELIVERY_DISCARD;
        break;
    case SIEVE_VACATION:
        a->kind = DELIVERY_VACATION;
        a->address = s->vacation->to;
        a->message = s->vacation->message;
        a->key = s->vacation->key;
        a->days = s->vacation->days;
        break;
    }
    return a;
}

int sievehook_actions(pool_t *pool, PGconn *db, const struct delivery_message *msg,
                      const struct delivery_rcpt *rcpt, const struct delivery_action **out)
{
    static const struct delivery_action keep = {.kind = DELIVERY_KEEP};
    *out = &keep;
    const char *name = NULL, *text;
    size_t len;
    if (sievehook_load(db, pool, rcpt->account_id, &name, &text, &len) != 0)
        return -1;
    if (!text)
        return 0;
    struct sieve_config cfg;
    sieve_config_default(&cfg);
    cfg.max_script_size = (size_t)config_size("MAILSTACK_SIEVE_MAX_SCRIPT_SIZE", 102400);
    cfg.detail_delims = config_str("MAILSTACK_RECIPIENT_DELIMITER", "+");
    struct sieve_error err = {0};
    sieve_script_t *script = sieve_parse(pool, text, len, &cfg, &err);
    if (!script) {
        log_emit(LOG_WARN, "lmtp.sieve_invalid", "rcpt", rcpt->address, "script", name,
                 "line", pool_printf(pool, "%u", err.line), "column",
                 pool_printf(pool, "%u", err.column), "error", err.message, NULL);
        return 0; /* a script that cannot run never costs mail: implicit keep */
    }
    struct sieve_message m = {.data = msg->data, .len = msg->len};
    struct sieve_envelope env = {.from = msg->sender, .to = rcpt->address};
    struct sieve_result res;
    if (sieve_run(script, &m, &env, pool, &res) != 0)
        log_emit(LOG_WARN, "lmtp.sieve_failed", "rcpt", rcpt->address, "script", name, "error",
                 res.error, NULL);
    for (size_t i = 0; i < res.nnotes; i++)
        log_emit(LOG_INFO, "lmtp.sieve_note", "rcpt", rcpt->address, "script", name, "note",
                 res.notes[i], NULL);
    struct delivery_action *head = NULL, **tail = &head;
    for (size_t i = 0; i < res.nactions; i++) {
        *tail = sievehook_map(pool, &res.actions[i]);
        tail = &(*tail)->next;
    }
    if (head)
        *out = head;
    return 0;
}
