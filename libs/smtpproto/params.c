/* params: the ESMTP parameters our servers advertise (SIZE RFC 1870, 8BITMIME RFC 6152,
 * SMTPUTF8 RFC 6531), checked the same way in smtp-edge and lmtp-store. Anything else is
 * refused with 555, as RFC 5321 3.3 asks for parameters that were not advertised. */
#include "smtpproto/smtpproto.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int smtpproto_number(const char *s, unsigned long long *out)
{
    unsigned long long n = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || n > (~0ULL - 9) / 10)
            return -1;
        n = n * 10 + (unsigned)(*s - '0');
    }
    *out = n;
    return 0;
}

int smtpproto_mail_params(const smtpproto_command_t *cmd, unsigned long long size_limit,
                          smtpproto_mail_params_t *out, const char **reply)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < cmd->nparams; i++) {
        const smtpproto_param_t *p = &cmd->params[i];
        if (strcasecmp(p->key, "SIZE") == 0) {
            if (smtpproto_number(p->value, &out->size) != 0) {
                *reply = "501 5.5.4 Bad SIZE parameter";
                return -1;
            }
            if (out->size > size_limit) {
                *reply = "552 5.3.4 Message size exceeds fixed limit";
                return -1;
            }
        } else if (strcasecmp(p->key, "BODY") == 0) {
            if (p->value && strcasecmp(p->value, "8BITMIME") == 0)
                out->body_8bit = 1;
            else if (!p->value || strcasecmp(p->value, "7BIT") != 0) {
                *reply = "501 5.5.4 Bad BODY parameter";
                return -1;
            }
        } else if (strcasecmp(p->key, "SMTPUTF8") == 0) {
            if (p->value) {
                *reply = "501 5.5.4 Bad SMTPUTF8 parameter";
                return -1;
            }
            out->smtputf8 = 1;
        } else {
            *reply = "555 5.5.4 Unsupported MAIL FROM parameter";
            return -1;
        }
    }
    return 0;
}

int smtpproto_rcpt_params(const smtpproto_command_t *cmd, const char **reply)
{
    if (cmd->nparams == 0)
        return 0;
    *reply = "555 5.5.4 Unsupported RCPT TO parameter";
    return -1;
}
