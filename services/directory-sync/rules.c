/* rules: the database-free lookup rules behind rules.h. */
#include "rules.h"
#include "config/config.h"

#include <string.h>
#include <strings.h>

void rules_settings_load(struct rules_settings *set)
{
    set->fold = config_bool("MAILSTACK_LOOKUP_CASE_INSENSITIVE", 1);
    set->delimiters = config_str("MAILSTACK_RECIPIENT_DELIMITER", "+");
    set->depth_limit = config_long("MAILSTACK_ALIAS_DEPTH_LIMIT", 20);
    set->expansion_limit = config_long("MAILSTACK_ALIAS_EXPANSION_LIMIT", 1000);
    if (set->depth_limit < 1)
        set->depth_limit = 20;
    if (set->expansion_limit < 1)
        set->expansion_limit = 1000;
}

const char *rules_key(pool_t *pool, const struct rules_settings *set, const char *local)
{
    return set->fold ? mailaddr_lower(pool, local) : local;
}

int rules_maildrop_deliverable(const char *maildrop)
{
    return maildrop && *maildrop && !strchr(maildrop, '|') && !strchr(maildrop, ':');
}

/* What aliases(5) would run or write to rather than deliver. */
static const char *rules_forbidden(const char *s)
{
    if (s[0] == '"')
        s++;
    if (s[0] == '|')
        return "pipe targets (|command) are not allowed";
    if (s[0] == '/')
        return "file targets (/path) are not allowed";
    if (strncasecmp(s, ":include:", 9) == 0)
        return ":include: targets are not allowed";
    return NULL;
}

void rules_classify(pool_t *pool, const char *text, struct rules_target *out)
{
    memset(out, 0, sizeof(*out));
    mailaddr_t a;
    if (mailaddr_parse(pool, text, &a) != 0) {
        /* `|cmd arg` and `:include:/x` are no mailboxes, but say why they are refused. */
        out->why = rules_forbidden(text);
        out->kind = out->why ? RULES_FORBIDDEN : RULES_BAD;
        if (!out->why)
            out->why = "not an address or a local name";
        return;
    }
    if (a.domain) {
        out->kind = RULES_ADDRESS;
        out->addr = a;
        return;
    }
    /* '|' and '/' are atext, so "|prog" parses as a name: the leading octet decides. */
    out->name = mailaddr_local_full(pool, &a);
    out->why = rules_forbidden(out->name);
    out->kind = out->why ? RULES_FORBIDDEN : RULES_NAME;
}
