/* cmd_login: LOGIN user password. Only over TLS, or on loopback when the dev setting
 * allows it. The check is auth-service's (POST /v1/auth); the account it names is then
 * mapped to its accounts.account_id. Both run on a worker. The password is never
 * logged, and is wiped from memory once the check is done. */
#include "authclient.h"
#include "command.h"
#include "control/control.h"
#include "gateway.h"
#include "log/log.h"
#include "mailstore.h"

#include <string.h>

#define LOGIN_ACCOUNT_MAX 256

struct login_job {
    struct session *s;
    const char *user;
    char *pass;
    const char *remote_ip;
    enum authclient_result auth;
    int store_rc;                 /* mailstore_account_id's result */
    char account[LOGIN_ACCOUNT_MAX];
    int64_t account_id;
};

static void login_work(void *arg)
{
    struct login_job *j = arg;
    j->auth = authclient_login(gateway.auth_url, j->user, j->pass, j->remote_ip, j->account,
                               sizeof(j->account));
    if (j->auth == AUTHCLIENT_OK)
        j->store_rc = mailstore_account_id(j->account, &j->account_id);
}

static void login_throttled(struct session *s)
{
    session_done(s, "NO [AUTHENTICATIONFAILED] Authentication failed");
}

static void login_done(void *arg)
{
    struct login_job *j = arg;
    struct session *s = j->s;
    explicit_bzero(j->pass, strlen(j->pass));
    if (j->auth == AUTHCLIENT_OK && j->store_rc == 0) {
        metrics_add("imap_logins_total{result=\"ok\"}", 1);
        s->account = pool_strdup(s->pool, j->account);
        s->account_id = j->account_id;
        session_authenticated(s);
        log_emit(LOG_INFO, "imap.login", "session", s->id, "user", j->user, "account",
                 s->account, "client", s->peer, NULL);
        session_done(s, "OK [CAPABILITY %s] Logged in", session_capability(s));
        return;
    }
    if (j->auth == AUTHCLIENT_OK) {
        /* Known to LDAP but not (yet) mirrored into PostgreSQL, or PostgreSQL is down. */
        metrics_add("imap_logins_total{result=\"unavailable\"}", 1);
        log_emit(LOG_WARN, "imap.login_no_account", "session", s->id, "account", j->account,
                 "reason", j->store_rc > 0 ? "no accounts row" : "database error", NULL);
        session_done(s, "NO [UNAVAILABLE] Mailbox temporarily unavailable");
        return;
    }
    if (j->auth == AUTHCLIENT_UNAVAILABLE) {
        metrics_add("imap_logins_total{result=\"unavailable\"}", 1);
        session_done(s, "NO [UNAVAILABLE] Authentication temporarily unavailable");
        return;
    }
    metrics_add(j->auth == AUTHCLIENT_THROTTLED ? "imap_logins_total{result=\"throttled\"}"
                                                : "imap_logins_total{result=\"failed\"}",
                1);
    log_emit(LOG_INFO, "imap.login_failed", "session", s->id, "user", j->user, "client",
             s->peer, "reason", j->auth == AUTHCLIENT_THROTTLED ? "throttled" : "credentials",
             NULL);
    if (++s->auth_failures >= gateway.max_auth_failures) {
        session_printf(s, "%s NO [AUTHENTICATIONFAILED] Authentication failed", s->tag);
        session_bye(s, "Too many authentication failures");
        return;
    }
    if (j->auth == AUTHCLIENT_THROTTLED)
        session_after(s, gateway.auth_throttle_ms, login_throttled);
    else
        session_done(s, "NO [AUTHENTICATIONFAILED] Authentication failed");
}

void cmd_login(struct session *s, const imapproto_command_t *c)
{
    const char *user = c->nargs == 2 ? imapproto_arg_string(&c->args[0]) : NULL;
    const char *pass = c->nargs == 2 ? imapproto_arg_string(&c->args[1]) : NULL;
    if (!user || !pass || !*user) {
        session_done(s, "BAD LOGIN needs a user name and a password");
        return;
    }
    if (!session_login_allowed(s)) {
        session_done(s, "NO [PRIVACYREQUIRED] LOGIN is not allowed without TLS; use STARTTLS");
        return;
    }
    struct login_job *j = pool_zalloc(s->cmd, sizeof(*j));
    j->s = s;
    j->user = user;
    j->pass = (char *)pass;
    j->remote_ip = s->peer;
    if (session_submit(s, login_work, login_done, j) < 0) {
        explicit_bzero(j->pass, strlen(j->pass));
        session_done(s, "NO [UNAVAILABLE] Server shutting down");
    }
}
