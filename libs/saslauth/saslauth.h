/* saslauth: server-side SASL for the protocol services (imap-gateway's AUTHENTICATE and
 * LOGIN; smtp-edge's AUTH can use it as it is), on Cyrus SASL (libsasl2) with the PLAIN
 * and LOGIN mechanisms. libsasl2 runs the mechanisms; the password check is a callback
 * that asks auth-service (POST /v1/auth, with the shared secret), so LDAP, the lockout and
 * the audit log stay in one place. Nothing is read from the system's SASL configuration
 * (/etc/sasl2, sasldb): every option libsasl2 asks for is answered here.
 *
 * Client data goes in and challenges come out base64-encoded, as IMAP (RFC 3501, SASL-IR
 * RFC 4959) and SMTP (RFC 4954) both carry them: "=" is an empty initial response and
 * "*" cancels. saslauth_start, saslauth_step and saslauth_checkpass block (the callback
 * is an HTTP call): run them on a workq worker, never on the loop thread. One saslauth_t
 * serves one exchange on one connection, from one thread at a time. */
#ifndef MAILSTACK_SASLAUTH_H
#define MAILSTACK_SASLAUTH_H

typedef struct saslauth saslauth_t;

enum saslauth_status {
    SASLAUTH_OK,          /* authenticated: saslauth_account() is the account */
    SASLAUTH_CONTINUE,    /* send saslauth_challenge(), then step with the next line */
    SASLAUTH_FAILED,      /* bad credentials (auth-service 401), or an identity refused */
    SASLAUTH_THROTTLED,   /* too many failures (auth-service 429): temporary */
    SASLAUTH_UNAVAILABLE, /* auth-service or LDAP down or misconfigured: temporary */
    SASLAUTH_NOMECH,      /* mechanism unknown, or not allowed here (plaintext without TLS) */
    SASLAUTH_BADPROT,     /* malformed client data (bad base64, a bad PLAIN message) */
    SASLAUTH_CANCELLED    /* the client sent "*" */
};

/* Once per process, before any thread uses the library. `protocol` ("imap", "smtp") is
 * the SASL service name and the `service` auth-service logs. Reads MAILSTACK_AUTH_URL,
 * MAILSTACK_AUTH_SECRET, MAILSTACK_AUTH_TIMEOUT_MS and MAILSTACK_HOSTNAME. Returns -1
 * (logged) when libsasl2 cannot start or the secret is missing. */
int saslauth_init(const char *protocol);
/* At exit, after every saslauth_t is freed. */
void saslauth_done(void);

/* The mechanisms to advertise, space-separated ("PLAIN LOGIN"), or "" when none may be
 * used: the plaintext ones need `plaintext_ok` (TLS is on, or a loopback client with the
 * development setting). Computed by libsasl2 at init; cheap, loop-thread safe. */
const char *saslauth_mechanisms(int plaintext_ok);

/* A new exchange for a client at remote_ip (sent to auth-service for its lockout). NULL
 * when out of memory or libsasl2 refuses. */
saslauth_t *saslauth_new(const char *remote_ip, int plaintext_ok);
void saslauth_free(saslauth_t *a);

/* Starts `mech` with the initial response `initial` (base64; "=" for empty; NULL when
 * the client sent none). */
enum saslauth_status saslauth_start(saslauth_t *a, const char *mech, const char *initial);
/* The client's answer to a challenge: a base64 line, or "*". */
enum saslauth_status saslauth_step(saslauth_t *a, const char *line);
/* After SASLAUTH_CONTINUE: the challenge, base64 ("" for an empty one). */
const char *saslauth_challenge(const saslauth_t *a);
/* A plain user name and password (IMAP LOGIN, POP3 USER/PASS) through the same check. The
 * caller decides whether plaintext is allowed on this connection. */
enum saslauth_status saslauth_checkpass(saslauth_t *a, const char *user, const char *pass);

/* After SASLAUTH_OK: the account auth-service named (the uid, whatever alias was used). */
const char *saslauth_account(const saslauth_t *a);
/* The user name the client gave, for logs; NULL if the exchange never got that far. */
const char *saslauth_username(const saslauth_t *a);

#endif
