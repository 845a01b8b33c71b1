/* cmd_select: SELECT and EXAMINE with the seed's untagged lines (FLAGS, PERMANENTFLAGS,
 * EXISTS, RECENT, UNSEEN, UIDVALIDITY, UIDNEXT), CLOSE/UNSELECT, and the refresh that
 * NOOP and CHECK do while a mailbox is selected. \Recent is not tracked yet: RECENT is
 * always 0, which RFC 3501 allows (no session is told a message is recent). */
#include "command.h"
#include "mailstore.h"
#include "mboxname.h"

#include <inttypes.h>
#include <string.h>

#define SELECT_FLAGS "\\Answered \\Flagged \\Draft \\Deleted \\Seen"

struct select_job {
    struct session *s;
    int readonly;
    char *name;
    int64_t account_id;
    struct mailstore_selection sel;
    int rc;
};

struct refresh_job {
    struct session *s;
    int64_t account_id, mailbox_id;
    uint32_t last_uid;
    uint32_t *uids;
    size_t n;
    int64_t uidnext;
    int rc;
};

static void select_work(void *arg)
{
    struct select_job *j = arg;
    j->rc = mailstore_select(j->s->cmd, j->account_id, j->name, &j->sel);
}

/* Room for n more UIDs in the selection (the old array is left to the pool). */
static void select_reserve(struct session_mailbox *m, size_t more)
{
    if (m->count + more <= m->cap)
        return;
    size_t cap = (m->count + more) * 2 + 16;
    uint32_t *u = pool_alloc(m->pool, cap * sizeof(uint32_t));
    if (m->count)
        memcpy(u, m->uids, m->count * sizeof(uint32_t));
    m->uids = u;
    m->cap = cap;
}

static void select_done(void *arg)
{
    struct select_job *j = arg;
    struct session *s = j->s;
    if (j->rc < 0) {
        session_done(s, "NO [UNAVAILABLE] Mail store temporarily unavailable");
        return;
    }
    if (j->rc > 0) {
        session_done(s, "NO [NONEXISTENT] Mailbox does not exist");
        return;
    }
    struct session_mailbox *m = &s->mbox;
    m->pool = pool_create(0);
    m->name = pool_strdup(m->pool, j->name);
    m->mailbox_id = j->sel.mailbox_id;
    m->uidvalidity = j->sel.uidvalidity;
    m->uidnext = j->sel.uidnext;
    m->readonly = j->readonly;
    select_reserve(m, j->sel.count);
    if (j->sel.count)
        memcpy(m->uids, j->sel.uids, j->sel.count * sizeof(uint32_t));
    m->count = j->sel.count;
    s->state = SESSION_SELECTED;
    session_printf(s, "* FLAGS (" SELECT_FLAGS ")");
    if (m->readonly)
        session_printf(s, "* OK [PERMANENTFLAGS ()] Read-only mailbox");
    else
        session_printf(s, "* OK [PERMANENTFLAGS (" SELECT_FLAGS " \\*)] Flags permitted");
    session_printf(s, "* %zu EXISTS", m->count);
    session_printf(s, "* 0 RECENT");
    if (j->sel.first_unseen)
        session_printf(s, "* OK [UNSEEN %zu] First unseen", j->sel.first_unseen);
    session_printf(s, "* OK [UIDVALIDITY %" PRId64 "] UIDs valid", m->uidvalidity);
    session_printf(s, "* OK [UIDNEXT %" PRId64 "] Predicted next UID", m->uidnext);
    session_done(s, "OK [%s] %s completed", m->readonly ? "READ-ONLY" : "READ-WRITE",
                 m->readonly ? "EXAMINE" : "SELECT");
}

void cmd_select(struct session *s, const imapproto_command_t *c)
{
    const char *name = c->nargs == 1 ? imapproto_arg_string(&c->args[0]) : NULL;
    if (!name) {
        session_done(s, "BAD %s needs a mailbox name", c->name);
        return;
    }
    /* RFC 3501: a SELECT first leaves the selected mailbox, even if it then fails. */
    session_unselect(s);
    if (strlen(name) > MBOXNAME_MAX) {
        session_done(s, "NO [NONEXISTENT] Mailbox does not exist");
        return;
    }
    struct select_job *j = pool_zalloc(s->cmd, sizeof(*j));
    j->s = s;
    j->readonly = strcmp(c->name, "EXAMINE") == 0;
    j->name = mboxname_normalize(s->cmd, name);
    j->account_id = s->account_id;
    if (session_submit(s, select_work, select_done, j) < 0)
        session_done(s, "NO [UNAVAILABLE] Server shutting down");
}

void cmd_close(struct session *s, const imapproto_command_t *c)
{
    if (c->nargs) {
        session_done(s, "BAD %s takes no arguments", c->name);
        return;
    }
    /* CLOSE would also expunge \Deleted messages; nothing can set \Deleted until STORE
     * exists, so both leave the mailbox alike for now. */
    session_unselect(s);
    session_done(s, "OK %s completed", c->name);
}

static void refresh_work(void *arg)
{
    struct refresh_job *j = arg;
    j->rc = mailstore_new_uids(j->s->cmd, j->account_id, j->mailbox_id, j->last_uid, &j->uids,
                               &j->n, &j->uidnext);
}

static void refresh_done(void *arg)
{
    struct refresh_job *j = arg;
    struct session *s = j->s;
    if (j->rc < 0) {
        session_done(s, "NO [UNAVAILABLE] Mail store temporarily unavailable");
        return;
    }
    struct session_mailbox *m = &s->mbox;
    if (j->rc == 0 && j->n) {
        select_reserve(m, j->n);
        memcpy(m->uids + m->count, j->uids, j->n * sizeof(uint32_t));
        m->count += j->n;
        session_printf(s, "* %zu EXISTS", m->count);
        session_printf(s, "* 0 RECENT");
    }
    if (j->rc == 0)
        m->uidnext = j->uidnext;
    session_done(s, "OK %s completed", s->command);
}

void cmd_select_refresh(struct session *s)
{
    struct refresh_job *j = pool_zalloc(s->cmd, sizeof(*j));
    j->s = s;
    j->account_id = s->account_id;
    j->mailbox_id = s->mbox.mailbox_id;
    j->last_uid = s->mbox.count ? s->mbox.uids[s->mbox.count - 1] : 0;
    if (session_submit(s, refresh_work, refresh_done, j) < 0)
        session_done(s, "NO [UNAVAILABLE] Server shutting down");
}
