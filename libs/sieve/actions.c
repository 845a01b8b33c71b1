/* actions: the list a run collects. Duplicates merge as RFC 5228 2.10.3 and 4.2 ask (one
 * filing per mailbox, their flags joined; one redirect per address), the implicit keep
 * is cancelled by fileinto, redirect (both without :copy), discard and reject, and the
 * combinations that cannot be carried out together are runtime errors: reject or
 * ereject with keep, fileinto, redirect, vacation or another reject (RFC 5429 2.1), a
 * second vacation (RFC 5230 4), and more actions or redirects than the limits allow.
 * After an error the result is the implicit keep alone (RFC 5228 2.10.6). */
#include "sieve/sieve_int.h"

#include <string.h>
#include <strings.h>

static const char *kind_name(enum sieve_action_kind k)
{
    switch (k) {
    case SIEVE_KEEP: return "keep";
    case SIEVE_FILEINTO: return "fileinto";
    case SIEVE_REDIRECT: return "redirect";
    case SIEVE_REJECT: return "reject";
    case SIEVE_DISCARD: return "discard";
    case SIEVE_VACATION: return "vacation";
    }
    return "?";
}

static struct sv_act *push(struct sv_run *run, enum sieve_action_kind kind, int limit)
{
    if (limit && run->nacts >= run->cfg->max_actions) {
        sv_fail(run, "too many actions (the limit is %u)", run->cfg->max_actions);
        return NULL;
    }
    run->acts = sv_grow(run->pool, run->acts, run->nacts, &run->capacts, sizeof(*run->acts));
    struct sv_act *a = &run->acts[run->nacts++];
    memset(a, 0, sizeof(*a));
    a->a.kind = kind;
    a->a.line = run->line;
    a->flags = "";
    return a;
}

static ptrdiff_t find(const struct sv_run *run, enum sieve_action_kind kind)
{
    for (size_t i = 0; i < run->nacts; i++)
        if (run->acts[i].a.kind == kind)
            return (ptrdiff_t)i;
    return -1;
}

static int conflicts_with_reject(struct sv_run *run, const char *what)
{
    if (!run->rejected)
        return 0;
    return sv_fail(run, "%s cannot be combined with the reject on line %u", what,
                   run->acts[find(run, SIEVE_REJECT)].a.line);
}

static int merge_flags(struct sv_run *run, size_t i, const char *flags)
{
    const char *joined = sv_flags_add(run, run->acts[i].flags, flags);
    if (!joined)
        return -1;
    run->acts[i].flags = joined;
    return 0;
}

int sv_act_keep(struct sv_run *run, const char *flags)
{
    if (conflicts_with_reject(run, "keep") != 0)
        return -1;
    ptrdiff_t i = find(run, SIEVE_KEEP);
    if (i >= 0)
        return merge_flags(run, (size_t)i, flags);
    struct sv_act *a = push(run, SIEVE_KEEP, 1);
    if (!a)
        return -1;
    a->flags = flags;
    return 0;
}

static int same_mailbox(const char *a, const char *b)
{
    /* INBOX is case-insensitive (RFC 3501 5.1); other names are compared as written. */
    if (strcasecmp(a, "INBOX") == 0)
        return strcasecmp(b, "INBOX") == 0;
    return strcmp(a, b) == 0;
}

int sv_act_fileinto(struct sv_run *run, const char *mailbox, const char *flags, int copy)
{
    if (conflicts_with_reject(run, "fileinto") != 0)
        return -1;
    if (!copy)
        run->keep_cancelled = 1;
    for (size_t i = 0; i < run->nacts; i++)
        if (run->acts[i].a.kind == SIEVE_FILEINTO && same_mailbox(run->acts[i].a.mailbox, mailbox))
            return merge_flags(run, i, flags);
    struct sv_act *a = push(run, SIEVE_FILEINTO, 1);
    if (!a)
        return -1;
    a->a.mailbox = mailbox;
    a->flags = flags;
    return 0;
}

