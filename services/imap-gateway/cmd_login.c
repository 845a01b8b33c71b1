/* cmd_login: LOGIN user password, and AUTHENTICATE mechanism [initial-response] (RFC 3501
 * with SASL-IR, RFC 4959), both through libs/saslauth: Cyrus SASL runs the mechanism
 * (PLAIN, LOGIN) and its password check asks auth-service. Plaintext credentials only
 * over TLS, or on loopback when the dev setting allows it. The account auth-service names
 * is then mapped to its accounts.account_id. The SASL steps and that lookup block, so
 * they run on a worker; between steps the command waits for the client's next line.
 *
 * Answers (RFC 5530 codes): bad credentials NO [AUTHENTICATIONFAILED]; auth-service's
 * lockout (429) NO [LIMIT], held back a little; auth-service or LDAP down NO [UNAVAILABLE];
 * a cancelled or malformed exchange BAD. Passwords are never logged, and the client's
 * credential bytes are wiped once used. */
#include "command.h"
#include "control/control.h"
#include "gateway.h"
#include "log/log.h"
#include "mailstore.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

struct login_job {
    struct session *s;
    const char *mech;        /* AUTHENTICATE; NULL for LOGIN */
    const char *user;        /* LOGIN */
    char *secret;            /* LOGIN's password, or the base64 line of a SASL step */
    int starting;            /* AUTHENTICATE: the first step */
    enum saslauth_status st;
    int store_rc;            /* mailstore_account_id's result */
    int64_t account_id;
};

static void login_wipe(char *secret)
{
    if (secret)
        explicit_bzero(secret, strlen(secret));
}

static void login_account(struct login_job *j)
{
    if (j->st == SASLAUTH_OK)
        j->store_rc = mailstore_account_id(saslauth_account(j->s->sasl), &j->account_id);
}

static void login_work(void *arg)
{
    struct login_job *j = arg;
    j->st = saslauth_checkpass(j->s->sasl, j->user, j->secret);
    login_account(j);
}

static void authenticate_work(void *arg)
{
    struct login_job *j = arg;
    j->st = j->starting ? saslauth_start(j->s->sasl, j->mech, j->secret)
                        : saslauth_step(j->s->sasl, j->secret);
    login_account(j);
}

static void login_throttled(struct session *s)
{
    session_done(s, "NO [LIMIT] Too many failed authentications; try again later");
}

static void login_end_exchange(struct session *s)
{
    saslauth_free(s->sasl);
    s->sasl = NULL;
}

static void authenticate_line(struct session *s, char *line);

static void login_failed(struct session *s, const char *user, enum saslauth_status st)
{
    int throttled = st == SASLAUTH_THROTTLED;
    metrics_add(throttled ? "imap_logins_total{result=\"throttled\"}"
                          : "imap_logins_total{result=\"failed\"}",
                1);
    log_emit(LOG_INFO, "imap.login_failed", "session", s->id, "user", user, "client", s->peer,
             "reason", throttled ? "throttled" : "credentials", NULL);
    if (++s->auth_failures >= gateway.max_auth_failures) {
        session_printf(s, "%s NO [AUTHENTICATIONFAILED] Authentication failed", s->tag);
        session_bye(s, "Too many authentication failures");
        return;
    }
    if (throttled)
        session_after(s, gateway.auth_throttle_ms, login_throttled);
    else
        session_done(s, "NO [AUTHENTICATIONFAILED] Authentication failed");
}

