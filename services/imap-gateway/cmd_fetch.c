/* cmd_fetch: FETCH and UID FETCH. The messages are worked through in batches on a worker
 * (at most FETCH_BATCH messages, and no more message bytes than FETCH_BATCH_BYTES unless
 * one message alone is bigger), and the next batch starts only when the client has read
 * most of the previous one, so FETCH 1:* BODY[] on a big mailbox needs bounded memory.
 * BODY[] without PEEK (and RFC822, RFC822.TEXT) sets \Seen in a read-write mailbox. */
#include "command.h"
#include "fetch.h"
#include "mailstore.h"

#include <event2/buffer.h>
#include <string.h>
#include <strings.h>

#define FETCH_BATCH 256
#define FETCH_BATCH_BYTES (8 * 1024 * 1024)
#define FETCH_OUTPUT_HIGH (1024 * 1024)

struct fetch_cmd {
    struct session *s;
    struct fetch_plan plan;
    int uid;
    int64_t account_id, mailbox_id;
    int readonly;
    uint32_t *seqs, *uids;    /* the messages asked for, in order */
    size_t total, next;
    size_t taken;             /* how many the last batch covered */
    int failed;
};

/* Of the batch's first `window` targets, how many fit the byte budget (at least one). */
static size_t fetch_budget(const struct fetch_cmd *f, const struct mailstore_message *msgs,
                           size_t nmsgs, size_t window)
{
    if (!f->plan.need_data)
        return window;
    int64_t bytes = 0;
    size_t k = 0;
    for (size_t i = 0; i < window; i++) {
        while (k < nmsgs && msgs[k].uid < f->uids[f->next + i])
            k++;
        if (k < nmsgs && msgs[k].uid == f->uids[f->next + i])
            bytes += msgs[k].size;
        if (i > 0 && bytes > FETCH_BATCH_BYTES)
            return i;
    }
    return window;
}

static int fetch_contains(const uint32_t *uids, size_t n, uint32_t uid)
{
    for (size_t i = 0; i < n; i++)
        if (uids[i] == uid)
            return 1;
    return 0;
}

/* On a worker: one batch, rendered into s->batch_out with scratch memory in s->batch. */
static void fetch_work(void *arg)
{
    struct fetch_cmd *f = arg;
    pool_t *pool = f->s->batch;
    size_t window = f->total - f->next < FETCH_BATCH ? f->total - f->next : FETCH_BATCH;
    struct mailstore_message *msgs;
    size_t nmsgs;
    f->taken = window;
    if (mailstore_fetch_meta(pool, f->account_id, f->mailbox_id, f->uids + f->next, window,
                             &msgs, &nmsgs) < 0) {
        f->failed = 1;
        return;
    }
    f->taken = fetch_budget(f, msgs, nmsgs, window);
    /* Messages of this batch, among those still existing. */
    size_t first = 0, count = 0;
    while (first < nmsgs && msgs[first].uid < f->uids[f->next])
        first++;
    while (first + count < nmsgs && msgs[first + count].uid <= f->uids[f->next + f->taken - 1])
        count++;
    struct mailstore_message *batch = msgs + first;
    uint32_t *changed = NULL;
    size_t nchanged = 0;
    if (f->plan.sets_seen && !f->readonly && count) {
        uint32_t *uids = pool_alloc(pool, count * sizeof(uint32_t));
        for (size_t i = 0; i < count; i++)
            uids[i] = batch[i].uid;
        if (mailstore_set_seen(pool, f->account_id, f->mailbox_id, uids, count, &changed,
                               &nchanged) < 0) {
            f->failed = 1;
            return;
        }
        for (size_t i = 0; i < count; i++)
            if (fetch_contains(changed, nchanged, batch[i].uid))
                batch[i].flags = pool_printf(pool, "%s%s\\Seen", batch[i].flags,
                                             *batch[i].flags ? " " : "");
    }
    if (f->plan.need_data && count) {
        if (mailstore_fetch_data(pool, f->account_id, f->mailbox_id, batch, count) < 0) {
            f->failed = 1;
            return;
        }
        for (size_t i = 0; i < count; i++)
            if (!batch[i].data)
                batch[i].data = (unsigned char *)pool_strdup(pool, "");
    }
    size_t k = 0;
    for (size_t i = 0; i < f->taken; i++) {
        uint32_t uid = f->uids[f->next + i];
        while (k < count && batch[k].uid < uid)
            k++;
        if (k == count || batch[k].uid != uid)
            continue; /* expunged since the selection: nothing to say about it */
        fetch_render(pool, f->s->batch_out, &f->plan, f->seqs[f->next + i], &batch[k],
                     fetch_contains(changed, nchanged, uid));
    }
}

