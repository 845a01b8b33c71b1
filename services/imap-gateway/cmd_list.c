/* cmd_list: LIST and LSUB in the seed's style — * LIST (\HasNoChildren) "." "INBOX".
 * INBOX is always there, even before its row exists; a name whose parent has no row of
 * its own makes the parent appear as \Noselect, as RFC 3501 asks. */
#include "command.h"
#include "mailstore.h"
#include "mboxname.h"

#include <string.h>

struct list_job {
    struct session *s;
    int lsub;
    char *pattern;
    int64_t account_id;
    struct mailstore_mailbox *boxes;
    size_t n;
    int rc;
};

struct list_entry {
    const char *name;
    int subscribed;
    int noselect;   /* only implied by a child */
};

static void list_work(void *arg)
{
    struct list_job *j = arg;
    j->rc = mailstore_mailboxes(j->s->cmd, j->account_id, &j->boxes, &j->n);
}

static int list_find(const struct list_entry *e, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0)
            return 1;
    return 0;
}

/* The stored names, INBOX, and parents that exist only through their children. */
static struct list_entry *list_entries(pool_t *pool, const struct list_job *j, size_t *count)
{
    size_t cap = 1;
    for (size_t i = 0; i < j->n; i++)
        cap += 1 + (size_t)(strchr(j->boxes[i].name, MBOXNAME_SEP) ? strlen(j->boxes[i].name) : 0);
    struct list_entry *e = pool_alloc(pool, cap * sizeof(*e));
    size_t n = 0;
    e[n++] = (struct list_entry){"INBOX", 1, 0};
    for (size_t i = 0; i < j->n; i++) {
        if (strcmp(j->boxes[i].name, "INBOX") == 0)
            e[0].subscribed = j->boxes[i].subscribed;
        else
            e[n++] = (struct list_entry){j->boxes[i].name, j->boxes[i].subscribed, 0};
    }
    size_t stored = n;
    for (size_t i = 0; i < stored; i++) {
        for (const char *dot = strchr(e[i].name, MBOXNAME_SEP); dot;
             dot = strchr(dot + 1, MBOXNAME_SEP)) {
            char *parent = pool_strndup(pool, e[i].name, (size_t)(dot - e[i].name));
            if (*parent && !list_find(e, n, parent))
                e[n++] = (struct list_entry){parent, 0, 1};
        }
    }
    *count = n;
    return e;
}

static void list_done(void *arg)
{
    struct list_job *j = arg;
    struct session *s = j->s;
    if (j->rc < 0) {
        session_done(s, "NO [UNAVAILABLE] Mail store temporarily unavailable");
        return;
    }
    size_t n;
    struct list_entry *e = list_entries(s->cmd, j, &n);
    for (size_t i = 0; i < n; i++) {
        if (j->lsub && !e[i].subscribed)
            continue;
        if (!mboxname_match(s->cmd, j->pattern, e[i].name))
            continue;
        int children = 0;
        for (size_t k = 0; k < n && !children; k++)
            children = mboxname_is_child(e[i].name, e[k].name);
        size_t len;
        char *quoted = imapproto_string(s->cmd, e[i].name, strlen(e[i].name), &len);
        if (j->lsub)
            session_printf(s, "* LSUB () \".\" %s", quoted);
        else
            session_printf(s, "* LIST (%s%s) \".\" %s", e[i].noselect ? "\\Noselect " : "",
                           children ? "\\HasChildren" : "\\HasNoChildren", quoted);
    }
    session_done(s, "OK %s completed", j->lsub ? "LSUB" : "LIST");
}

void cmd_list(struct session *s, const imapproto_command_t *c)
{
    int lsub = strcmp(c->name, "LSUB") == 0;
    const char *ref = c->nargs == 2 ? imapproto_arg_string(&c->args[0]) : NULL;
    const char *pat = c->nargs == 2 ? imapproto_arg_string(&c->args[1]) : NULL;
    if (!ref || !pat) {
        session_done(s, "BAD %s needs a reference name and a mailbox pattern", c->name);
        return;
    }
    if (strlen(ref) + strlen(pat) > MBOXNAME_MAX) {
        session_done(s, "BAD Mailbox pattern too long");
        return;
    }
    if (!lsub && !*pat) {
        /* RFC 3501: an empty pattern asks for the hierarchy separator. */
        session_printf(s, "* LIST (\\Noselect) \".\" \"\"");
        session_done(s, "OK LIST completed");
        return;
    }
    struct list_job *j = pool_zalloc(s->cmd, sizeof(*j));
    j->s = s;
    j->lsub = lsub;
    j->account_id = s->account_id;
    j->pattern = mboxname_normalize(s->cmd, pool_printf(s->cmd, "%s%s", ref, pat));
    if (session_submit(s, list_work, list_done, j) < 0)
        session_done(s, "NO [UNAVAILABLE] Server shutting down");
}
