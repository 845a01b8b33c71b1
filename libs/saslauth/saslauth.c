/* saslauth: Cyrus SASL server glue behind saslauth.h.
 *
 * libsasl2 only calls our SASL_CB_SERVER_USERDB_CHECKPASS callback for the password; when
 * the callback says no, libsasl2 goes on to its own verifiers (pwcheck_method) and returns
 * their code, not ours. So the callback records auth-service's answer in the exchange and
 * that record, not libsasl2's return code, decides between failed, throttled and
 * unavailable; pwcheck_method and auxprop_plugin name nothing that exists, so no system
 * verifier or sasldb can ever say yes. */
#include "saslauth/saslauth.h"
#include "config/config.h"
#include "jsonhttp/jsonhttp.h"
#include "log/log.h"

#include <pthread.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libsasl2 reads <app>.conf from each directory of this path. Nothing can be below
 * /dev/null, so no configuration file (e.g. in /etc/sasl2) can change what we set here. */
#define SASLAUTH_CONF_PATH "/dev/null"
#define SASLAUTH_APP "mailstack"
#define SASLAUTH_MAX_TEXT 8192 /* decoded client data; PLAIN is at most ~2 KiB in practice */

/* libsasl2 stores every callback as int (*)(void); going through void (*)(void) is the
 * cast GCC accepts between unrelated function types. */
#define SASLAUTH_CB(fn) ((int (*)(void))(void (*)(void))(fn))

struct saslauth {
    sasl_conn_t *conn;
    sasl_callback_t callbacks[2];
    char remote_ip[64];
    enum saslauth_status outcome; /* auth-service's answer; SASLAUTH_BADPROT until asked */
    int asked;
    char *account, *username, *challenge;
};

static struct {
    char protocol[16];
    const char *url;       /* .../v1/auth */
    char *auth_header;     /* "Authorization: Bearer ..." */
    long timeout_ms;
    const char *hostname;
    char *mechs_plain;     /* advertised with plaintext allowed */
    char *mechs_secure;    /* and without */
} saslauth;

/* ---- libsasl2 settings and logging -------------------------------------------------- */

static int saslauth_getopt(void *context, const char *plugin, const char *option,
                           const char **result, unsigned *len)
{
    (void)context;
    static const struct {
        const char *name, *value;
    } options[] = {
        {"mech_list", "PLAIN LOGIN"},
        {"pwcheck_method", "mailstack-callback-only"},
        {"auxprop_plugin", "mailstack-none"},
        {"canon_user_plugin", "INTERNAL"},
        {"auto_transition", "no"},
        {"log_level", "2"},
    };
    if (plugin)
        return SASL_FAIL; /* plugin options: the plugins' defaults */
    for (size_t i = 0; i < sizeof(options) / sizeof(*options); i++) {
        if (strcmp(option, options[i].name) == 0) {
            *result = options[i].value;
            if (len)
                *len = (unsigned)strlen(options[i].value);
            return SASL_OK;
        }
    }
    return SASL_FAIL;
}

static int saslauth_confpath(void *context, const char **path)
{
    (void)context;
    *path = SASLAUTH_CONF_PATH;
    return SASL_OK;
}

/* libsasl2's own messages repeat what we log better ourselves ("unknown password
 * verifier" after every refusal, by design above): debug only. */
static int saslauth_log(void *context, int level, const char *message)
{
    (void)context;
    char lvl[8];
    snprintf(lvl, sizeof(lvl), "%d", level);
    log_emit(LOG_DEBUG, "sasl.log", "sasl_level", lvl, "message", message, NULL);
    return SASL_OK;
}

static sasl_callback_t saslauth_global_callbacks[] = {
    {SASL_CB_GETOPT, SASLAUTH_CB(saslauth_getopt), NULL},
    {SASL_CB_GETCONFPATH, SASLAUTH_CB(saslauth_confpath), NULL},
    {SASL_CB_LOG, SASLAUTH_CB(saslauth_log), NULL},
    {SASL_CB_LIST_END, NULL, NULL},
};

/* libsasl2's default mutexes do nothing; its plugins share some state between threads. */
static void *saslauth_mutex_alloc(void)
{
    pthread_mutex_t *m = malloc(sizeof(*m));
    if (m)
        pthread_mutex_init(m, NULL);
    return m;
}

