/* resolve: the lookup rules behind resolve.h as a depth-first walk over the mirror.
 * Every name and group visited is a node: one still being expanded when it is reached
 * again is a loop; one already expanded is not expanded twice (its targets are in
 * already), which keeps a diamond of aliases linear instead of exponential. Rows are
 * copied out of each PGresult before recursing, so one result is alive at a time. */
#include "resolve.h"
#include "config/config.h"
#include "db/db.h"

#include <stdlib.h>
#include <string.h>

struct resolve_node {
    long long group_id;        /* a group, or 0 for a name */
    const char *domain, *key;  /* a name */
    int self;                  /* a name's entries only (its alias naming it) */
    int busy;                  /* being expanded: reaching it again is a loop */
    enum resolve_status state; /* once expanded: FOUND or UNKNOWN */
    struct resolve_node *next;
};

struct resolve_ctx {
    pool_t *pool;
    PGconn *db;
    const struct rules_settings *set;
    struct resolve_node *nodes;
    struct resolve_target *head, *tail;
    long work;
    const char *where;
};

/* One row of a name or member query, copied out of its PGresult. */
struct resolve_row {
    int kind;             /* name query: 0 alias target, 1 entry, 2 group */
    long long id;         /* entry: account_id; group: group_id */
    const char *a, *b;    /* alias target | uid, maildrop | member address */
};

static enum resolve_status resolve_local(struct resolve_ctx *c, const char *local,
                                         const char *domain, long depth);
static enum resolve_status resolve_group(struct resolve_ctx *c, long long group_id,
                                         const char *dn, const char *domain, long depth);

static void resolve_add(struct resolve_ctx *c, struct resolve_target *t)
{
    if (c->tail)
        c->tail->next = t;
    else
        c->head = t;
    c->tail = t;
}

static void resolve_add_mailbox(struct resolve_ctx *c, long long account_id, const char *uid,
                                const char *maildrop, const char *detail)
{
    for (struct resolve_target *t = c->head; t; t = t->next)
        if (!t->forward && t->account_id == account_id)
            return;
    struct resolve_target *t = pool_zalloc(c->pool, sizeof(*t));
    t->account_id = account_id;
    t->account = uid;
    t->maildrop = maildrop;
    t->detail = detail;
    resolve_add(c, t);
}

static void resolve_add_forward(struct resolve_ctx *c, const mailaddr_t *addr)
{
    const char *address = mailaddr_format(c->pool, addr);
    for (struct resolve_target *t = c->head; t; t = t->next)
        if (t->forward && strcmp(t->forward, address) == 0)
            return;
    struct resolve_target *t = pool_zalloc(c->pool, sizeof(*t));
    t->forward = address;
    resolve_add(c, t);
}

/* The node to expand next — a name (group_id 0) or a group — or NULL with *st the answer
 * instead: the result of an earlier expansion, a loop, too deep, or the expansion limit. */
static struct resolve_node *resolve_enter(struct resolve_ctx *c, long long group_id,
                                          const char *domain, const char *key, int self,
                                          const char *where, long depth,
                                          enum resolve_status *st)
{
    struct resolve_node *node;
    for (node = c->nodes; node; node = node->next)
        if (group_id ? node->group_id == group_id
                     : !node->group_id && node->self == self && strcmp(node->key, key) == 0 &&
                           strcmp(node->domain, domain) == 0)
            break;
    if (node && !node->busy) {
        *st = node->state;
        return NULL;
    }
    if (node || depth > c->set->depth_limit || ++c->work > c->set->expansion_limit) {
        *st = node ? RESOLVE_LOOP
                   : depth > c->set->depth_limit ? RESOLVE_TOO_DEEP : RESOLVE_TOO_LARGE;
        c->where = where;
        return NULL;
    }
    node = pool_zalloc(c->pool, sizeof(*node));
    node->group_id = group_id;
    node->key = key;
    node->domain = domain;
    node->self = self;
    node->busy = 1;
    node->next = c->nodes;
    c->nodes = node;
    return node;
}

static struct resolve_row *resolve_rows(struct resolve_ctx *c, PGresult *r, int *n)
{
    *n = PQntuples(r);
    struct resolve_row *rows = pool_zalloc(c->pool, (size_t)(*n ? *n : 1) * sizeof(*rows));
    for (int i = 0; i < *n; i++) {
        rows[i].kind = atoi(PQgetvalue(r, i, 0));
        rows[i].id = PQgetisnull(r, i, 1) ? 0 : strtoll(PQgetvalue(r, i, 1), NULL, 10);
        rows[i].a = PQgetisnull(r, i, 2) ? NULL : pool_strdup(c->pool, PQgetvalue(r, i, 2));
        rows[i].b = PQgetisnull(r, i, 3) ? NULL : pool_strdup(c->pool, PQgetvalue(r, i, 3));
    }
    PQclear(r);
    return rows;
}

