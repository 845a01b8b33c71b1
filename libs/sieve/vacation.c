/* vacation: RFC 5230 auto-replies. Decides the part of "should we reply" that depends
 * only on the message and envelope - never to the null sender or an automaton's address
 * (4.6), never to mail marked as automatic (Auto-Submitted, RFC 3834) or bulk
 * (Precedence), never to mailing-list mail (List-* fields, RFC 2369/2919), never to the
 * user's own address, only when one of the user's addresses is a visible recipient (4.5)
 * - and composes the reply with GMime (RFC 2047 subject and names, MIME body, CRLF). The
 * once-per-sender-per-period memory is the caller's: the reply carries its key and days.
 * A reply that is not sent leaves a note saying why, for the log. */
#include "sieve/sieve_int.h"

#include "mailaddr/mailaddr.h"

#include <gmime/gmime.h>
#include <string.h>
#include <strings.h>

/* The value of the first field named name, decoded; NULL when absent. */
static const char *header(struct sv_run *run, const char *name)
{
    ptrdiff_t i = sv_header_find(run, name);
    const char *v;
    size_t len;
    if (i < 0 || sv_header_value(run, (size_t)i, &v, &len) != 0)
        return NULL;
    return v;
}

/* Why the sender must get no reply, or NULL. */
static const char *automaton(const char *sender)
{
    if (*sender == 0)
        return "the null sender <>";
    const char *at = strrchr(sender, '@');
    size_t n = at ? (size_t)(at - sender) : strlen(sender);
    static const char *const names[] = {"mailer-daemon", "listserv", "majordomo", NULL};
    for (int i = 0; names[i]; i++)
        if (strlen(names[i]) == n && strncasecmp(sender, names[i], n) == 0)
            return "an automatic sender address";
    if ((n > 6 && strncasecmp(sender, "owner-", 6) == 0) ||
        (n > 8 && strncasecmp(sender + n - 8, "-request", 8) == 0))
        return "a mailing list address";
    return NULL;
}

/* Why the message must get no reply, or NULL. */
static const char *automatic_message(struct sv_run *run)
{
    const char *v = header(run, "Auto-Submitted");
    if (v) {
        size_t n = strcspn(v, "; \t(");
        if (n != 2 || strncasecmp(v, "no", 2) != 0)
            return "it is automatic (Auto-Submitted)";
    }
    v = header(run, "Precedence");
    if (v && (strcasecmp(v, "bulk") == 0 || strcasecmp(v, "list") == 0 ||
              strcasecmp(v, "junk") == 0))
        return "it is bulk or list mail (Precedence)";
    for (size_t i = 0; i < run->nhdrs; i++)
        if (run->hdrs[i].namelen > 5 && strncasecmp(run->hdrs[i].name, "List-", 5) == 0)
            return "it comes from a mailing list (List-* fields)";
    return NULL;
}

struct me {
    const char **addrs;
    size_t n;
};

static int is_me(const struct sv_run *run, const struct me *me, const char *addr)
{
    for (size_t i = 0; i < me->n; i++)
        if (sv_address_same(run, me->addrs[i], addr))
            return 1;
    return 0;
}

/* The first of the user's addresses found among the visible recipients, or NULL. */
static const char *recipient_me(struct sv_run *run, const struct me *me)
{
    static const char *const fields[] = {"to", "cc", "bcc", "resent-to", "resent-cc",
                                         "resent-bcc", NULL};
    for (size_t i = 0; i < run->nhdrs; i++) {
        int listed = 0;
        for (int f = 0; fields[f]; f++)
            listed |= sv_header_is(&run->hdrs[i], fields[f], strlen(fields[f]));
        const char **addrs;
        size_t n;
        if (!listed || sv_header_addresses(run, i, &addrs, &n) != 0)
            continue;
        for (size_t k = 0; k < n; k++)
            if (is_me(run, me, addrs[k]))
                return addrs[k];
    }
    return NULL;
}

/* The addr-specs written in s ("a@b", "Name <a@b>", a list). */
static void add_addresses(struct sv_run *run, const char *s, struct me *me, size_t *cap)
{
    InternetAddressList *list = internet_address_list_parse(sv_gmime_options(), s);
    int n = list ? internet_address_list_length(list) : 0;
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
            continue;
        const char *a = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
        if (!a || !strchr(a, '@'))
            continue;
        me->addrs = sv_grow(run->pool, me->addrs, me->n, cap, sizeof(*me->addrs));
        me->addrs[me->n++] = pool_strdup(run->pool, a);
    }
    if (list)
        g_object_unref(list);
}

static char *sha256_hex(pool_t *pool, const char *data, size_t len)
{
    gchar *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
    char *out = pool_strdup(pool, hex);
    g_free(hex);
    return out;
}

/* Joins parts with NUL separators, so that ("ab", "c") and ("a", "bc") differ. */
static char *joined(pool_t *pool, const char *const *parts, size_t n, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(parts[i]) + 1;
    char *out = pool_alloc(pool, total + 1), *w = out;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(parts[i]);
        memcpy(w, parts[i], l + 1);
        w += l + 1;
    }
    *len = total;
    return out;
}

/* A text/plain body: the reason with CRLF line ends, UTF-8, 7bit, quoted-printable or
 * base64, whichever GMime finds best. */