static int saslauth_mutex_lock(void *m)
{
    return pthread_mutex_lock(m) == 0 ? SASL_OK : SASL_FAIL;
}

static int saslauth_mutex_unlock(void *m)
{
    return pthread_mutex_unlock(m) == 0 ? SASL_OK : SASL_FAIL;
}

static void saslauth_mutex_free(void *m)
{
    pthread_mutex_destroy(m);
    free(m);
}

/* ---- the password check: auth-service ----------------------------------------------- */

static enum saslauth_status saslauth_ask(saslauth_t *a, const char *user, const char *pass,
                                         unsigned passlen)
{
    json_t *req = json_pack("{s:s,s:s%,s:s,s:s}", "username", user, "password", pass,
                            (size_t)passlen, "service", saslauth.protocol, "remote_ip",
                            a->remote_ip);
    if (!req)
        return SASLAUTH_FAILED; /* not UTF-8: no directory entry can have it */
    const char *headers[] = {saslauth.auth_header, NULL};
    jsonhttp_result_t res;
    int rc = jsonhttp_post_headers(saslauth.url, req, headers, saslauth.timeout_ms, &res);
    json_decref(req);
    enum saslauth_status out = SASLAUTH_UNAVAILABLE;
    const char *code = json_string_value(json_object_get(json_object_get(res.body, "error"),
                                                         "code"));
    if (rc != 0) {
        log_emit(LOG_WARN, "sasl.auth_unreachable", "url", saslauth.url, "error", res.error,
                 NULL);
    } else if (res.status == 200) {
        const char *acc = json_string_value(json_object_get(res.body, "account"));
        if (acc && *acc) {
            free(a->account);
            a->account = strdup(acc);
            out = a->account ? SASLAUTH_OK : SASLAUTH_UNAVAILABLE;
        } else {
            log_emit(LOG_WARN, "sasl.auth_bad_answer", "url", saslauth.url, NULL);
        }
    } else if ((res.status == 401 && code && strcmp(code, "invalid_credentials") == 0) ||
               res.status == 400) {
        out = SASLAUTH_FAILED;
    } else if (res.status == 429) {
        out = SASLAUTH_THROTTLED;
    } else {
        /* A 401 for anything but the credentials is auth-service refusing us (a wrong
         * MAILSTACK_AUTH_SECRET): our fault, not the user's, so temporary. */
        char status[16];
        snprintf(status, sizeof(status), "%ld", res.status);
        log_emit(LOG_WARN, "sasl.auth_unavailable", "status", status, "code", code, NULL);
    }
    jsonhttp_result_free(&res);
    return out;
}

static int saslauth_checkpass_cb(sasl_conn_t *conn, void *context, const char *user,
                                 const char *pass, unsigned passlen, struct propctx *propctx)
{
    (void)conn;
    (void)propctx;
    saslauth_t *a = context;
    free(a->username);
    a->username = strdup(user);
    a->asked = 1;
    a->outcome = saslauth_ask(a, user, pass, passlen);
    return a->outcome == SASLAUTH_OK ? SASL_OK : SASL_BADAUTH;
}

/* ---- exchanges ---------------------------------------------------------------------- */

static void saslauth_secprops(sasl_conn_t *conn, int plaintext_ok)
{
    sasl_security_properties_t sp;
    memset(&sp, 0, sizeof(sp));
    /* No security layer: TLS is the channel's protection. */
    sp.security_flags = SASL_SEC_NOANONYMOUS | (plaintext_ok ? 0 : SASL_SEC_NOPLAINTEXT);
    sasl_setprop(conn, SASL_SEC_PROPS, &sp);
}

static sasl_conn_t *saslauth_conn(const sasl_callback_t *callbacks, int plaintext_ok)
{
    sasl_conn_t *conn = NULL;
    /* An explicit host name: with NULL libsasl2 would look our name up in DNS, blocking. */
    int rc = sasl_server_new(saslauth.protocol, saslauth.hostname, NULL, NULL, NULL, callbacks,
                             0, &conn);
    if (rc != SASL_OK) {
        log_emit(LOG_ERROR, "sasl.new_failed", "error", sasl_errstring(rc, NULL, NULL), NULL);
        return NULL;
    }
    saslauth_secprops(conn, plaintext_ok);
    return conn;
}