/* An alias target or a list member, as written: another name in `domain`, another of our
 * addresses, or a forward. `self_key`, when set, is the alias being expanded: naming it
 * again means its entry, as aliases(5)'s `hurd: hurd, copy@elsewhere` does. Targets that
 * can never be delivered (a pipe, bad syntax) are skipped: PUT refuses them, but a list
 * member comes from LDAP as it is. */
static enum resolve_status resolve_target_text(struct resolve_ctx *c, const char *text,
                                               const char *domain, const char *self_key,
                                               long depth, int *self)
{
    struct rules_target t;
    rules_classify(c->pool, text, &t);
    const char *local = NULL, *in = domain;
    if (t.kind == RULES_NAME) {
        local = t.name;
    } else if (t.kind == RULES_ADDRESS) {
        if (!config_is_local_domain(t.addr.domain)) {
            resolve_add_forward(c, &t.addr);
            return RESOLVE_FOUND;
        }
        local = mailaddr_local_full(c->pool, &t.addr);
        in = t.addr.domain;
    } else {
        return RESOLVE_UNKNOWN;
    }
    if (self_key && strcmp(in, domain) == 0 &&
        strcmp(rules_key(c->pool, c->set, local), self_key) == 0) {
        *self = 1;
        return RESOLVE_UNKNOWN;
    }
    return resolve_local(c, local, in, depth);
}

static const char *resolve_name_sql =
    "SELECT 0, t.n, t.target, NULL"
    "  FROM (SELECT targets FROM mail_aliases WHERE name = $1::text AND domain IN ($2, '')"
    "        ORDER BY domain = '' LIMIT 1) al,"
    "       unnest(al.targets) WITH ORDINALITY AS t(target, n)"
    "  WHERE $4 = '0'"
    " UNION ALL"
    " SELECT DISTINCT 1, a.account_id, a.uid, a.maildrop"
    "  FROM account_addresses x JOIN accounts a ON a.account_id = x.account_id"
    "  WHERE (x.localpart = $1 AND (a.domain = $2 OR (a.domain = '' AND $3 = '0')))"
    "     OR (x.localpart = $1 || '@' || $2::text AND a.domain IN ($2, ''))"
    " UNION ALL"
    " SELECT DISTINCT 2, g.group_id, g.dn, NULL"
    "  FROM group_addresses ga JOIN mail_groups g ON g.group_id = ga.group_id"
    "  WHERE (ga.localpart = $1 AND (g.domain = $2 OR (g.domain = '' AND $3 = '0')))"
    "     OR (ga.localpart = $1 || '@' || $2::text AND g.domain IN ($2, ''))"
    " ORDER BY 1, 2";

/* Looks `key` up in `domain`: aliases, then entries, then groups. `self` skips the
 * aliases (the entry a self-naming alias means). */
static enum resolve_status resolve_name(struct resolve_ctx *c, const char *key,
                                        const char *domain, long depth, const char *detail,
                                        int self)
{
    enum resolve_status st;
    struct resolve_node *node =
        resolve_enter(c, 0, domain, key, self, pool_printf(c->pool, "%s@%s", key, domain),
                      depth, &st);
    if (!node)
        return st;
    char base[1024];
    const char *p[4] = {key, domain, config_domain_base(domain, base, sizeof(base)) ? "1" : "0",
                        self ? "1" : "0"};
    PGresult *r = db_exec(c->db, "resolve.name", resolve_name_sql, 4, p);
    if (!r)
        return RESOLVE_DOWN;
    int n;
    struct resolve_row *rows = resolve_rows(c, r, &n);
    st = RESOLVE_UNKNOWN;
    int kind = n > 0 ? rows[0].kind : -1;
    if (kind == 0) {
        /* An alias matched: it decides, even if none of its targets leads anywhere. */
        st = RESOLVE_FOUND;
        for (int i = 0; i < n; i++) {
            int is_self = 0;
            enum resolve_status ts =
                resolve_target_text(c, rows[i].a, domain, key, depth + 1, &is_self);
            if (is_self)
                ts = resolve_name(c, key, domain, depth + 1, NULL, 1);
            if (ts != RESOLVE_FOUND && ts != RESOLVE_UNKNOWN)
                return ts;
        }
    } else {
        for (int i = 0; i < n && rows[i].kind == 1; i++)
            if (rules_maildrop_deliverable(rows[i].b)) {
                resolve_add_mailbox(c, rows[i].id, rows[i].a, rows[i].b, detail);
                st = RESOLVE_FOUND;
            }
        int entries = st == RESOLVE_FOUND;
        for (int i = 0; i < n && !entries; i++) {
            if (rows[i].kind != 2)
                continue;
            enum resolve_status gs = resolve_group(c, rows[i].id, rows[i].a, domain, depth + 1);
            if (gs != RESOLVE_FOUND && gs != RESOLVE_UNKNOWN)
                return gs;
            st = RESOLVE_FOUND;
        }
    }
    node->busy = 0;
    node->state = st;
    return st;
}

