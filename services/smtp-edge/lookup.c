/* lookup: the directory client. Each mailbox target's maildrop decides an LMTP endpoint,
 * so it is parsed as a mailbox before use: a malformed or pipe-like maildrop from a broken
 * mirror makes the whole answer a temporary failure, never a command sent to a store. */
#include "lookup.h"
#include "config/config.h"
#include "jsonhttp/jsonhttp.h"
#include "mailaddr/mailaddr.h"

#include <stdlib.h>
#include <string.h>

/* The maildrop with the detail put back after its local part, joined with the first
 * recipient delimiter: lmtp-store splits with the same setting. */
static int lookup_target_from(pool_t *pool, const char *maildrop, const char *detail,
                              struct lookup_target *t)
{
    mailaddr_t m;
    if (!maildrop || mailaddr_parse(pool, maildrop, &m) != 0 || !m.domain ||
        m.domain[0] == '[')
        return -1;
    if (detail && *detail) {
        mailaddr_t withdetail = m;
        /* The maildrop's own detail, if it has one, yields to the recipient's. */
        withdetail.local = pool_printf(pool, "%s%c%s", m.local,
                                       config_str("MAILSTACK_RECIPIENT_DELIMITER", "+")[0],
                                       detail);
        withdetail.detail = NULL;
        t->lmtp_rcpt = mailaddr_format(pool, &withdetail);
        mailaddr_t check;
        if (mailaddr_parse(pool, t->lmtp_rcpt, &check) != 0)
            return -1;
    } else {
        t->lmtp_rcpt = mailaddr_format(pool, &m);
    }
    t->host = m.domain;
    return 0;
}

/* A 200's targets: every one a usable mailbox, or the reason it is not FOUND. */
static enum lookup_status lookup_targets(pool_t *pool, json_t *targets,
                                         struct lookup_result *out, const char **why)
{
    size_t n = json_array_size(targets);
    if (n == 0) {
        *why = "directory answer has no targets";
        return LOOKUP_UNAVAILABLE;
    }
    out->targets = pool_zalloc(pool, n * sizeof(*out->targets));
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(targets, i);
        const char *type = json_string_value(json_object_get(t, "type"));
        if (type && strcmp(type, "forward") == 0) {
            const char *to = json_string_value(json_object_get(t, "address"));
            *why = pool_printf(pool, "forwards to %s", to ? to : "?");
            return LOOKUP_FORWARD;
        }
        if (!type || strcmp(type, "mailbox") != 0 ||
            lookup_target_from(pool, json_string_value(json_object_get(t, "maildrop")),
                               json_string_value(json_object_get(t, "detail")),
                               &out->targets[out->n]) != 0) {
            *why = "directory answer has an unusable target";
            return LOOKUP_UNAVAILABLE;
        }
        out->n++;
    }
    return LOOKUP_FOUND;
}

enum lookup_status lookup_recipient(pool_t *pool, const char *base_url, const char *address,
                                    long timeout_ms, struct lookup_result *out,
                                    const char **why)
{
    memset(out, 0, sizeof(*out));
    char *escaped = jsonhttp_escape(address);
    if (!escaped) {
        *why = "cannot escape the address";
        return LOOKUP_UNAVAILABLE;
    }
    const char *url = pool_printf(pool, "%s/v1/lookup?address=%s", base_url, escaped);
    free(escaped);
    jsonhttp_result_t res;
    if (jsonhttp_get(url, timeout_ms, &res) != 0) {
        *why = pool_strdup(pool, res.error);
        jsonhttp_result_free(&res);
        return LOOKUP_UNAVAILABLE;
    }
    json_t *error = json_object_get(res.body, "error");
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *message = json_string_value(json_object_get(error, "message"));
    enum lookup_status st = LOOKUP_UNAVAILABLE;
    if (res.status == 200) {
        st = lookup_targets(pool, json_object_get(res.body, "targets"), out, why);
    } else if (res.status == 404) {
        st = LOOKUP_UNKNOWN;
    } else if (res.status == 422 && code) {
        if (strcmp(code, "alias_loop") == 0 || strcmp(code, "alias_too_deep") == 0)
            st = LOOKUP_LOOP;
        else if (strcmp(code, "expansion_too_large") == 0)
            st = LOOKUP_TOO_LARGE;
        *why = pool_strdup(pool, message ? message : code);
    }
    if (st == LOOKUP_UNAVAILABLE && res.status != 200)
        *why = pool_printf(pool, "directory answered HTTP %ld%s%s", res.status,
                           code ? " " : "", code ? code : "");
    jsonhttp_result_free(&res);
    return st;
}
