/* fetch: what a FETCH asks for (its "plan", from the attribute argument) and how one
 * message's answer is written: "* n FETCH (UID .. FLAGS (..) BODY[HEADER] {n}..)".
 * Message bytes go out as literals, byte for byte. */
#ifndef IMAP_FETCH_H
#define IMAP_FETCH_H

#include "imapproto/imapproto.h"
#include "mailstore.h"
#include "pool/pool.h"

#include <event2/buffer.h>
#include <stdint.h>

enum fetch_kind {
    FETCH_UID,
    FETCH_FLAGS,
    FETCH_INTERNALDATE,
    FETCH_SIZE,
    FETCH_ENVELOPE,
    FETCH_SECTION,        /* BODY[...] and BODY.PEEK[...] */
    FETCH_RFC822,
    FETCH_RFC822_HEADER,
    FETCH_RFC822_TEXT
};

struct fetch_item {
    enum fetch_kind kind;
    imapproto_fetch_att_t att;
    char *label;          /* as the reply names it: "BODY[HEADER]<0>", "RFC822.TEXT" */
};

struct fetch_plan {
    struct fetch_item *items;
    size_t n;
    int need_data;        /* the message bytes are needed */
    int sets_seen;        /* BODY[...] without PEEK, RFC822, RFC822.TEXT */
    int has_flags;
};

/* The plan for FETCH's attribute argument: one attribute, a macro (ALL, FAST, FULL) or a
 * list. UID FETCH (uid set) always answers UID. Returns NULL, or the reason for BAD. */
const char *fetch_plan_build(pool_t *pool, const imapproto_arg_t *arg, int uid,
                             struct fetch_plan *plan);

/* Appends the FETCH response for message m, sequence number seq, to out; m->data must
 * be set (possibly empty) when plan->need_data. When
 * seen_changed (this FETCH just set \Seen) FLAGS is included even if not asked for. */
void fetch_render(pool_t *pool, struct evbuffer *out, const struct fetch_plan *plan,
                  uint32_t seq, const struct mailstore_message *m, int seen_changed);

#endif
