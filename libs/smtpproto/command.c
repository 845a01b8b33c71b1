/* command: one SMTP/LMTP command line into verb, argument, path and ESMTP parameters.
 * Accepts what real clients send ("MAIL FROM: <a@b>", lower-case verbs, trailing
 * spaces, source routes) and refuses the rest with RFC 5321/3463 codes: 500 5.5.2 for an
 * unknown verb, 501 5.5.4 for bad syntax, 501 5.1.7 / 5.1.3 for a bad sender/recipient. */
#include "smtpproto/smtpproto.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    enum smtpproto_verb verb;
} smtpproto_verbs[] = {
    {"HELO", SMTPPROTO_HELO}, {"EHLO", SMTPPROTO_EHLO}, {"LHLO", SMTPPROTO_LHLO},
    {"MAIL", SMTPPROTO_MAIL}, {"RCPT", SMTPPROTO_RCPT}, {"DATA", SMTPPROTO_DATA},
    {"BDAT", SMTPPROTO_BDAT}, {"RSET", SMTPPROTO_RSET}, {"NOOP", SMTPPROTO_NOOP},
    {"QUIT", SMTPPROTO_QUIT}, {"VRFY", SMTPPROTO_VRFY}, {"HELP", SMTPPROTO_HELP},
    {"STARTTLS", SMTPPROTO_STARTTLS}, {"AUTH", SMTPPROTO_AUTH},
};

static int smtpproto_space(char c)
{
    return c == ' ' || c == '\t';
}

static const char *smtpproto_skip_space(const char *p)
{
    while (smtpproto_space(*p))
        p++;
    return p;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"). */
static int smtpproto_keyword_ok(const char *k, size_t n)
{
    if (n == 0 || !isalnum((unsigned char)k[0]))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)k[i]) && k[i] != '-')
            return 0;
    return 1;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 octets (RFC 6531). */
static int smtpproto_value_ok(const char *v, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '=' || c <= 32 || c == 127)
            return 0;
    }
    return 1;
}

/* The space-separated KEY[=VALUE] list after a path. */
static int smtpproto_params(pool_t *pool, const char *p, smtpproto_command_t *cmd)
{
    size_t count = 0;
    for (const char *q = smtpproto_skip_space(p); *q; q = smtpproto_skip_space(q)) {
        count++;
        while (*q && !smtpproto_space(*q))
            q++;
    }
    cmd->params = count ? pool_alloc(pool, count * sizeof(*cmd->params)) : NULL;
    cmd->nparams = 0;
    for (p = smtpproto_skip_space(p); *p; p = smtpproto_skip_space(p)) {
        const char *start = p;
        while (*p && !smtpproto_space(*p))
            p++;
        const char *eq = memchr(start, '=', (size_t)(p - start));
        size_t klen = eq ? (size_t)(eq - start) : (size_t)(p - start);
        if (!smtpproto_keyword_ok(start, klen))
            return -1;
        smtpproto_param_t *param = &cmd->params[cmd->nparams++];
        param->key = pool_strndup(pool, start, klen);
        param->value = NULL;
        if (eq) {
            if (!smtpproto_value_ok(eq + 1, (size_t)(p - eq - 1)))
                return -1;
            param->value = pool_strndup(pool, eq + 1, (size_t)(p - eq - 1));
        }
    }
    return 0;
}

/* "@a,@b:" before the mailbox (RFC 5321 4.1.2 A-d-l): accepted and ignored, as 5321
 * says servers should. Returns the mailbox start, or NULL when the route is malformed. */
static const char *smtpproto_strip_route(const char *path)
{
    if (*path != '@')
        return path;
    const char *colon = strchr(path, ':');
    if (!colon)
        return NULL;
    for (const char *p = path; p < colon;) {
        if (*p != '@')
            return NULL;
        const char *end = p + 1;
        while (end < colon && *end != ',')
            end++;
        if (end == p + 1)
            return NULL;
        for (const char *c = p + 1; c < end; c++)
            if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' &&
                (unsigned char)*c < 0x80)
                return NULL;
        p = end < colon ? end + 1 : end;
    }
    return colon + 1;
}