int sv_act_redirect(struct sv_run *run, const char *address, int copy)
{
    if (conflicts_with_reject(run, "redirect") != 0)
        return -1;
    if (!copy)
        run->keep_cancelled = 1;
    for (size_t i = 0; i < run->nacts; i++)
        if (run->acts[i].a.kind == SIEVE_REDIRECT &&
            strcasecmp(run->acts[i].a.address, address) == 0)
            return 0;
    if (run->redirects >= run->cfg->max_redirects)
        return sv_fail(run, "too many redirects (the limit is %u)", run->cfg->max_redirects);
    struct sv_act *a = push(run, SIEVE_REDIRECT, 1);
    if (!a)
        return -1;
    a->a.address = address;
    run->redirects++;
    return 0;
}

int sv_act_reject(struct sv_run *run, const char *reason, int ereject)
{
    if (run->rejected)
        return sv_fail(run, "a message can be rejected only once (first on line %u)",
                       run->acts[find(run, SIEVE_REJECT)].a.line);
    for (size_t i = 0; i < run->nacts; i++) {
        enum sieve_action_kind k = run->acts[i].a.kind;
        if (k == SIEVE_KEEP || k == SIEVE_FILEINTO || k == SIEVE_REDIRECT || k == SIEVE_VACATION)
            return sv_fail(run, "%s cannot be combined with the %s on line %u",
                           ereject ? "ereject" : "reject", kind_name(k), run->acts[i].a.line);
    }
    if (run->vacationed)
        return sv_fail(run, "%s cannot be combined with vacation: both answer the sender",
                       ereject ? "ereject" : "reject");
    struct sv_act *a = push(run, SIEVE_REJECT, 1);
    if (!a)
        return -1;
    a->a.reason = reason;
    a->a.ereject = ereject;
    run->rejected = 1;
    run->keep_cancelled = 1;
    return 0;
}

int sv_act_discard(struct sv_run *run)
{
    run->discarded = 1;
    run->discard_line = run->line;
    run->keep_cancelled = 1;
    return 0;
}

int sv_act_vacation(struct sv_run *run, const struct sieve_vacation *vac)
{
    if (run->vacationed)
        return sv_fail(run, "vacation may be used only once");
    if (run->rejected)
        return sv_fail(run, "vacation cannot be combined with reject: both answer the sender");
    run->vacationed = 1;
    if (!vac)
        return 0;
    struct sv_act *a = push(run, SIEVE_VACATION, 1);
    if (!a)
        return -1;
    a->a.vacation = vac;
    return 0;
}

void sv_act_finish(struct sv_run *run, struct sieve_result *out)
{
    memset(out, 0, sizeof(*out));
    run->line = 0;
    if (run->error) { /* the implicit keep, without flags: nothing of the run is trusted */
        run->nacts = 0;
        push(run, SIEVE_KEEP, 0);
        out->error = run->error;
    } else {
        if (!run->keep_cancelled && find(run, SIEVE_KEEP) < 0)
            push(run, SIEVE_KEEP, 0)->flags = run->flags;
        if (run->discarded && find(run, SIEVE_KEEP) < 0 && find(run, SIEVE_FILEINTO) < 0 &&
            !run->rejected) {
            run->line = run->discard_line;
            push(run, SIEVE_DISCARD, 0);
        }
    }
    out->actions = pool_alloc(run->pool, run->nacts * sizeof(*out->actions));
    for (size_t i = 0; i < run->nacts; i++) {
        struct sieve_action *a = &out->actions[i];
        *a = run->acts[i].a;
        if (a->kind == SIEVE_KEEP || a->kind == SIEVE_FILEINTO)
            a->nflags = sv_flags_split(run->pool, run->acts[i].flags, &a->flags);
    }
    out->nactions = run->nacts;
    out->notes = run->notes;
    out->nnotes = run->nnotes;
}
