/* smtpproto: the SMTP/LMTP wire parser shared by smtp-edge and lmtp-store. It splits the
 * input into command lines (RFC 5321 length policy), parses one command into verb, path
 * and ESMTP parameters, and reads DATA: un-dot-stuffing, ending only at <CRLF>.<CRLF>
 * (a bare <LF>.<LF> or <CR>.<CR> never ends it: no SMTP smuggling), enforcing the size
 * and header limits. Every refusal comes with the reply line to send, so both services
 * answer bad input the same way. No I/O here: callers feed bytes and write replies. */
#ifndef MAILSTACK_SMTPPROTO_H
#define MAILSTACK_SMTPPROTO_H

#include "mailaddr/mailaddr.h"
#include "pool/pool.h"

#include <stddef.h>

/* RFC 5321 4.5.3.1.4-6: a command line is at most 512 octets and a text line at most
 * 1000, both counting the CRLF. */
#define SMTPPROTO_COMMAND_MAX 512
#define SMTPPROTO_TEXT_LINE_MAX 1000

/* ---- command lines ---- */

typedef struct {
    size_t max;    /* longest line accepted, CRLF included */
    int skipping;  /* inside a line that was too long, dropping it up to its LF */
} smtpproto_lines_t;

enum smtpproto_line {
    SMTPPROTO_LINE_NONE,     /* no complete line yet: read more */
    SMTPPROTO_LINE_OK,       /* a line: buf[0 .. *linelen), CR LF not included */
    SMTPPROTO_LINE_TOO_LONG, /* an over-long line ended here: answer 500 5.5.2 */
};

void smtpproto_lines_init(smtpproto_lines_t *lines, size_t max);
/* Looks for the next command line at the start of buf. A line ends at LF (a CR before it
 * is dropped; a bare LF ends a command too, as in most servers). The caller always drops
 * the first *consumed bytes, also for NONE while an over-long line is being skipped. */
enum smtpproto_line smtpproto_lines_next(smtpproto_lines_t *lines, const char *buf,
                                         size_t len, size_t *linelen, size_t *consumed);

/* ---- commands ---- */

enum smtpproto_verb {
    SMTPPROTO_HELO, SMTPPROTO_EHLO, SMTPPROTO_LHLO, SMTPPROTO_MAIL, SMTPPROTO_RCPT,
    SMTPPROTO_DATA, SMTPPROTO_BDAT, SMTPPROTO_RSET, SMTPPROTO_NOOP, SMTPPROTO_QUIT,
    SMTPPROTO_VRFY, SMTPPROTO_HELP, SMTPPROTO_STARTTLS, SMTPPROTO_AUTH,
};

typedef struct {
    const char *key;    /* as sent; compare case-insensitively */
    const char *value;  /* NULL for a keyword without '=' */
} smtpproto_param_t;

typedef struct {
    enum smtpproto_verb verb;
    const char *arg;           /* text after the verb, trimmed ("" when none) */
    /* MAIL and RCPT: */
    const char *path;          /* the mailbox, source route stripped; "" for <> */
    mailaddr_t addr;           /* the parsed path; all NULL for the null sender */
    smtpproto_param_t *params;
    size_t nparams;
    /* BDAT: */
    unsigned long long chunk_size;
    int last;
} smtpproto_command_t;

/* Parses one command line (without CRLF). Returns 0, or -1 with *reply set to the reply
 * line to send (no CRLF), e.g. "500 5.5.2 Error: command not recognized" or
 * "501 5.1.3 Bad recipient address syntax". Strings are allocated from pool. */
int smtpproto_parse(pool_t *pool, const char *line, size_t len, smtpproto_command_t *cmd,
                    const char **reply);

/* The MAIL FROM parameters this parser's servers support (SIZE, BODY, SMTPUTF8). */
typedef struct {
    unsigned long long size;  /* SIZE=, 0 when not given */
    int body_8bit;            /* BODY=8BITMIME */
    int smtputf8;             /* SMTPUTF8 */
} smtpproto_mail_params_t;

/* Checks MAIL's parameters. Returns 0, or -1 with *reply ("555 5.5.4 Unsupported
 * option: X", "501 5.5.4 Bad SIZE value", "552 5.3.4 Message size exceeds fixed
 * limit" when SIZE > size_limit). */
int smtpproto_mail_params(const smtpproto_command_t *cmd, unsigned long long size_limit,
                          smtpproto_mail_params_t *out, const char **reply);
/* RCPT takes no parameters yet (no DSN): -1 with *reply for any. */
int smtpproto_rcpt_params(const smtpproto_command_t *cmd, const char **reply);

/* ---- DATA ---- */

enum smtpproto_bare_lf {
    SMTPPROTO_BARE_LF_REJECT,    /* remember it; the message is refused at its end */
    SMTPPROTO_BARE_LF_NORMALISE, /* store it as CRLF */
};

/* What went wrong in a message; the reader keeps going so the client is answered only
 * after its final dot, as RFC 5321 requires. */
enum {
    SMTPPROTO_DATA_TOO_BIG = 1 << 0,         /* over size_limit: the rest was discarded */
    SMTPPROTO_DATA_HEADER_TOO_BIG = 1 << 1,  /* header section over header_limit */
    SMTPPROTO_DATA_BARE_LF = 1 << 2,         /* a line ended in LF without CR */
    SMTPPROTO_DATA_LONG_LINE = 1 << 3,       /* a line over 1000 octets (reported only) */
};

typedef struct {
    size_t size_limit;    /* message bytes kept, after un-stuffing, CRLF form */
    size_t header_limit;  /* header section, up to the first empty line */
    enum smtpproto_bare_lf bare_lf;
} smtpproto_data_opts_t;

typedef struct smtpproto_data smtpproto_data_t;

smtpproto_data_t *smtpproto_data_new(const smtpproto_data_opts_t *opts);
void smtpproto_data_free(smtpproto_data_t *d);   /* NULL is fine */
/* Feeds raw bytes as they arrive. Returns how many were consumed: all of them until the
 * final <CRLF>.<CRLF>, then only up to its LF, so pipelined commands after it stay with
 * the caller. Feeding after the end consumes nothing. */
size_t smtpproto_data_feed(smtpproto_data_t *d, const char *buf, size_t len);
int smtpproto_data_done(const smtpproto_data_t *d);
unsigned smtpproto_data_flags(const smtpproto_data_t *d);
/* The message in CRLF form (no final dot), valid until smtpproto_data_free. */
const char *smtpproto_data_message(const smtpproto_data_t *d, size_t *len);
/* Total message size seen, including what was discarded past the limit. */
unsigned long long smtpproto_data_seen(const smtpproto_data_t *d);
/* BDAT (RFC 3030 CHUNKING): a reader with the same limits and refusals, fed the bytes of
 * each chunk as they are (no dot-stuffing, no end marker; a bare LF is stored as CRLF
 * and flagged like DATA's). feed_chunk consumes at most *remaining bytes and lowers it;
 * finish marks the message complete after the LAST chunk. */
smtpproto_data_t *smtpproto_data_new_chunked(const smtpproto_data_opts_t *opts);
size_t smtpproto_data_feed_chunk(smtpproto_data_t *d, const char *buf, size_t len,
                                 unsigned long long *remaining);
void smtpproto_data_finish(smtpproto_data_t *d);
int smtpproto_data_is_chunked(const smtpproto_data_t *d);
/* The reply refusing the finished message (size, header size, bare LF under REJECT), or
 * NULL when it may be accepted. */
const char *smtpproto_data_refusal(const smtpproto_data_t *d);

#endif