/* "FROM:<path> params" / "TO:<path> params". */
static int smtpproto_path(pool_t *pool, const char *arg, const char *prefix,
                          smtpproto_command_t *cmd, const char **reply)
{
    int mail = cmd->verb == SMTPPROTO_MAIL;
    const char *syntax = mail ? "501 5.5.4 Syntax: MAIL FROM:<address>"
                              : "501 5.5.4 Syntax: RCPT TO:<address>";
    const char *bad = mail ? "501 5.1.7 Bad sender address syntax"
                           : "501 5.1.3 Bad recipient address syntax";
    size_t plen = strlen(prefix);
    if (strncasecmp(arg, prefix, plen) != 0) {
        *reply = syntax;
        return -1;
    }
    const char *p = smtpproto_skip_space(arg + plen);
    const char *start, *end, *rest;
    if (*p == '<') {
        /* The closing bracket is the first '>' outside a quoted local part. */
        start = ++p;
        int quoted = 0;
        while (*p && (quoted || *p != '>')) {
            if (quoted && *p == '\\' && p[1])
                p++;
            else if (*p == '"')
                quoted = !quoted;
            p++;
        }
        if (*p != '>') {
            *reply = syntax;
            return -1;
        }
        end = p;
        rest = p + 1;
    } else {
        /* No brackets: tolerated like most servers do; the path ends at a space. */
        start = p;
        while (*p && !smtpproto_space(*p))
            p++;
        if (p == start) {
            *reply = syntax;
            return -1;
        }
        end = rest = p;
    }
    if (*rest && !smtpproto_space(*rest)) {
        *reply = syntax;
        return -1;
    }
    char *text = pool_strndup(pool, start, (size_t)(end - start));
    const char *mailbox = smtpproto_strip_route(text);
    if (!mailbox) {
        *reply = bad;
        return -1;
    }
    cmd->path = mailbox;
    if (*mailbox == 0) {
        if (!mail) {
            *reply = bad;
            return -1;
        }
    } else if (mailaddr_parse(pool, mailbox, &cmd->addr) != 0 ||
               (mail && !cmd->addr.domain)) {
        *reply = bad;
        return -1;
    }
    if (smtpproto_params(pool, rest, cmd) != 0) {
        *reply = "501 5.5.4 Bad ESMTP parameter syntax";
        return -1;
    }
    return 0;
}

/* "BDAT chunk-size [LAST]" (RFC 3030). */
static int smtpproto_bdat(const char *arg, smtpproto_command_t *cmd)
{
    const char *p = arg;
    unsigned long long n = 0;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        if (n > (~0ULL - 9) / 10)
            return -1;
        n = n * 10 + (unsigned)(*p - '0');
    }
    cmd->chunk_size = n;
    p = smtpproto_skip_space(p);
    if (*p == 0)
        return 0;
    if (strcasecmp(p, "LAST") != 0 || !smtpproto_space(p[-1]))
        return -1;
    cmd->last = 1;
    return 0;
}

int smtpproto_parse(pool_t *pool, const char *line, size_t len, smtpproto_command_t *cmd,
                    const char **reply)
{
    memset(cmd, 0, sizeof(*cmd));
    cmd->arg = "";
    cmd->path = "";
    if (memchr(line, 0, len)) {
        *reply = "500 5.5.2 Error: NUL character in command";
        return -1;
    }
    while (len > 0 && (smtpproto_space(line[len - 1]) || line[len - 1] == '\r'))
        len--;
    char *text = pool_strndup(pool, line, len);
    size_t vlen = strcspn(text, " \t");
    size_t i;
    for (i = 0; i < sizeof(smtpproto_verbs) / sizeof(smtpproto_verbs[0]); i++)
        if (strlen(smtpproto_verbs[i].name) == vlen &&
            strncasecmp(text, smtpproto_verbs[i].name, vlen) == 0)
            break;
    if (i == sizeof(smtpproto_verbs) / sizeof(smtpproto_verbs[0])) {
        *reply = "500 5.5.2 Error: command not recognized";
        return -1;
    }
    cmd->verb = smtpproto_verbs[i].verb;
    const char *arg = smtpproto_skip_space(text + vlen);
    cmd->arg = arg;
    switch (cmd->verb) {
    case SMTPPROTO_HELO:
    case SMTPPROTO_EHLO:
    case SMTPPROTO_LHLO:
        if (*arg)
            return 0;
        *reply = cmd->verb == SMTPPROTO_HELO   ? "501 5.5.4 Syntax: HELO hostname"
                 : cmd->verb == SMTPPROTO_EHLO ? "501 5.5.4 Syntax: EHLO hostname"
                                               : "501 5.5.4 Syntax: LHLO hostname";
        return -1;
    case SMTPPROTO_MAIL:
        return smtpproto_path(pool, arg, "FROM:", cmd, reply);
    case SMTPPROTO_RCPT:
        return smtpproto_path(pool, arg, "TO:", cmd, reply);
    case SMTPPROTO_BDAT:
        if (smtpproto_bdat(arg, cmd) == 0)
            return 0;
        *reply = "501 5.5.4 Syntax: BDAT chunk-size [LAST]";
        return -1;
    case SMTPPROTO_DATA:
    case SMTPPROTO_RSET:
    case SMTPPROTO_QUIT:
    case SMTPPROTO_STARTTLS:
        if (!*arg)
            return 0;
        *reply = cmd->verb == SMTPPROTO_DATA   ? "501 5.5.4 Syntax: DATA"
                 : cmd->verb == SMTPPROTO_RSET ? "501 5.5.4 Syntax: RSET"
                 : cmd->verb == SMTPPROTO_QUIT ? "501 5.5.4 Syntax: QUIT"
                                               : "501 5.5.4 Syntax: STARTTLS";
        return -1;
    case SMTPPROTO_VRFY:
        if (*arg)
            return 0;
        *reply = "501 5.5.4 Syntax: VRFY address";
        return -1;
    case SMTPPROTO_AUTH:
        if (*arg)
            return 0;
        *reply = "501 5.5.4 Syntax: AUTH mechanism";
        return -1;
    case SMTPPROTO_NOOP:
    case SMTPPROTO_HELP:
        return 0;
    }
    return 0;
}
