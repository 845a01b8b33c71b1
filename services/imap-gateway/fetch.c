/* fetch: FETCH plans and responses behind fetch.h. Body part numbers (BODY[1.2]) and
 * BODYSTRUCTURE need a MIME parser and are refused with a clear BAD until there is one. */
#include "fetch.h"
#include "envelope.h"
#include "message.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static struct fetch_item *fetch_push(struct fetch_plan *plan, enum fetch_kind kind,
                                     const char *label)
{
    struct fetch_item *it = &plan->items[plan->n++];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    it->label = (char *)label;
    return it;
}

static int fetch_has(const struct fetch_plan *plan, enum fetch_kind kind)
{
    for (size_t i = 0; i < plan->n; i++)
        if (plan->items[i].kind == kind)
            return 1;
    return 0;
}

/* Header field names go back as the client sent them, quoted when they are not atoms. */
static char *fetch_section_label(pool_t *pool, const imapproto_fetch_att_t *att)
{
    size_t cap = 32 + strlen(att->text);
    for (size_t i = 0; i < att->nfields; i++)
        cap += strlen(att->fields[i]) * 2 + 3;
    char *l = pool_alloc(pool, cap);
    size_t o = (size_t)sprintf(l, "BODY[%s", att->text);
    if (att->nfields) {
        o += (size_t)sprintf(l + o, " (");
        for (size_t i = 0; i < att->nfields; i++) {
            const char *f = att->fields[i];
            int atom = f[strcspn(f, " ()[]{}\"\\%*")] == 0 && !imapproto_needs_literal(f, strlen(f));
            if (atom) {
                o += (size_t)sprintf(l + o, "%s%s", i ? " " : "", f);
            } else {
                o += (size_t)sprintf(l + o, "%s\"", i ? " " : "");
                for (const char *c = f; *c; c++) {
                    if (*c == '"' || *c == '\\')
                        l[o++] = '\\';
                    l[o++] = *c;
                }
                l[o++] = '"';
            }
        }
        l[o++] = ')';
    }
    l[o++] = ']';
    l[o] = 0;
    if (att->has_partial)
        return pool_printf(pool, "%s<%" PRIu32 ">", l, att->offset);
    return l;
}

static const char *fetch_add(pool_t *pool, struct fetch_plan *plan, const char *atom)
{
    imapproto_fetch_att_t att;
    if (imapproto_fetch_att_parse(pool, atom, &att) < 0)
        return "Invalid FETCH attribute";
    const char *n = att.name;
    if (att.has_section) {
        if (strcmp(n, "BODY") != 0 && strcmp(n, "BODY.PEEK") != 0)
            return strncmp(n, "BINARY", 6) == 0 ? "BINARY is not supported yet"
                                                 : "Invalid FETCH attribute";
        if (*att.part)
            return "Body part sections are not supported yet";
        struct fetch_item *it = fetch_push(plan, FETCH_SECTION, fetch_section_label(pool, &att));
        it->att = att;
        plan->need_data = 1;
        plan->sets_seen |= strcmp(n, "BODY") == 0;
        return NULL;
    }
    if (!strcmp(n, "UID")) {
        if (!fetch_has(plan, FETCH_UID))
            fetch_push(plan, FETCH_UID, "UID");
    } else if (!strcmp(n, "FLAGS")) {
        fetch_push(plan, FETCH_FLAGS, "FLAGS");
        plan->has_flags = 1;
    } else if (!strcmp(n, "INTERNALDATE")) {
        fetch_push(plan, FETCH_INTERNALDATE, "INTERNALDATE");
    } else if (!strcmp(n, "RFC822.SIZE")) {
        fetch_push(plan, FETCH_SIZE, "RFC822.SIZE");
    } else if (!strcmp(n, "ENVELOPE")) {
        fetch_push(plan, FETCH_ENVELOPE, "ENVELOPE");
        plan->need_data = 1;
    } else if (!strcmp(n, "RFC822")) {
        fetch_push(plan, FETCH_RFC822, "RFC822");
        plan->need_data = plan->sets_seen = 1;
    } else if (!strcmp(n, "RFC822.HEADER")) {
        fetch_push(plan, FETCH_RFC822_HEADER, "RFC822.HEADER");
        plan->need_data = 1;
    } else if (!strcmp(n, "RFC822.TEXT")) {
        fetch_push(plan, FETCH_RFC822_TEXT, "RFC822.TEXT");
        plan->need_data = plan->sets_seen = 1;
    } else if (!strcmp(n, "BODY") || !strcmp(n, "BODYSTRUCTURE")) {
        return "BODYSTRUCTURE is not supported yet";
    } else {
        return "Invalid FETCH attribute";
    }
    return NULL;
}

