/* lookup: the JSON face of the lookup rules (resolve.h) and of the aliases table.
 *
 *   GET /v1/lookup?address=a    200 {"address", "account", "maildrop", "detail",
 *                                     "targets": [{"type": "mailbox", "account",
 *                                     "maildrop", "store", "detail"} |
 *                                     {"type": "forward", "address"}]}
 *                               (the top-level account/maildrop/detail are the first
 *                               mailbox's, for the clients that predate targets);
 *                               404 unknown_recipient | domain_not_local;
 *                               400 bad_address; 422 alias_loop | alias_too_deep |
 *                               expansion_too_large; 503 mirror_unavailable
 *   PUT /v1/aliases[?domain=d]  an aliases(5) text replaces that domain's table ('' =
 *                               every domain) in one transaction; 400 bad_aliases names
 *                               the line
 *   GET /v1/aliases[?domain=d]  {"aliases": [{"domain", "name", "targets"}]}
 *   POST /v1/mirror/refresh     reloads the mirror now
 *
 * Lookups and table writes run on workers; each request owns a pool. */
#include "lookup.h"
#include "aliases.h"
#include "config/config.h"
#include "db/db.h"
#include "log/log.h"
#include "mailaddr/mailaddr.h"
#include "pool/pool.h"
#include "resolve.h"
#include "rules.h"
#include "transport/transport.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lookup_call {
    pool_t *pool;
    struct evhttp_request *req;
    const char *address;
    enum resolve_status status;
    struct resolve_result result;
    long depth_limit;
};

enum aliases_status { ALIASES_OK, ALIASES_BAD, ALIASES_DOWN };

struct aliases_call {
    pool_t *pool;
    struct evhttp_request *req;
    const char *domain;   /* PUT: the table replaced; GET: a filter, or NULL for all */
    const char *text;
    size_t len;
    enum aliases_status status;
    long count;
    char err[256];
    json_t *listing;
};

static workq_t *lookup_workers;
static lookup_refresh_fn lookup_refresher;

static void lookup_work(void *arg)
{
    struct lookup_call *c = arg;
    struct rules_settings set;
    rules_settings_load(&set);
    c->depth_limit = set.depth_limit;
    c->status = resolve_address(c->pool, &set, c->address, &c->result);
}

/* The store a maildrop's host maps to, as smtp-edge will connect to it. */
static json_t *lookup_store(pool_t *pool, const char *maildrop)
{
    mailaddr_t m;
    transport_t t;
    if (mailaddr_parse(pool, maildrop, &m) != 0 || !m.domain ||
        transport_resolve(config_str("MAILSTACK_LMTP_TRANSPORTS", ""), m.domain,
                          config_port("MAILSTACK_LMTP_DEFAULT_PORT", 24), &t) != 0)
        return json_null();
    char out[300];
    transport_format(&t, out, sizeof(out));
    return json_string(out);
}

static json_t *lookup_answer(struct lookup_call *c)
{
    json_t *targets = json_array();
    const struct resolve_target *first = NULL;
    for (const struct resolve_target *t = c->result.targets; t; t = t->next) {
        if (t->forward) {
            json_array_append_new(targets, json_pack("{s:s,s:s}", "type", "forward", "address",
                                                     t->forward));
            continue;
        }
        if (!first)
            first = t;
        json_array_append_new(targets,
                              json_pack("{s:s,s:s,s:s,s:o,s:s?}", "type", "mailbox", "account",
                                        t->account, "maildrop", t->maildrop, "store",
                                        lookup_store(c->pool, t->maildrop), "detail",
                                        t->detail));
    }
    return json_pack("{s:s,s:s?,s:s?,s:s?,s:o}", "address", c->address, "account",
                     first ? first->account : NULL, "maildrop", first ? first->maildrop : NULL,
                     "detail", first ? first->detail : NULL, "targets", targets);
}

static void lookup_refused(struct lookup_call *c, const char *result, int status,
                           const char *code, const char *message)
{
    metrics_add(pool_printf(c->pool, "directory_lookups_total{result=\"%s\"}", result), 1);
    log_emit(status >= 500 || status == 422 ? LOG_WARN : LOG_INFO, "lookup.refused", "address",
             c->address, "code", code, "reason", message, NULL);
    control_reply_error(c->req, status, code, message);
}

