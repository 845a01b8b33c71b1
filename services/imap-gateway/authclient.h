/* authclient: asks auth-service whether a user name and password are good (POST
 * /v1/auth). Blocking: call it from a worker. The password is sent, never logged. */
#ifndef IMAP_AUTHCLIENT_H
#define IMAP_AUTHCLIENT_H

#include <stddef.h>

enum authclient_result {
    AUTHCLIENT_OK,           /* account filled in */
    AUTHCLIENT_FAILED,       /* wrong credentials (401), or refused as malformed */
    AUTHCLIENT_THROTTLED,    /* 429: too many attempts */
    AUTHCLIENT_UNAVAILABLE   /* 5xx, unreachable, or an answer we cannot read */
};

enum authclient_result authclient_login(const char *base_url, const char *username,
                                        const char *password, const char *remote_ip,
                                        char *account, size_t account_size);

#endif
