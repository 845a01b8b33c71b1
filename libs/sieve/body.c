/* body: what the body test (RFC 5173) matches. :raw is the body octets as stored. For
 * :content and :text GMime parses the MIME structure once per run (only when a body test
 * needs it); each part is decoded (transfer encoding removed, text converted to UTF-8
 * from its charset) the first time a test selects it. A :content type that names a
 * multipart selects its prologue and epilogue, one that names message/rfc822 the header
 * of the enclosed message (RFC 5173 5.2). :text is every part of type text, HTML with its tags
 * removed - the RFC leaves :text to the implementation's best effort. */
#include "sieve/sieve_int.h"

#include "mailaddr/mailaddr.h"

#include <gmime/gmime.h>
#include <string.h>
#include <strings.h>

/* Deeper parts than this are not looked at; GMime itself stops at 1024 / 512 levels. */
#define SV_BODY_DEPTH 64

struct sv_body_part {
    enum { BP_LEAF, BP_MULTIPART, BP_MESSAGE } kind;
    const char *type, *subtype;   /* lower case */
    GMimeObject *obj;             /* owned by run->body_msg */
    int decoded;
    struct sv_text text[2];  /* LEAF: the content; MULTIPART: prologue, epilogue;
                                   * MESSAGE: the enclosed header */
    size_t ntext;
};

static void add_part(struct sv_run *run, size_t *cap, int kind, GMimeObject *obj)
{
    run->parts = sv_grow(run->pool, run->parts, run->nparts, cap, sizeof(*run->parts));
    struct sv_body_part *p = &run->parts[run->nparts++];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->obj = obj;
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    const char *t = ct ? g_mime_content_type_get_media_type(ct) : NULL;
    const char *st = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
    p->type = mailaddr_lower(run->pool, t ? t : "text");
    p->subtype = mailaddr_lower(run->pool, st ? st : "plain");
}

static void walk(struct sv_run *run, size_t *cap, GMimeObject *obj, int depth)
{
    if (!obj || depth > SV_BODY_DEPTH)
        return;
    if (GMIME_IS_MULTIPART(obj)) {
        add_part(run, cap, BP_MULTIPART, obj);
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n; i++)
            walk(run, cap, g_mime_multipart_get_part(mp, i), depth + 1);
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        add_part(run, cap, BP_MESSAGE, obj);
        GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (m)
            walk(run, cap, g_mime_message_get_mime_part(m), depth + 1);
    } else {
        add_part(run, cap, BP_LEAF, obj);
    }
}

static int parse(struct sv_run *run)
{
    if (run->parts_done)
        return 0;
    run->parts_done = 1;
    if (sv_charge(run, run->msg->len) != 0)
        return -1;
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(run->msg->data, run->msg->len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *m = g_mime_parser_construct_message(parser, sv_gmime_options());
    g_object_unref(parser);
    g_object_unref(stream);
    run->body_msg = m;
    size_t cap = 0;
    if (m)
        walk(run, &cap, g_mime_message_get_mime_part(m), 0);
    return 0;
}

void sv_body_release(struct sv_run *run)
{
    if (run->body_msg)
        g_object_unref(run->body_msg);
    run->body_msg = NULL;
}

static const char *keep_pool(struct sv_run *run, char *g, size_t *len)
{
    *len = g ? strlen(g) : 0;
    const char *s = pool_strndup(run->pool, g ? g : "", *len);
    g_free(g);
    return s;
}

/* Tags out, entities for the markup characters back; best effort, as :text is. */
static size_t strip_html(char *s, size_t len)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'},
                {"&nbsp;", ' '}, {"&#39;", '\''}};
    size_t w = 0;
    int in_tag = 0;
    for (size_t i = 0; i < len; i++) {
        if (in_tag) {
            in_tag = s[i] != '>';
            continue;
        }
        if (s[i] == '<') {
            in_tag = 1;
            continue;
        }
        if (s[i] == '&') {
            size_t k;
            for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
                size_t el = strlen(ents[k].ent);
                if (len - i >= el && strncasecmp(s + i, ents[k].ent, el) == 0) {
                    s[w++] = ents[k].c;
                    i += el - 1;
                    break;
                }
            }
            if (k < sizeof(ents) / sizeof(ents[0]))
                continue;
        }
        s[w++] = s[i];
    }
    s[w] = 0;
    return w;
}