static char *saslauth_listmech(int plaintext_ok)
{
    sasl_conn_t *conn = saslauth_conn(NULL, plaintext_ok);
    const char *list = "";
    unsigned len = 0;
    int count = 0;
    if (conn && sasl_listmech(conn, NULL, "", " ", "", &list, &len, &count) != SASL_OK)
        list = "";
    char *copy = strdup(list);
    if (conn)
        sasl_dispose(&conn);
    return copy;
}

int saslauth_init(const char *protocol)
{
    snprintf(saslauth.protocol, sizeof(saslauth.protocol), "%s", protocol);
    const char *base = config_str("MAILSTACK_AUTH_URL", "http://127.0.0.1:8088");
    const char *secret = config_str("MAILSTACK_AUTH_SECRET", "");
    if (!*secret) {
        log_emit(LOG_ERROR, "sasl.no_secret", "reason",
                 "MAILSTACK_AUTH_SECRET is not set: auth-service would refuse every check", NULL);
        return -1;
    }
    size_t n = strlen(base) + sizeof("/v1/auth");
    char *url = malloc(n);
    size_t hn = strlen(secret) + sizeof("Authorization: Bearer ");
    saslauth.auth_header = malloc(hn);
    if (!url || !saslauth.auth_header) {
        free(url);
        return -1;
    }
    snprintf(url, n, "%s/v1/auth", base);
    saslauth.url = url;
    snprintf(saslauth.auth_header, hn, "Authorization: Bearer %s", secret);
    /* auth-service may hold a failure back for its penalty (up to a few seconds) on top of
     * an LDAP timeout: wait longer than both before calling it unreachable. */
    saslauth.timeout_ms = config_long("MAILSTACK_AUTH_TIMEOUT_MS", 15000);
    saslauth.hostname = config_str("MAILSTACK_HOSTNAME", "localhost");
    sasl_set_mutex(saslauth_mutex_alloc, saslauth_mutex_lock, saslauth_mutex_unlock,
                   saslauth_mutex_free);
    int rc = sasl_server_init(saslauth_global_callbacks, SASLAUTH_APP);
    if (rc != SASL_OK) {
        log_emit(LOG_ERROR, "sasl.init_failed", "error", sasl_errstring(rc, NULL, NULL), NULL);
        return -1;
    }
    saslauth.mechs_plain = saslauth_listmech(1);
    saslauth.mechs_secure = saslauth_listmech(0);
    if (!saslauth.mechs_plain || !saslauth.mechs_secure)
        return -1;
    log_emit(LOG_INFO, "sasl.ready", "mechanisms", saslauth.mechs_plain, NULL);
    return 0;
}

void saslauth_done(void)
{
    sasl_server_done();
    free((char *)saslauth.url);
    if (saslauth.auth_header) {
        explicit_bzero(saslauth.auth_header, strlen(saslauth.auth_header));
        free(saslauth.auth_header);
    }
    free(saslauth.mechs_plain);
    free(saslauth.mechs_secure);
    memset(&saslauth, 0, sizeof(saslauth));
}

const char *saslauth_mechanisms(int plaintext_ok)
{
    const char *m = plaintext_ok ? saslauth.mechs_plain : saslauth.mechs_secure;
    return m ? m : "";
}

saslauth_t *saslauth_new(const char *remote_ip, int plaintext_ok)
{
    saslauth_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    snprintf(a->remote_ip, sizeof(a->remote_ip), "%s", remote_ip ? remote_ip : "");
    a->callbacks[0] = (sasl_callback_t){SASL_CB_SERVER_USERDB_CHECKPASS,
                                        SASLAUTH_CB(saslauth_checkpass_cb), a};
    a->callbacks[1] = (sasl_callback_t){SASL_CB_LIST_END, NULL, NULL};
    a->outcome = SASLAUTH_BADPROT;
    a->conn = saslauth_conn(a->callbacks, plaintext_ok);
    if (!a->conn) {
        free(a);
        return NULL;
    }
    return a;
}