const char *fetch_plan_build(pool_t *pool, const imapproto_arg_t *arg, int uid,
                             struct fetch_plan *plan)
{
    static const char *const fast[] = {"FLAGS", "INTERNALDATE", "RFC822.SIZE", NULL};
    static const char *const all[] = {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", NULL};
    memset(plan, 0, sizeof(*plan));
    size_t cap = (arg->type == IMAPPROTO_LIST ? arg->count : 4) + 1;
    plan->items = pool_alloc(pool, cap * sizeof(*plan->items));
    if (uid)
        fetch_push(plan, FETCH_UID, "UID");
    if (arg->type == IMAPPROTO_ATOM) {
        const char *const *macro = NULL;
        if (!strcasecmp(arg->str, "FAST"))
            macro = fast;
        else if (!strcasecmp(arg->str, "ALL") || !strcasecmp(arg->str, "FULL"))
            macro = all; /* FULL's BODY waits for BODYSTRUCTURE support */
        if (macro) {
            for (; *macro; macro++)
                fetch_add(pool, plan, *macro);
            return NULL;
        }
        return fetch_add(pool, plan, arg->str);
    }
    if (arg->type != IMAPPROTO_LIST || arg->count == 0)
        return "Invalid FETCH attributes";
    for (size_t i = 0; i < arg->count; i++) {
        if (arg->items[i].type != IMAPPROTO_ATOM)
            return "Invalid FETCH attribute";
        const char *err = fetch_add(pool, plan, arg->items[i].str);
        if (err)
            return err;
    }
    return NULL;
}

static void fetch_literal(struct evbuffer *out, const unsigned char *data, size_t len)
{
    evbuffer_add_printf(out, "{%zu}\r\n", len);
    evbuffer_add(out, data, len);
}

/* The bytes a section names, cut to its <offset.length>. */
static void fetch_section(pool_t *pool, struct evbuffer *out, const imapproto_fetch_att_t *att,
                          const struct mailstore_message *m)
{
    const unsigned char *p = m->data;
    size_t n = m->len;
    size_t hdr = message_header_length(m->data, m->len);
    if (!strcmp(att->text, "HEADER")) {
        n = hdr;
    } else if (!strcmp(att->text, "TEXT")) {
        p += hdr;
        n -= hdr;
    } else if (att->nfields) {
        p = message_header_fields(pool, m->data, hdr, att->fields, att->nfields,
                                  !strcmp(att->text, "HEADER.FIELDS.NOT"), &n);
    }
    if (att->has_partial) {
        size_t off = att->offset < n ? att->offset : n;
        p += off;
        n -= off;
        if (n > att->length)
            n = att->length;
    }
    fetch_literal(out, p, n);
}

void fetch_render(pool_t *pool, struct evbuffer *out, const struct fetch_plan *plan,
                  uint32_t seq, const struct mailstore_message *m, int seen_changed)
{
    evbuffer_add_printf(out, "* %" PRIu32 " FETCH (", seq);
    for (size_t i = 0; i < plan->n; i++) {
        const struct fetch_item *it = &plan->items[i];
        evbuffer_add_printf(out, "%s%s ", i ? " " : "", it->label);
        size_t hdr;
        switch (it->kind) {
        case FETCH_UID:
            evbuffer_add_printf(out, "%" PRIu32, m->uid);
            break;
        case FETCH_FLAGS:
            evbuffer_add_printf(out, "(%s)", m->flags);
            break;
        case FETCH_INTERNALDATE: {
            char date[IMAPPROTO_DATETIME_SIZE];
            imapproto_datetime((time_t)m->internaldate, 0, date);
            evbuffer_add(out, date, strlen(date));
            break;
        }
        case FETCH_SIZE:
            evbuffer_add_printf(out, "%" PRId64, m->size);
            break;
        case FETCH_ENVELOPE:
            if (m->envelope) {
                evbuffer_add(out, m->envelope, strlen(m->envelope));
            } else {
                size_t n;
                const char *env = envelope_build(pool, m->data,
                                                 message_header_length(m->data, m->len), &n);
                evbuffer_add(out, env, n);
            }
            break;
        case FETCH_SECTION:
            fetch_section(pool, out, &it->att, m);
            break;
        case FETCH_RFC822:
            fetch_literal(out, m->data, m->len);
            break;
        case FETCH_RFC822_HEADER:
            fetch_literal(out, m->data, message_header_length(m->data, m->len));
            break;
        case FETCH_RFC822_TEXT:
            hdr = message_header_length(m->data, m->len);
            fetch_literal(out, m->data + hdr, m->len - hdr);
            break;
        }
    }
    if (seen_changed && !plan->has_flags)
        evbuffer_add_printf(out, " FLAGS (%s)", m->flags);
    evbuffer_add(out, ")\r\n", 3);
}
