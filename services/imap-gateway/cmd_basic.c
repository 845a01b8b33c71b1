/* cmd_basic: the commands valid in any state (CAPABILITY, NOOP, LOGOUT, ID) and the
 * small ones around them (NAMESPACE, STARTTLS, CHECK). */
#include "command.h"
#include "gateway.h"
#include "net/net.h"

#include <string.h>

static int cmd_no_args(struct session *s, const imapproto_command_t *c)
{
    if (c->nargs == 0)
        return 1;
    session_done(s, "BAD %s takes no arguments", c->name);
    return 0;
}

void cmd_capability(struct session *s, const imapproto_command_t *c)
{
    if (!cmd_no_args(s, c))
        return;
    session_printf(s, "* CAPABILITY %s", session_capability(s));
    session_done(s, "OK CAPABILITY completed");
}

void cmd_noop(struct session *s, const imapproto_command_t *c)
{
    if (!cmd_no_args(s, c))
        return;
    if (s->state == SESSION_SELECTED)
        cmd_select_refresh(s);
    else
        session_done(s, "OK %s completed", c->name);
}

void cmd_logout(struct session *s, const imapproto_command_t *c)
{
    if (!cmd_no_args(s, c))
        return;
    session_logout(s);
}

/* RFC 2971: the client's list (or NIL) is accepted and not kept; we say who we are. */
void cmd_id(struct session *s, const imapproto_command_t *c)
{
    if (c->nargs != 1 || (c->args[0].type != IMAPPROTO_LIST && c->args[0].type != IMAPPROTO_NIL)) {
        session_done(s, "BAD ID needs a parameter list or NIL");
        return;
    }
    session_printf(s, "* ID (\"name\" \"mailstack\" \"vendor\" \"mailstack\")");
    session_done(s, "OK ID completed");
}

void cmd_namespace(struct session *s, const imapproto_command_t *c)
{
    if (!cmd_no_args(s, c))
        return;
    session_printf(s, "* NAMESPACE ((\"\" \".\")) NIL NIL");
    session_done(s, "OK NAMESPACE completed");
}

void cmd_starttls(struct session *s, const imapproto_command_t *c)
{
    if (!cmd_no_args(s, c))
        return;
    if (!gateway.tls) {
        session_done(s, "BAD STARTTLS is not available here");
        return;
    }
    if (net_bev_is_tls(s->bev)) {
        session_done(s, "BAD TLS is already active");
        return;
    }
    session_done(s, "OK Begin TLS negotiation now");
    session_starttls(s);
}