void saslauth_free(saslauth_t *a)
{
    if (!a)
        return;
    sasl_dispose(&a->conn);
    free(a->account);
    free(a->username);
    free(a->challenge);
    free(a);
}

/* libsasl2's answer, read through what auth-service said. */
static enum saslauth_status saslauth_result(saslauth_t *a, int rc, const char *out,
                                            unsigned outlen)
{
    if (rc == SASL_CONTINUE) {
        unsigned cap = (outlen + 2) / 3 * 4 + 1, used = 0;
        char *b64 = malloc(cap);
        if (!b64 || sasl_encode64(out, outlen, b64, cap, &used) != SASL_OK) {
            free(b64);
            return SASLAUTH_UNAVAILABLE;
        }
        free(a->challenge);
        a->challenge = b64;
        return SASLAUTH_CONTINUE;
    }
    if (rc == SASL_OK)
        return a->asked && a->outcome == SASLAUTH_OK ? SASLAUTH_OK : SASLAUTH_FAILED;
    if (a->asked)
        return a->outcome == SASLAUTH_OK ? SASLAUTH_FAILED : a->outcome;
    switch (rc) {
    case SASL_NOMECH:
    case SASL_TOOWEAK:
    case SASL_ENCRYPT:
        return SASLAUTH_NOMECH;
    case SASL_BADPROT:
    case SASL_BADPARAM:
        return SASLAUTH_BADPROT;
    case SASL_NOMEM:
    case SASL_FAIL:
    case SASL_TRYAGAIN:
    case SASL_UNAVAIL:
        return SASLAUTH_UNAVAILABLE;
    default:
        return SASLAUTH_FAILED;
    }
}

/* Decodes a client's base64 into a malloc'ed buffer; -1 when it is not base64. "=" alone
 * is the empty response of RFC 4959 / RFC 4954. */
static int saslauth_decode(const char *in, char **out, unsigned *outlen)
{
    size_t len = strlen(in);
    if (strcmp(in, "=") == 0)
        len = 0;
    if (len > SASLAUTH_MAX_TEXT / 3 * 4)
        return -1;
    *out = malloc(len / 4 * 3 + 4);
    if (!*out)
        return -1;
    *outlen = 0;
    if (len && sasl_decode64(in, (unsigned)len, *out, (unsigned)(len / 4 * 3 + 4), outlen) != SASL_OK) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static void saslauth_wipe(char *buf, unsigned len)
{
    if (buf) {
        explicit_bzero(buf, len);
        free(buf);
    }
}

enum saslauth_status saslauth_start(saslauth_t *a, const char *mech, const char *initial)
{
    char *data = NULL;
    unsigned len = 0;
    if (initial && saslauth_decode(initial, &data, &len) != 0)
        return SASLAUTH_BADPROT;
    const char *out = NULL;
    unsigned outlen = 0;
    int rc = sasl_server_start(a->conn, mech, initial ? data : NULL, len, &out, &outlen);
    saslauth_wipe(data, len);
    return saslauth_result(a, rc, out, outlen);
}

enum saslauth_status saslauth_step(saslauth_t *a, const char *line)
{
    if (strcmp(line, "*") == 0)
        return SASLAUTH_CANCELLED;
    char *data = NULL;
    unsigned len = 0;
    if (saslauth_decode(line, &data, &len) != 0)
        return SASLAUTH_BADPROT;
    const char *out = NULL;
    unsigned outlen = 0;
    int rc = sasl_server_step(a->conn, data, len, &out, &outlen);
    saslauth_wipe(data, len);
    return saslauth_result(a, rc, out, outlen);
}

const char *saslauth_challenge(const saslauth_t *a)
{
    return a->challenge ? a->challenge : "";
}

enum saslauth_status saslauth_checkpass(saslauth_t *a, const char *user, const char *pass)
{
    int rc = sasl_checkpass(a->conn, user, 0, pass, 0);
    return saslauth_result(a, rc, NULL, 0);
}

const char *saslauth_account(const saslauth_t *a)
{
    return a->account;
}

const char *saslauth_username(const saslauth_t *a)
{
    return a->username;
}