static void login_done(void *arg)
{
    struct login_job *j = arg;
    struct session *s = j->s;
    login_wipe(j->secret);
    if (j->st == SASLAUTH_CONTINUE) {
        session_printf(s, "+ %s", saslauth_challenge(s->sasl));
        session_read_line(s, authenticate_line);
        return;
    }
    const char *user = saslauth_username(s->sasl);
    if (j->st == SASLAUTH_OK && j->store_rc == 0) {
        metrics_add("imap_logins_total{result=\"ok\"}", 1);
        s->account = pool_strdup(s->pool, saslauth_account(s->sasl));
        s->account_id = j->account_id;
        log_emit(LOG_INFO, "imap.login", "session", s->id, "user", user, "account", s->account,
                 "mechanism", j->mech ? j->mech : "LOGIN command", "client", s->peer, NULL);
        login_end_exchange(s);
        session_authenticated(s);
        session_done(s, "OK [CAPABILITY %s] %s", session_capability(s),
                     j->mech ? "Authenticated" : "Logged in");
        return;
    }
    if (j->st == SASLAUTH_OK) {
        /* Known to LDAP but not (yet) mirrored into PostgreSQL, or PostgreSQL is down. */
        metrics_add("imap_logins_total{result=\"unavailable\"}", 1);
        log_emit(LOG_WARN, "imap.login_no_account", "session", s->id, "account",
                 saslauth_account(s->sasl),
                 "reason", j->store_rc > 0 ? "no accounts row" : "database error", NULL);
        login_end_exchange(s);
        session_done(s, "NO [UNAVAILABLE] Mailbox temporarily unavailable");
        return;
    }
    const char *who = user ? pool_strdup(s->cmd, user) : NULL;
    login_end_exchange(s);
    switch (j->st) {
    case SASLAUTH_UNAVAILABLE:
        metrics_add("imap_logins_total{result=\"unavailable\"}", 1);
        session_done(s, "NO [UNAVAILABLE] Authentication temporarily unavailable");
        return;
    case SASLAUTH_NOMECH:
        session_done(s, "NO Unsupported authentication mechanism");
        return;
    case SASLAUTH_BADPROT:
        session_done(s, "BAD Malformed authentication data");
        return;
    case SASLAUTH_CANCELLED:
        session_done(s, "BAD AUTHENTICATE cancelled");
        return;
    default:
        login_failed(s, who, j->st);
    }
}

static void login_submit(struct session *s, struct login_job *j, void (*work)(void *))
{
    if (session_submit(s, work, login_done, j) < 0) {
        login_wipe(j->secret);
        login_end_exchange(s);
        session_done(s, "NO [UNAVAILABLE] Server shutting down");
    }
}

static void authenticate_line(struct session *s, char *line)
{
    if (!line) {
        login_end_exchange(s);
        session_done(s, "BAD Authentication response too long");
        return;
    }
    struct login_job *j = pool_zalloc(s->cmd, sizeof(*j));
    j->s = s;
    j->mech = s->cmd_state;
    j->secret = line;
    login_submit(s, j, authenticate_work);
}

/* Starts an exchange; 0, or -1 after answering (out of memory, shutting down). */
static int login_begin(struct session *s)
{
    s->sasl = saslauth_new(s->peer, session_login_allowed(s));
    if (s->sasl)
        return 0;
    session_done(s, "NO [UNAVAILABLE] Authentication temporarily unavailable");
    return -1;
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
        login_wipe((char *)pass);
        session_done(s, "NO [PRIVACYREQUIRED] LOGIN is not allowed without TLS; use STARTTLS");
        return;
    }
    if (login_begin(s) != 0)
        return;
    struct login_job *j = pool_zalloc(s->cmd, sizeof(*j));
    j->s = s;
    j->user = user;
    j->secret = (char *)pass;
    login_submit(s, j, login_work);
}

/* 1 when `mech` is a word of the space-separated `list`, ignoring case. */
static int login_mech_listed(const char *list, const char *mech)
{
    size_t n = strlen(mech);
    for (const char *m = list; *m; m += strspn(m, " ")) {
        size_t len = strcspn(m, " ");
        if (len == n && strncasecmp(m, mech, n) == 0)
            return 1;
        m += len;
    }
    return 0;
}

void cmd_authenticate(struct session *s, const imapproto_command_t *c)
{
    const char *mech = c->nargs >= 1 && c->nargs <= 2 && c->args[0].type == IMAPPROTO_ATOM
                           ? imapproto_arg_string(&c->args[0])
                           : NULL;
    const char *initial = c->nargs == 2 && c->args[1].type == IMAPPROTO_ATOM
                              ? imapproto_arg_string(&c->args[1])
                              : NULL;
    if (!mech || (c->nargs == 2 && !initial)) {
        session_done(s, "BAD AUTHENTICATE needs a mechanism name and optionally an initial "
                        "response");
        return;
    }
    if (!login_mech_listed(saslauth_mechanisms(session_login_allowed(s)), mech)) {
        if (initial)
            login_wipe((char *)initial);
        if (login_mech_listed(saslauth_mechanisms(1), mech))
            session_done(s, "NO [PRIVACYREQUIRED] Plaintext authentication needs TLS; use "
                            "STARTTLS");
        else
            session_done(s, "NO Unsupported authentication mechanism");
        return;
    }
    if (login_begin(s) != 0)
        return;
    char *name = pool_strdup(s->cmd, mech);
    for (char *p = name; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    s->cmd_state = name;
    struct login_job *j = pool_zalloc(s->cmd, sizeof(*j));
    j->s = s;
    j->mech = name;
    j->secret = (char *)initial;
    j->starting = 1;
    login_submit(s, j, authenticate_work);
}
