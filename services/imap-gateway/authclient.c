/* authclient: the auth-service call behind authclient.h, over libs/jsonhttp. */
#include "authclient.h"
#include "jsonhttp/jsonhttp.h"
#include "log/log.h"

#include <stdio.h>
#include <string.h>

#define AUTHCLIENT_TIMEOUT_MS 5000

enum authclient_result authclient_login(const char *base_url, const char *username,
                                        const char *password, const char *remote_ip,
                                        char *account, size_t account_size)
{
    char url[512];
    snprintf(url, sizeof(url), "%s/v1/auth", base_url);
    json_t *req = json_pack("{s:s,s:s,s:s,s:s}", "username", username, "password", password,
                            "service", "imap", "remote_ip", remote_ip);
    if (!req)
        return AUTHCLIENT_FAILED; /* not valid UTF-8: no such user can exist */
    jsonhttp_result_t res;
    int rc = jsonhttp_post(url, req, AUTHCLIENT_TIMEOUT_MS, &res);
    json_decref(req);
    enum authclient_result out = AUTHCLIENT_UNAVAILABLE;
    if (rc != 0) {
        log_emit(LOG_WARN, "imap.auth_unreachable", "url", url, "error", res.error, NULL);
    } else if (res.status == 200) {
        const char *acc = json_string_value(json_object_get(res.body, "account"));
        if (acc && *acc && strlen(acc) < account_size) {
            snprintf(account, account_size, "%s", acc);
            out = AUTHCLIENT_OK;
        } else {
            log_emit(LOG_WARN, "imap.auth_bad_answer", "url", url, NULL);
        }
    } else if (res.status == 401 || res.status == 400 || res.status == 403) {
        out = AUTHCLIENT_FAILED;
    } else if (res.status == 429) {
        out = AUTHCLIENT_THROTTLED;
    } else {
        char status[16];
        snprintf(status, sizeof(status), "%ld", res.status);
        log_emit(LOG_WARN, "imap.auth_unavailable", "status", status, NULL);
    }
    jsonhttp_result_free(&res);
    return out;
}
