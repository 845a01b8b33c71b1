/* lookup: the directory client. The answer's maildrop decides the LMTP endpoint, so it
 * is parsed as a mailbox before use: a malformed or pipe-like maildrop from a broken
 * mirror becomes a temporary failure, never a command we send to a store. */
#include "lookup.h"
#include "jsonhttp/jsonhttp.h"
#include "mailaddr/mailaddr.h"

#include <stdlib.h>
#include <string.h>

/* The maildrop with the detail put back after its local part. */
static int lookup_target_from(pool_t *pool, const char *maildrop, const char *detail,
                              struct lookup_target *t)
{
    mailaddr_t m;
    if (mailaddr_parse(pool, maildrop, &m) != 0 || !m.domain || m.domain[0] == '[')
        return -1;
    if (detail && *detail) {
        mailaddr_t withdetail = m;
        /* The maildrop's own detail, if it has one, yields to the recipient's. */
        withdetail.detail = detail;
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

enum lookup_status lookup_recipient(pool_t *pool, const char *base_url, const char *address,
                                    long timeout_ms, struct lookup_target *target,
                                    const char **why)
{
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
    enum lookup_status st = LOOKUP_UNAVAILABLE;
    if (res.status == 404) {
        st = LOOKUP_UNKNOWN;
    } else if (res.status != 200) {
        *why = pool_printf(pool, "directory answered HTTP %ld", res.status);
    } else {
        const char *maildrop = json_string_value(json_object_get(res.body, "maildrop"));
        const char *detail = json_string_value(json_object_get(res.body, "detail"));
        if (maildrop && lookup_target_from(pool, maildrop, detail, target) == 0)
            st = LOOKUP_FOUND;
        else
            *why = "directory answer has no usable maildrop";
    }
    jsonhttp_result_free(&res);
    return st;
}