static GMimeObject *text_body(struct sv_run *run, const char *reason)
{
    size_t len = strlen(reason), w = 0;
    char *crlf = pool_alloc(run->pool, 2 * len + 3);
    for (size_t i = 0; i < len; i++) {
        if (reason[i] == '\n' && (i == 0 || reason[i - 1] != '\r'))
            crlf[w++] = '\r';
        crlf[w++] = reason[i];
    }
    if (w < 2 || crlf[w - 1] != '\n') {
        crlf[w++] = '\r';
        crlf[w++] = '\n';
    }
    crlf[w] = 0;
    GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
    g_mime_text_part_set_text(part, crlf);
    g_mime_part_set_content_encoding(
        GMIME_PART(part),
        g_mime_part_get_best_content_encoding(GMIME_PART(part), GMIME_ENCODING_CONSTRAINT_7BIT));
    return GMIME_OBJECT(part);
}

/* With :mime the reason is a MIME entity: its own header, an empty line, its body. */
static GMimeObject *mime_body(const char *reason)
{
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(reason, strlen(reason));
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    GMimeObject *part = g_mime_parser_construct_part(parser, sv_gmime_options());
    g_object_unref(parser);
    g_object_unref(stream);
    return part;
}

static const char *compose(struct sv_run *run, const char *from, const char *to,
                           const char *subject, const struct sv_vacation_args *a)
{
    GMimeMessage *m = g_mime_message_new(FALSE);
    InternetAddressList *fl = internet_address_list_parse(sv_gmime_options(), from);
    if (fl) {
        internet_address_list_append(g_mime_message_get_from(m), fl);
        g_object_unref(fl);
    }
    g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_TO, NULL, to);
    g_mime_message_set_subject(m, subject, "utf-8");
    const char *msgid = header(run, "Message-ID");
    if (msgid && *msgid) {
        const char *refs = header(run, "References");
        g_mime_object_set_header(GMIME_OBJECT(m), "In-Reply-To", msgid, NULL);
        const char *r = refs && *refs ? pool_printf(run->pool, "%s %s", refs, msgid) : msgid;
        g_mime_object_set_header(GMIME_OBJECT(m), "References", r, NULL);
    }
    g_mime_object_set_header(GMIME_OBJECT(m), "Auto-Submitted", "auto-replied (vacation)",
                             NULL);
    GMimeObject *body = a->mime ? mime_body(a->reason) : NULL;
    if (!body) {
        if (a->mime)
            sv_note(run, "vacation: the :mime reason is not a MIME entity; sent as text");
        body = text_body(run, a->reason);
    }
    g_mime_message_set_mime_part(m, body);
    g_object_unref(body);
    GMimeFormatOptions *fo = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
    char *text = g_mime_object_to_string(GMIME_OBJECT(m), fo);
    const char *out = pool_strdup(run->pool, text);
    g_free(text);
    g_mime_format_options_free(fo);
    g_object_unref(m);
    return out;
}

int sv_vacation(struct sv_run *run, const struct sv_vacation_args *a)
{
    const struct sieve_config *cfg = run->cfg;
    const struct sieve_envelope *env = run->env;
    const char *sender = env->from ? env->from : "";
    if (sv_headers_index(run) != 0)
        return -1;
    struct me me = {0};
    size_t cap = 0;
    if (env->to && *env->to)
        add_addresses(run, env->to, &me, &cap);
    for (size_t i = 0; i < env->naddresses; i++)
        add_addresses(run, env->addresses[i], &me, &cap);
    for (size_t i = 0; i < a->naddresses; i++)
        add_addresses(run, a->addresses[i].s, &me, &cap);

    const char *why = automaton(sender);
    if (!why && is_me(run, &me, sender))
        why = "the user's own address";
    if (why) {
        sv_note(run, "vacation: no reply to %s", why);
        return sv_act_vacation(run, NULL);
    }
    if ((why = automatic_message(run)) != NULL) {
        sv_note(run, "vacation: no reply to <%s>: %s", sender, why);
        return sv_act_vacation(run, NULL);
    }
    const char *mine = recipient_me(run, &me);
    if (!mine) {
        sv_note(run, "vacation: no reply to <%s>: none of the user's addresses is in To, Cc "
                "or Bcc", sender);
        return sv_act_vacation(run, NULL);
    }
    if (run->error)
        return -1;

    struct sieve_vacation *v = pool_zalloc(run->pool, sizeof(*v));
    unsigned long long days = a->has_days ? a->days : cfg->vacation_days;
    if (days < cfg->vacation_min_days)
        days = cfg->vacation_min_days;
    if (days > cfg->vacation_max_days)
        days = cfg->vacation_max_days;
    v->days = (unsigned)days;
    v->to = sender;
    v->from = mine;
    if (a->from) {
        struct me f = {0};
        size_t fcap = 0;
        add_addresses(run, a->from, &f, &fcap);
        if (f.n == 1)
            v->from = a->from;
        else
            sv_note(run, "vacation: :from \"%s\" is not one address; replying from <%s>",
                    a->from, mine);
    }
    if (a->subject) {
        v->subject = a->subject;
    } else {
        const char *orig = header(run, "Subject");
        v->subject = orig && *orig ? pool_printf(run->pool, "Auto: %s", orig)
                                   : "Automated reply";
    }
    size_t len;
    if (a->handle) {
        v->handle = a->handle;
    } else {
        const char *parts[] = {a->subject ? a->subject : "", a->from ? a->from : "",
                               a->mime ? "mime" : "", a->reason};
        const char *j = joined(run->pool, parts, 4, &len);
        v->handle = sha256_hex(run->pool, j, len);
    }
    const char *kp[] = {mailaddr_lower(run->pool, sender), v->handle};
    const char *kj = joined(run->pool, kp, 2, &len);
    v->key = sha256_hex(run->pool, kj, len);
    v->message = compose(run, v->from, sender, v->subject, a);
    if (sv_charge(run, strlen(v->message)) != 0)
        return -1;
    return sv_act_vacation(run, v);
}
