/* address: the parts of an address that the address and envelope tests compare (RFC 5228
 * 2.7.4) and RFC 5233 sub-addressing, with the separators configured for the site (the
 * same rule as lmtp-store's recipients: mailaddr_detail_at). Also the list of header
 * fields that hold addresses, and the "same mailbox" rule vacation uses. */
#include "sieve/sieve_int.h"

#include "mailaddr/mailaddr.h"

#include <string.h>
#include <strings.h>

int sv_address_header_ok(const char *name, size_t len)
{
    static const char *const names[] = {
        "from", "sender", "to", "cc", "bcc", "reply-to", "resent-from", "resent-sender",
        "resent-to", "resent-cc", "resent-bcc", "resent-reply-to", "return-path",
        "delivered-to", "envelope-to", "x-original-to", "x-envelope-to", "errors-to",
        "disposition-notification-to", "mail-followup-to", "mail-reply-to",
        "original-recipient", "x-sender", "x-beenthere", NULL};
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0)
            return 1;
    return 0;
}

/* The local part and domain of addr, split at its last '@' (a quoted local part may hold
 * one); no '@' means no domain. */
static void split(const char *addr, const char **local, size_t *llen, const char **domain)
{
    const char *at = strrchr(addr, '@');
    *local = addr;
    *llen = at ? (size_t)(at - addr) : strlen(addr);
    *domain = at ? at + 1 : NULL;
}

int sv_address_part(struct sv_run *run, const char *addr, enum sv_ap ap, const char **out,
                    size_t *len)
{
    const char *local, *domain;
    size_t llen;
    if (*addr == 0) { /* the null reverse-path: "" whatever the part (RFC 5228 5.4) */
        *out = "";
        *len = 0;
        return 0;
    }
    split(addr, &local, &llen, &domain);
    if (ap == SV_AP_ALL) {
        *out = addr;
        *len = strlen(addr);
        return 0;
    }
    if (!domain) /* not an address: only :all can match it */
        return 1;
    if (ap == SV_AP_DOMAIN) {
        *out = domain;
        *len = strlen(domain);
        return 0;
    }
    /* The local part's content: RFC 5322 quoting is syntax ("x y"@example.com). */
    char *l = pool_strndup(run->pool, local, llen);
    if (llen >= 2 && local[0] == '"' && local[llen - 1] == '"') {
        size_t w = 0;
        for (size_t i = 1; i + 1 < llen; i++) {
            if (local[i] == '\\' && i + 2 < llen)
                i++;
            l[w++] = local[i];
        }
        l[w] = 0;
        llen = w;
    }
    if (ap == SV_AP_LOCAL) {
        *out = l;
        *len = llen;
        return 0;
    }
    size_t at = mailaddr_detail_at(l, run->cfg->detail_delims);
    if (ap == SV_AP_USER) {
        *out = l;
        *len = at;
        return 0;
    }
    if (at == llen) /* no separator: :detail matches nothing (RFC 5233 4) */
        return 1;
    *out = l + at + 1;
    *len = llen - at - 1;
    return 0;
}

int sv_address_same(const struct sv_run *run, const char *a, const char *b)
{
    const char *la, *lb, *da, *db;
    size_t lalen, lblen;
    split(a, &la, &lalen, &da);
    split(b, &lb, &lblen, &db);
    if (!da || !db || strcasecmp(da, db) != 0)
        return 0;
    /* Compare the users: cut each local part at its detail separator. */
    char ba[MAILADDR_PATH_MAX + 1], bb[MAILADDR_PATH_MAX + 1];
    if (lalen > MAILADDR_PATH_MAX || lblen > MAILADDR_PATH_MAX)
        return 0;
    memcpy(ba, la, lalen);
    ba[lalen] = 0;
    memcpy(bb, lb, lblen);
    bb[lblen] = 0;
    size_t ua = mailaddr_detail_at(ba, run->cfg->detail_delims);
    size_t ub = mailaddr_detail_at(bb, run->cfg->detail_delims);
    return ua == ub && strncasecmp(ba, bb, ua) == 0;
}

int sv_redirect_ok(pool_t *pool, const char *s)
{
    mailaddr_t m;
    return mailaddr_parse(pool, s, &m) == 0 && m.domain;
}
