/* message: the header of the message a run looks at. The header block is split into
 * fields by hand (finding lines and colons is all there is to it, and it avoids building
 * a GMime message for scripts that only test headers); values are unfolded and trimmed
 * as RFC 5228 2.4.2.2 says, and decoded to UTF-8 by GMime - RFC 2047 encoded words in
 * any charset it can convert (EUC-KR included), and raw 8-bit octets as UTF-8 or, when
 * they are not, through fallback charsets (old Korean mail carries raw EUC-KR).
 * Address lists are parsed by GMime too (groups, quoting, comments, encoded names). */
#include "sieve/sieve_int.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;
static GMimeParserOptions *gmime_options;

static void gmime_start(void)
{
    g_mime_init();
    gmime_options = g_mime_parser_options_new();
    /* Tried in order for raw 8-bit text that is not UTF-8; GMime keeps the charset that
     * converts with the fewest errors, so Latin-1 only wins where EUC-KR cannot fit. */
    static const char *fallback[] = {"UTF-8", "EUC-KR", "ISO-8859-1", NULL};
    g_mime_parser_options_set_fallback_charsets(gmime_options, fallback);
}

void sv_gmime_init(void)
{
    pthread_once(&gmime_once, gmime_start);
}

GMimeParserOptions *sv_gmime_options(void)
{
    sv_gmime_init();
    return gmime_options;
}

int sv_headers_index(struct sv_run *run)
{
    if (run->hdrs_done)
        return 0;
    run->hdrs_done = 1;
    const char *data = run->msg->data, *p = data, *end = data + run->msg->len;
    size_t cap = 0;
    run->body_off = run->msg->len;
    while (p < end) {
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        const char *le = lf ? lf : end, *next = lf ? lf + 1 : end;
        size_t l = (size_t)(le - p);
        if (l && p[l - 1] == '\r')
            l--;
        if (l == 0) {
            run->body_off = (size_t)(next - data);
            break;
        }
        if ((*p == ' ' || *p == '\t') && run->nhdrs) {
            struct sv_header *h = &run->hdrs[run->nhdrs - 1];
            h->rawlen = (size_t)(le - h->raw);
        } else {
            const char *colon = memchr(p, ':', l);
            size_t namelen = colon ? (size_t)(colon - p) : 0;
            while (namelen && (p[namelen - 1] == ' ' || p[namelen - 1] == '\t'))
                namelen--;
            if (namelen) { /* a line that is no field (an mbox "From " line) is skipped */
                run->hdrs = sv_grow(run->pool, run->hdrs, run->nhdrs, &cap, sizeof(*run->hdrs));
                struct sv_header *h = &run->hdrs[run->nhdrs++];
                memset(h, 0, sizeof(*h));
                h->name = p;
                h->namelen = namelen;
                h->raw = colon + 1;
                h->rawlen = (size_t)(le - h->raw);
            }
        }
        p = next;
    }
    return sv_charge(run, run->body_off);
}

int sv_header_is(const struct sv_header *h, const char *name, size_t len)
{
    return h->namelen == len && strncasecmp(h->name, name, len) == 0;
}

ptrdiff_t sv_header_find(struct sv_run *run, const char *name)
{
    for (size_t i = 0; i < run->nhdrs; i++)
        if (sv_header_is(&run->hdrs[i], name, strlen(name)))
            return (ptrdiff_t)i;
    return -1;
}

/* The raw value without line breaks and surrounding white space, as a pool string. */
static char *unfold(pool_t *pool, const char *raw, size_t len, size_t *outlen)
{
    char *out = pool_alloc(pool, len + 1);
    size_t w = 0;
    for (size_t i = 0; i < len; i++)
        if (raw[i] != '\r' && raw[i] != '\n')
            out[w++] = raw[i];
    size_t a = 0;
    while (a < w && (out[a] == ' ' || out[a] == '\t'))
        a++;
    while (w > a && (out[w - 1] == ' ' || out[w - 1] == '\t'))
        w--;
    out[w] = 0;
    *outlen = w - a;
    return out + a;
}

int sv_header_value(struct sv_run *run, size_t i, const char **v, size_t *len)
{
    struct sv_header *h = &run->hdrs[i];
    if (!h->value) {
        if (sv_charge(run, h->rawlen) != 0)
            return -1;
        size_t n;
        char *u = unfold(run->pool, h->raw, h->rawlen, &n);
        int plain = !memmem(u, n, "=?", 2);
        for (size_t k = 0; plain && k < n; k++)
            plain = (unsigned char)u[k] < 0x80;
        if (!plain) {
            char *d = g_mime_utils_header_decode_text(sv_gmime_options(), u);
            u = unfold(run->pool, d, strlen(d), &n);
            g_free(d);
        }
        h->value = u;
        h->valuelen = n;
    }
    *v = h->value;
    *len = h->valuelen;
    return 0;
}

static void add_mailboxes(struct sv_run *run, InternetAddressList *list, GPtrArray *out)
{
    int n = list ? internet_address_list_length(list) : 0;
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            add_mailboxes(run, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
                          out);
        } else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
            if (addr && *addr)
                g_ptr_array_add(out, pool_strdup(run->pool, addr));
        }
    }
}

int sv_header_addresses(struct sv_run *run, size_t i, const char ***addrs, size_t *n)
{
    struct sv_header *h = &run->hdrs[i];
    if (!h->addrs_done) {
        if (sv_charge(run, h->rawlen) != 0)
            return -1;
        size_t len;
        const char *u = unfold(run->pool, h->raw, h->rawlen, &len);
        InternetAddressList *list = internet_address_list_parse(sv_gmime_options(), u);
        GPtrArray *found = g_ptr_array_new();
        add_mailboxes(run, list, found);
        if (list)
            g_object_unref(list);
        h->naddrs = found->len;
        h->addrs = pool_alloc(run->pool, (found->len + 1) * sizeof(*h->addrs));
        for (guint k = 0; k < found->len; k++)
            h->addrs[k] = g_ptr_array_index(found, k);
        g_ptr_array_free(found, TRUE);
        h->addrs_done = 1;
    }
    *addrs = h->addrs;
    *n = h->naddrs;
    return 0;
}
