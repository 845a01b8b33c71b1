/* command: the command table and its state checks. */
#include "command.h"
#include "control/control.h"
#include "log/log.h"

#include <stdio.h>
#include <string.h>

#define ANY (SESSION_NOTAUTH | SESSION_AUTH | SESSION_SELECTED)
#define AUTHED (SESSION_AUTH | SESSION_SELECTED)

struct command_def {
    const char *name;
    unsigned states;
    void (*fn)(struct session *s, const imapproto_command_t *c);
};

static const struct command_def command_table[] = {
    {"CAPABILITY", ANY, cmd_capability},
    {"NOOP", ANY, cmd_noop},
    {"LOGOUT", ANY, cmd_logout},
    {"ID", ANY, cmd_id},
    {"STARTTLS", SESSION_NOTAUTH, cmd_starttls},
    {"LOGIN", SESSION_NOTAUTH, cmd_login},
    {"AUTHENTICATE", SESSION_NOTAUTH, cmd_authenticate},
    {"NAMESPACE", AUTHED, cmd_namespace},
    {"LIST", AUTHED, cmd_list},
    {"LSUB", AUTHED, cmd_list},
    {"SELECT", AUTHED, cmd_select},
    {"EXAMINE", AUTHED, cmd_select},
    {"CHECK", SESSION_SELECTED, cmd_noop},
    {"CLOSE", SESSION_SELECTED, cmd_close},
    {"UNSELECT", SESSION_SELECTED, cmd_close},
    {"FETCH", SESSION_SELECTED, cmd_fetch},
    {"UID", SESSION_SELECTED, cmd_uid},
};

/* RFC 3501 and common extensions we do not implement yet: a different answer from a
 * typo, so a client author knows which it is. */
static const char *const command_later[] = {
    "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "STATUS",
    "APPEND", "EXPUNGE", "SEARCH", "STORE", "COPY", "MOVE", "IDLE", "ENABLE", "GETQUOTA",
    "GETQUOTAROOT", "SETQUOTA", "GETACL", "SETACL", "MYRIGHTS", "LISTRIGHTS", "COMPRESS",
};

static const char *command_state_error(const struct session *s, unsigned states)
{
    if (s->state == SESSION_NOTAUTH)
        return "Not logged in yet";
    if (states == SESSION_NOTAUTH)
        return "Already logged in";
    return "No mailbox selected";
}

void command_dispatch(struct session *s, const imapproto_command_t *c)
{
    log_emit(LOG_DEBUG, "imap.command", "session", s->id, "tag", c->tag, "command", c->name,
             NULL);
    for (size_t i = 0; i < sizeof(command_table) / sizeof(*command_table); i++) {
        const struct command_def *d = &command_table[i];
        if (strcmp(d->name, c->name) != 0)
            continue;
        char metric[80];
        snprintf(metric, sizeof(metric), "imap_commands_total{command=\"%s\"}", d->name);
        metrics_add(metric, 1);
        if (!(d->states & s->state)) {
            session_done(s, "BAD %s", command_state_error(s, d->states));
            return;
        }
        d->fn(s, c);
        return;
    }
    metrics_add("imap_commands_total{command=\"other\"}", 1);
    for (size_t i = 0; i < sizeof(command_later) / sizeof(*command_later); i++) {
        if (strcmp(command_later[i], c->name) == 0) {
            session_done(s, "BAD %s is not supported yet", command_later[i]);
            return;
        }
    }
    session_done(s, "BAD Unknown command");
}
