/* command: dispatch of a parsed IMAP command to its handler, with the state checks of
 * RFC 3501 (which commands are valid before login, after it, with a mailbox selected).
 * Every handler ends its command with session_done (now, or when its worker job is back). */
#ifndef IMAP_COMMAND_H
#define IMAP_COMMAND_H

#include "imapproto/imapproto.h"
#include "session.h"

void command_dispatch(struct session *s, const imapproto_command_t *c);

/* cmd_basic.c: CAPABILITY, NOOP, CHECK, LOGOUT, ID, NAMESPACE, STARTTLS */
void cmd_capability(struct session *s, const imapproto_command_t *c);
void cmd_noop(struct session *s, const imapproto_command_t *c);
void cmd_logout(struct session *s, const imapproto_command_t *c);
void cmd_id(struct session *s, const imapproto_command_t *c);
void cmd_namespace(struct session *s, const imapproto_command_t *c);
void cmd_starttls(struct session *s, const imapproto_command_t *c);
/* cmd_login.c: LOGIN, AUTHENTICATE */
void cmd_login(struct session *s, const imapproto_command_t *c);
void cmd_authenticate(struct session *s, const imapproto_command_t *c);
/* cmd_list.c: LIST, LSUB */
void cmd_list(struct session *s, const imapproto_command_t *c);
/* cmd_select.c: SELECT, EXAMINE, CLOSE, UNSELECT */
void cmd_select(struct session *s, const imapproto_command_t *c);
void cmd_close(struct session *s, const imapproto_command_t *c);
/* NOOP and CHECK with a mailbox selected: reports new messages (EXISTS), then OK. */
void cmd_select_refresh(struct session *s);
/* cmd_fetch.c: FETCH, UID FETCH */
void cmd_fetch(struct session *s, const imapproto_command_t *c);
void cmd_uid(struct session *s, const imapproto_command_t *c);

#endif