static void fetch_submit(struct fetch_cmd *f);

static void fetch_resume(struct session *s)
{
    fetch_submit(s->cmd_state);
}

static void fetch_done(void *arg)
{
    struct fetch_cmd *f = arg;
    struct session *s = f->s;
    evbuffer_add_buffer(bufferevent_get_output(s->bev), s->batch_out);
    pool_clear(s->batch);
    if (f->failed) {
        session_done(s, "NO [UNAVAILABLE] Mail store temporarily unavailable");
        return;
    }
    f->next += f->taken;
    if (f->next < f->total) {
        if (session_output_pending(s) > FETCH_OUTPUT_HIGH)
            session_when_drained(s, fetch_resume);
        else
            fetch_submit(f);
        return;
    }
    session_done(s, "OK %sFETCH completed", f->uid ? "UID " : "");
}

static void fetch_submit(struct fetch_cmd *f)
{
    if (session_submit(f->s, fetch_work, fetch_done, f) < 0)
        session_done(f->s, "NO [UNAVAILABLE] Server shutting down");
}

/* The selected messages a sequence set names. For message numbers, one past EXISTS is an
 * error (RFC 3501), but "n:*" is not, so "1:*" on an empty mailbox is simply nothing. */
static const char *fetch_targets(struct fetch_cmd *f, const imapproto_seqset_t *set)
{
    const struct session_mailbox *m = &f->s->mbox;
    if (!f->uid) {
        for (size_t i = 0; i < set->count; i++) {
            const imapproto_seqrange_t *r = &set->ranges[i];
            if ((r->first > m->count && r->last != 0) || r->last > m->count)
                return "Invalid message sequence number";
        }
    }
    f->seqs = pool_alloc(f->s->cmd, (m->count ? m->count : 1) * sizeof(uint32_t));
    f->uids = pool_alloc(f->s->cmd, (m->count ? m->count : 1) * sizeof(uint32_t));
    uint32_t star = m->count ? (f->uid ? m->uids[m->count - 1] : (uint32_t)m->count) : 0;
    for (size_t i = 0; i < m->count; i++) {
        uint32_t n = f->uid ? m->uids[i] : (uint32_t)(i + 1);
        if (imapproto_seqset_contains(set, n, star)) {
            f->seqs[f->total] = (uint32_t)(i + 1);
            f->uids[f->total++] = m->uids[i];
        }
    }
    return NULL;
}

static void fetch_start(struct session *s, const imapproto_arg_t *args, size_t nargs, int uid)
{
    const char *what = uid ? "UID FETCH" : "FETCH";
    imapproto_seqset_t set;
    if (nargs != 2 || args[0].type != IMAPPROTO_ATOM) {
        session_done(s, "BAD %s needs a sequence set and data items", what);
        return;
    }
    if (imapproto_seqset_parse(s->cmd, args[0].str, &set) < 0) {
        session_done(s, "BAD Invalid sequence set");
        return;
    }
    struct fetch_cmd *f = pool_zalloc(s->cmd, sizeof(*f));
    f->s = s;
    f->uid = uid;
    f->account_id = s->account_id;
    f->mailbox_id = s->mbox.mailbox_id;
    f->readonly = s->mbox.readonly;
    const char *err = fetch_plan_build(s->cmd, &args[1], uid, &f->plan);
    if (!err)
        err = fetch_targets(f, &set);
    if (err) {
        session_done(s, "BAD %s", err);
        return;
    }
    if (f->total == 0) {
        session_done(s, "OK %s completed", what);
        return;
    }
    s->cmd_state = f;
    fetch_submit(f);
}

void cmd_fetch(struct session *s, const imapproto_command_t *c)
{
    fetch_start(s, c->args, c->nargs, 0);
}

void cmd_uid(struct session *s, const imapproto_command_t *c)
{
    static const char *const later[] = {"STORE", "COPY", "MOVE", "SEARCH", "EXPUNGE"};
    const char *sub = c->nargs ? imapproto_arg_string(&c->args[0]) : NULL;
    if (sub && !strcasecmp(sub, "FETCH")) {
        fetch_start(s, c->args + 1, c->nargs - 1, 1);
        return;
    }
    for (size_t i = 0; sub && i < sizeof(later) / sizeof(*later); i++) {
        if (!strcasecmp(sub, later[i])) {
            session_done(s, "BAD UID %s is not supported yet", later[i]);
            return;
        }
    }
    session_done(s, "BAD Unknown UID command");
}