static int decode(struct sv_run *run, struct sv_body_part *p)
{
    if (p->decoded)
        return 0;
    p->decoded = 1;
    if (p->kind == BP_MULTIPART) {
        GMimeMultipart *mp = GMIME_MULTIPART(p->obj);
        const char *pro = g_mime_multipart_get_prologue(mp);
        const char *epi = g_mime_multipart_get_epilogue(mp);
        const char *both[2] = {pro, epi};
        for (int i = 0; i < 2; i++)
            if (both[i])
                p->text[p->ntext++] =
                    (struct sv_text){pool_strdup(run->pool, both[i]), strlen(both[i])};
    } else if (p->kind == BP_MESSAGE) {
        GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(p->obj));
        if (m) {
            size_t len;
            char *h = g_mime_object_get_headers(GMIME_OBJECT(m), NULL);
            p->text[p->ntext].s = keep_pool(run, h, &len);
            p->text[p->ntext++].len = len;
        }
    } else if (GMIME_IS_TEXT_PART(p->obj)) {
        char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(p->obj));
        size_t len;
        p->text[p->ntext].s = keep_pool(run, t, &len);
        p->text[p->ntext++].len = len;
    } else if (GMIME_IS_PART(p->obj)) {
        GMimeDataWrapper *content = g_mime_part_get_content(GMIME_PART(p->obj));
        GMimeStream *mem = g_mime_stream_mem_new();
        if (content)
            g_mime_data_wrapper_write_to_stream(content, mem);
        GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
        p->text[p->ntext].s = pool_memdup(run->pool, bytes->len ? (const char *)bytes->data : "",
                                          bytes->len);
        p->text[p->ntext++].len = bytes->len;
        g_object_unref(mem);
    }
    size_t total = 0;
    for (size_t i = 0; i < p->ntext; i++)
        total += p->text[i].len;
    return sv_charge(run, total);
}

/* RFC 5173 5.2: "" is every type, "type" every subtype, "type/subtype" one; anything with
 * a leading, trailing or second slash none. */
static int type_matches(const struct sv_body_part *p, const char *spec, size_t len)
{
    if (len == 0)
        return 1;
    const char *slash = memchr(spec, '/', len);
    if (!slash)
        return strlen(p->type) == len && strncasecmp(p->type, spec, len) == 0;
    size_t tl = (size_t)(slash - spec), sl = len - tl - 1;
    if (tl == 0 || sl == 0 || memchr(slash + 1, '/', sl))
        return 0;
    return strlen(p->type) == tl && strncasecmp(p->type, spec, tl) == 0 &&
           strlen(p->subtype) == sl && strncasecmp(p->subtype, slash + 1, sl) == 0;
}

int sv_body_items(struct sv_run *run, enum sv_bt bt, const struct sv_text *types,
                  size_t ntypes, struct sv_text **items, size_t *n)
{
    *n = 0;
    if (bt == SV_BT_RAW) {
        if (sv_headers_index(run) != 0)
            return -1;
        *items = pool_alloc(run->pool, sizeof(**items));
        (*items)[0] = (struct sv_text){run->msg->data + run->body_off,
                                            run->msg->len - run->body_off};
        *n = 1;
        return 0;
    }
    if (parse(run) != 0)
        return -1;
    *items = pool_alloc(run->pool, (2 * run->nparts + 1) * sizeof(**items));
    for (size_t i = 0; i < run->nparts; i++) {
        struct sv_body_part *p = &run->parts[i];
        int want = 0;
        if (bt == SV_BT_TEXT)
            want = p->kind == BP_LEAF && strcmp(p->type, "text") == 0;
        for (size_t k = 0; bt == SV_BT_CONTENT && k < ntypes && !want; k++)
            want = type_matches(p, types[k].s, types[k].len);
        if (!want)
            continue;
        if (decode(run, p) != 0)
            return -1;
        for (size_t k = 0; k < p->ntext; k++) {
            struct sv_text it = p->text[k];
            if (bt == SV_BT_TEXT && strcmp(p->subtype, "html") == 0) {
                char *copy = pool_strndup(run->pool, it.s, it.len);
                it.len = strip_html(copy, it.len);
                it.s = copy;
            }
            (*items)[(*n)++] = it;
        }
    }
    return 0;
}