/* Members are DNs (an entry or a nested group; compared case-insensitively, as DNs'
 * attribute names and these directories' values are) or addresses. A soft-deleted
 * account (mirror_store.h) is no member. */
static const char *resolve_members_sql =
    "SELECT CASE WHEN a.account_id IS NOT NULL THEN 1"
    "            WHEN g.group_id IS NOT NULL THEN 2 ELSE 0 END,"
    "       coalesce(a.account_id, g.group_id),"
    "       coalesce(a.uid, g.dn, m.member_address), a.maildrop"
    "  FROM group_members m"
    "  LEFT JOIN accounts a ON lower(a.dn) = lower(m.member_dn) AND a.deleted_at IS NULL"
    "  LEFT JOIN mail_groups g ON a.account_id IS NULL AND lower(g.dn) = lower(m.member_dn)"
    "  WHERE m.group_id = $1::bigint"
    "  ORDER BY m.member_dn, m.member_address";

static enum resolve_status resolve_group(struct resolve_ctx *c, long long group_id,
                                         const char *dn, const char *domain, long depth)
{
    enum resolve_status st;
    struct resolve_node *node = resolve_enter(c, group_id, NULL, NULL, 0, dn, depth, &st);
    if (!node)
        return st;
    const char *p[1] = {pool_printf(c->pool, "%lld", group_id)};
    PGresult *r = db_exec(c->db, "resolve.members", resolve_members_sql, 1, p);
    if (!r)
        return RESOLVE_DOWN;
    int n;
    struct resolve_row *rows = resolve_rows(c, r, &n);
    for (int i = 0; i < n; i++) {
        st = RESOLVE_UNKNOWN;
        if (rows[i].kind == 1) {
            if (rules_maildrop_deliverable(rows[i].b))
                resolve_add_mailbox(c, rows[i].id, rows[i].a, rows[i].b, NULL);
        } else if (rows[i].kind == 2) {
            st = resolve_group(c, rows[i].id, rows[i].a, domain, depth + 1);
        } else if (rows[i].a) {
            int is_self = 0;
            st = resolve_target_text(c, rows[i].a, domain, NULL, depth + 1, &is_self);
        }
        if (st != RESOLVE_FOUND && st != RESOLVE_UNKNOWN)
            return st;
    }
    node->busy = 0;
    node->state = RESOLVE_FOUND;
    return RESOLVE_FOUND;
}

/* Whole local part first, then split at the delimiter (Postfix's order). */
static enum resolve_status resolve_local(struct resolve_ctx *c, const char *local,
                                         const char *domain, long depth)
{
    enum resolve_status st =
        resolve_name(c, rules_key(c->pool, c->set, local), domain, depth, NULL, 0);
    size_t at = mailaddr_detail_at(local, c->set->delimiters);
    if (st != RESOLVE_UNKNOWN || !local[at])
        return st;
    const char *name = rules_key(c->pool, c->set, pool_strndup(c->pool, local, at));
    return resolve_name(c, name, domain, depth, local + at + 1, 0);
}

enum resolve_status resolve_address(pool_t *pool, const struct rules_settings *set,
                                    const char *address, struct resolve_result *out)
{
    memset(out, 0, sizeof(*out));
    mailaddr_t addr;
    if (mailaddr_parse(pool, address, &addr) != 0 || !addr.domain)
        return RESOLVE_BAD;
    if (!config_is_local_domain(addr.domain))
        return RESOLVE_NOT_LOCAL;
    struct resolve_ctx c = {.pool = pool, .db = db_conn(), .set = set};
    if (!c.db)
        return RESOLVE_DOWN;
    enum resolve_status st =
        resolve_local(&c, mailaddr_local_full(pool, &addr), addr.domain, 0);
    out->targets = c.head;
    out->where = c.where;
    if (st == RESOLVE_FOUND && !c.head)
        st = RESOLVE_UNKNOWN;
    return st;
}
