/* lookup: resolves an address the way the seed's Postfix did — local@domain for one of
 * our domains is accepted when an entry has mailacceptinggeneralid=local (or the whole
 * address, for virtual domains), and goes to that entry's maildrop; an entry whose
 * maildrop is a pipe or a program ("*|*", "*:*") is never a target (the seed's
 * ldap_query_filter). `+detail` is split off and carried to the store. */
#include "lookup.h"
#include "config/config.h"
#include "db/db.h"
#include "log/log.h"
#include "mailaddr/mailaddr.h"
#include "pool/pool.h"

#include <ctype.h>
#include <string.h>

enum lookup_status { LOOKUP_FOUND, LOOKUP_UNKNOWN, LOOKUP_NOT_LOCAL, LOOKUP_BAD, LOOKUP_DOWN };

struct lookup_call {
    pool_t *pool;
    struct evhttp_request *req;
    char *address;
    enum lookup_status status;
    mailaddr_t addr;
    const char *account, *maildrop;
};

static workq_t *lookup_workers;
static lookup_refresh_fn lookup_refresher;

static char *lookup_fold(pool_t *pool, const char *s)
{
    char *c = pool_strdup(pool, s);
    if (config_bool("MAILSTACK_LOCALPART_CASE_INSENSITIVE", 1))
        for (char *p = c; *p; p++)
            if ((unsigned char)*p < 0x80)
                *p = (char)tolower((unsigned char)*p);
    return c;
}

static void lookup_work(void *arg)
{
    struct lookup_call *c = arg;
    if (mailaddr_parse(c->pool, c->address, &c->addr) != 0 || !c->addr.domain) {
        c->status = LOOKUP_BAD;
        return;
    }
    if (!config_is_local_domain(c->addr.domain)) {
        c->status = LOOKUP_NOT_LOCAL;
        return;
    }
    PGconn *db = db_conn();
    if (!db) {
        c->status = LOOKUP_DOWN;
        return;
    }
    const char *local = lookup_fold(c->pool, c->addr.local);
    const char *p[2] = {local, pool_printf(c->pool, "%s@%s", local, c->addr.domain)};
    /* The bare local part wins over a whole-address entry: that is the seed's order. */
    PGresult *r = db_exec(db, "lookup.address",
                          "SELECT a.uid, a.maildrop FROM account_addresses x"
                          " JOIN accounts a ON a.account_id = x.account_id"
                          " WHERE x.localpart IN ($1, $2) AND a.maildrop IS NOT NULL"
                          " AND a.maildrop <> '' AND strpos(a.maildrop, '|') = 0"
                          " AND strpos(a.maildrop, ':') = 0"
                          " ORDER BY (x.localpart = $1) DESC, a.account_id LIMIT 1",
                          2, p);
    if (!r) {
        c->status = LOOKUP_DOWN;
        return;
    }
    if (PQntuples(r) == 0) {
        c->status = LOOKUP_UNKNOWN;
    } else {
        c->status = LOOKUP_FOUND;
        c->account = pool_strdup(c->pool, PQgetvalue(r, 0, 0));
        c->maildrop = pool_strdup(c->pool, PQgetvalue(r, 0, 1));
    }
    PQclear(r);
}

static void lookup_done(void *arg)
{
    struct lookup_call *c = arg;
    switch (c->status) {
    case LOOKUP_FOUND:
        metrics_add("directory_lookups_total{result=\"found\"}", 1);
        control_reply_json(c->req, 200,
                           json_pack("{s:s,s:s,s:s,s:s?,s:[{s:s,s:s,s:s?}]}", "address",
                                     c->address, "account", c->account, "maildrop", c->maildrop,
                                     "detail", c->addr.detail, "targets", "type", "mailbox",
                                     "maildrop", c->maildrop, "detail", c->addr.detail));
        break;
    case LOOKUP_UNKNOWN:
        metrics_add("directory_lookups_total{result=\"unknown\"}", 1);
        control_reply_error(c->req, 404, "unknown_recipient", "no such recipient");
        break;
    case LOOKUP_NOT_LOCAL:
        metrics_add("directory_lookups_total{result=\"not_local\"}", 1);
        control_reply_error(c->req, 404, "domain_not_local", "not one of our domains");
        break;
    case LOOKUP_BAD:
        metrics_add("directory_lookups_total{result=\"bad\"}", 1);
        control_reply_error(c->req, 400, "bad_address", "malformed address");
        break;
    case LOOKUP_DOWN:
        metrics_add("directory_lookups_total{result=\"unavailable\"}", 1);
        control_reply_error(c->req, 503, "mirror_unavailable", "directory mirror unavailable");
        break;
    }
    pool_destroy(c->pool);
}

static void lookup_handle(struct evhttp_request *req, void *arg)
{
    (void)arg;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        control_reply_error(req, 405, "method_not_allowed", "use GET");
        return;
    }
    char *address = control_query_param(req, "address");
    if (!address || !*address || strlen(address) > 512) {
        free(address);
        control_reply_error(req, 400, "bad_address", "address parameter required");
        return;
    }
    pool_t *pool = pool_create(0);
    struct lookup_call *c = pool_zalloc(pool, sizeof(*c));
    c->pool = pool;
    c->req = req;
    c->address = pool_strdup(pool, address);
    free(address);
    if (workq_submit(lookup_workers, lookup_work, lookup_done, c) != 0) {
        pool_destroy(pool);
        control_reply_error(req, 503, "shutting_down", "service is shutting down");
    }
}

static void lookup_refreshed(void *arg, int ok)
{
    struct evhttp_request *req = arg;
    if (ok)
        control_reply_json(req, 200, json_pack("{s:s}", "status", "reloaded"));
    else
        control_reply_error(req, 503, "reload_failed", "the mirror could not be reloaded");
}

static void lookup_refresh_handle(struct evhttp_request *req, void *arg)
{
    (void)arg;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        control_reply_error(req, 405, "method_not_allowed", "use POST");
        return;
    }
    lookup_refresher(lookup_refreshed, req);
}

void lookup_set_refresher(lookup_refresh_fn fn)
{
    lookup_refresher = fn;
}

void lookup_register(control_t *control, workq_t *workers)
{
    lookup_workers = workers;
    metrics_describe("directory_lookups_total", "counter", "Recipient lookups by result.");
    control_route(control, "/v1/lookup", lookup_handle, NULL);
    control_route(control, "/v1/mirror/refresh", lookup_refresh_handle, NULL);
}