static void lookup_done(void *arg)
{
    struct lookup_call *c = arg;
    const char *where = c->result.where ? c->result.where : "?";
    switch (c->status) {
    case RESOLVE_FOUND:
        metrics_add("directory_lookups_total{result=\"found\"}", 1);
        control_reply_json(c->req, 200, lookup_answer(c));
        break;
    case RESOLVE_UNKNOWN:
        metrics_add("directory_lookups_total{result=\"unknown\"}", 1);
        control_reply_error(c->req, 404, "unknown_recipient", "no such recipient");
        break;
    case RESOLVE_NOT_LOCAL:
        metrics_add("directory_lookups_total{result=\"not_local\"}", 1);
        control_reply_error(c->req, 404, "domain_not_local", "not one of our domains");
        break;
    case RESOLVE_BAD:
        lookup_refused(c, "bad", 400, "bad_address", "malformed address");
        break;
    case RESOLVE_DOWN:
        metrics_add("directory_lookups_total{result=\"unavailable\"}", 1);
        control_reply_error(c->req, 503, "mirror_unavailable", "directory mirror unavailable");
        break;
    case RESOLVE_LOOP:
        lookup_refused(c, "loop", 422, "alias_loop",
                       pool_printf(c->pool, "alias loop at %s", where));
        break;
    case RESOLVE_TOO_DEEP:
        lookup_refused(c, "loop", 422, "alias_too_deep",
                       pool_printf(c->pool, "aliases nested deeper than %ld at %s",
                                   c->depth_limit, where));
        break;
    case RESOLVE_TOO_LARGE:
        lookup_refused(c, "too_large", 422, "expansion_too_large",
                       pool_printf(c->pool, "expansion limit reached at %s", where));
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
        log_emit(LOG_INFO, "lookup.refused", "code", "bad_address", "reason",
                 "address parameter missing, empty or too long", NULL);
        metrics_add("directory_lookups_total{result=\"bad\"}", 1);
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

/* ---- the aliases table ---- */

static void aliases_put_work(void *arg)
{
    struct aliases_call *c = arg;
    struct rules_settings set;
    rules_settings_load(&set);
    struct aliases_entry *entries;
    c->count = aliases_parse(c->pool, c->text, c->len, set.fold, &entries, c->err,
                             sizeof(c->err));
    if (c->count < 0) {
        c->status = ALIASES_BAD;
        return;
    }
    /* The table travels as one JSON parameter: one statement whatever its size. */
    json_t *rows = json_array();
    for (struct aliases_entry *e = entries; e; e = e->next) {
        json_t *targets = json_array();
        for (size_t i = 0; i < e->ntargets; i++)
            json_array_append_new(targets, json_string(e->targets[i]));
        json_array_append_new(rows, json_pack("{s:s,s:o}", "name", e->name, "targets", targets));
    }
    char *text = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    c->status = ALIASES_DOWN;
    PGconn *db = db_conn();
    if (!text || !db || db_begin(db) != 0) {
        free(text);
        return;
    }
    const char *p[2] = {c->domain, text};
    PGresult *r = db_exec(db, "aliases.clear", "DELETE FROM mail_aliases WHERE domain = $1", 1,
                          p);
    if (r) {
        PQclear(r);
        r = db_exec(db, "aliases.insert",
                    "INSERT INTO mail_aliases (domain, name, targets)"
                    " SELECT $1, e->>'name', ARRAY(SELECT json_array_elements_text(e->'targets'))"
                    " FROM json_array_elements($2::json) AS e",
                    2, p);
    }
    free(text);
    if (r) {
        PQclear(r);
        if (db_commit(db) == 0) {
            c->status = ALIASES_OK;
            return;
        }
    }
    db_rollback(db);
}

static void aliases_get_work(void *arg)
{
    struct aliases_call *c = arg;
    c->status = ALIASES_DOWN;
    PGconn *db = db_conn();
    if (!db)
        return;
    const char *p[1] = {c->domain};
    PGresult *r = db_exec(db, "aliases.list",
                          "SELECT coalesce(json_agg(json_build_object('domain', domain,"
                          " 'name', name, 'targets', targets) ORDER BY domain, name), '[]')"
                          " FROM mail_aliases WHERE $1::text IS NULL OR domain = $1",
                          1, p);
    if (!r)
        return;
    if (PQntuples(r) == 1)
        c->listing = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    if (c->listing)
        c->status = ALIASES_OK;
}

static void aliases_done(void *arg)
{
    struct aliases_call *c = arg;
    int put = c->text != NULL;
    if (c->status == ALIASES_BAD) {
        log_emit(LOG_INFO, "aliases.refused", "domain", c->domain, "error", c->err, NULL);
        control_reply_error(c->req, 400, "bad_aliases", c->err);
    } else if (c->status == ALIASES_DOWN) {
        control_reply_error(c->req, 503, "mirror_unavailable", "directory mirror unavailable");
    } else if (put) {
        char n[24];
        snprintf(n, sizeof(n), "%ld", c->count);
        log_emit(LOG_INFO, "aliases.replaced", "domain", c->domain, "aliases", n, NULL);
        control_reply_json(c->req, 200, json_pack("{s:s,s:I}", "domain", c->domain, "aliases",
                                                  (json_int_t)c->count));
    } else {
        control_reply_json(c->req, 200, json_pack("{s:o}", "aliases", c->listing));
    }
    pool_destroy(c->pool);
}

static void aliases_handle(struct evhttp_request *req, void *arg)
{
    (void)arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_PUT) {
        control_reply_error(req, 405, "method_not_allowed", "use GET or PUT");
        return;
    }
    pool_t *pool = pool_create(0);
    struct aliases_call *c = pool_zalloc(pool, sizeof(*c));
    c->pool = pool;
    c->req = req;
    char *domain = control_query_param(req, "domain");
    if (domain && *domain) {
        c->domain = mailaddr_lower(pool, domain);
        if (!config_is_local_domain(c->domain)) {
            free(domain);
            pool_destroy(pool);
            control_reply_error(req, 400, "domain_not_local", "not one of our domains");
            return;
        }
    } else if (cmd == EVHTTP_REQ_PUT) {
        c->domain = "";
    }
    free(domain);
    if (cmd == EVHTTP_REQ_PUT) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        c->len = evbuffer_get_length(in);
        char *text = pool_alloc(pool, c->len + 1);
        evbuffer_copyout(in, text, c->len);
        text[c->len] = 0;
        c->text = text;
    }
    if (workq_submit(lookup_workers, c->text ? aliases_put_work : aliases_get_work, aliases_done,
                     c) != 0) {
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
    control_route_admin(control, "/v1/aliases", aliases_handle, NULL);
    control_route_admin(control, "/v1/mirror/refresh", lookup_refresh_handle, NULL);
}
