/* sieve: the Sieve mail filtering language (RFC 5228) as a library. lmtp-store runs a
 * user's script per recipient at delivery and carries out the actions it returns;
 * ManageSieve validates uploaded scripts with the same parser (CHECKSCRIPT, PUTSCRIPT).
 *
 * Extensions: fileinto, reject and ereject (RFC 5429), envelope, copy (RFC 3894),
 * subaddress (RFC 5233), vacation (RFC 5230), imap4flags (RFC 5232), body (RFC 5173),
 * variables (RFC 5229), comparator-i;octet and comparator-i;ascii-casemap.
 *
 * Pure: no I/O, no clock, no database. The caller performs the actions, keeps the
 * vacation memory and sends mail. Every allocation comes from the caller's pool; a
 * script is immutable after parsing, so one parsed script may be run by several threads
 * at once, each with its own pool. Every run is bounded in time and memory by the
 * limits in struct sieve_config, whatever the script or the message. */
#ifndef MAILSTACK_SIEVE_H
#define MAILSTACK_SIEVE_H

#include "pool/pool.h"

#include <stddef.h>

/* Every field that is 0 (NULL for detail_delims) takes the default given beside it. */
struct sieve_config {
    size_t max_script_size;      /* octets (the seed's sieve_maxscriptsize: 100 KiB) */
    unsigned max_nesting;        /* blocks and tests inside one another (32) */
    unsigned max_actions;        /* actions one run may collect (32) */
    unsigned max_redirects;      /* redirect actions one run may collect (4) */
    unsigned max_variables;      /* distinct variables one run may set (128) */
    size_t max_variable_size;    /* octets of a variable's value; longer is cut (4000) */
    size_t max_string_size;      /* octets of a string after ${...} expansion (64 KiB) */
    unsigned long long max_steps; /* work units of a run: commands, tests, compared and
                                   * expanded octets (100,000,000); past it the run fails */
    const char *detail_delims;   /* RFC 5233 separators between user and detail ("+");
                                  * "" for none */
    unsigned vacation_days;      /* :days when the script gives none (7) */
    unsigned vacation_min_days;  /* :days below this are raised to it (1) */
    unsigned vacation_max_days;  /* :days above this are lowered to it (90) */
};

/* Fills cfg with the defaults given above. */
void sieve_config_default(struct sieve_config *cfg);

/* The extensions this library implements, space-separated, for ManageSieve's SIEVE
 * capability (RFC 5804 1.7). */
const char *sieve_extensions(void);

/* Where and why a script was refused, for humans (ManageSieve NO responses, logs). */
struct sieve_error {
    unsigned line, column;  /* 1-based; column counts characters, not octets */
    const char *message;    /* pool string without the position, e.g.
                             * "unknown command \"fileint\"" */
};

typedef struct sieve_script sieve_script_t;

/* Parses and checks a whole script (UTF-8): syntax, known commands, tests and tags,
 * argument types, extensions used without `require`, constant arguments that can never
 * be valid. cfg NULL means the defaults; it is copied into the script and governs its
 * runs too. Returns the script, or NULL with *err filled. */
sieve_script_t *sieve_parse(pool_t *pool, const char *text, size_t len,
                            const struct sieve_config *cfg, struct sieve_error *err);

/* The message a script looks at: the RFC 5322 text as stored (header, empty line,
 * body; CRLF or LF; 8-bit header octets allowed). Its length is what `size` tests. */
struct sieve_message {
    const char *data;
    size_t len;
};

struct sieve_envelope {
    const char *from;             /* MAIL FROM without brackets; "" for <> */
    const char *to;               /* the recipient this run is for, as given in RCPT TO
                                   * (with its +detail) */
    const char *const *addresses; /* the user's other addresses (aliases), which vacation
                                   * treats as the user's own like `to`; may be NULL */
    size_t naddresses;
};

/* A vacation auto-reply (RFC 5230) that passed every test that depends only on the
 * message. The caller still decides the "once per sender per period" part: it answers
 * only if it has not sent a reply with the same key within `days` days, and then
 * remembers the key. */
struct sieve_vacation {
    const char *to;        /* the reply's recipient: the envelope sender */
    const char *from;      /* the reply's From: address (a mailbox, maybe with a name) */
    const char *subject;   /* UTF-8, as in the reply (there RFC 2047-encoded if needed) */
    const char *handle;    /* :handle, or one derived from the reply's content */
    const char *key;       /* 64 hex digits naming (sender, handle): the memory's key */
    unsigned days;         /* the period, already within the configured bounds */
    const char *message;   /* the whole reply, RFC 5322 with CRLF, MIME, Auto-Submitted,
                            * In-Reply-To and References; the caller prepends Date: and
                            * Message-ID: and sends it with MAIL FROM:<> to `to` */
};

enum sieve_action_kind {
    SIEVE_KEEP,      /* file into the default mailbox (INBOX, or the +detail folder) */
    SIEVE_FILEINTO,  /* file into `mailbox` */
    SIEVE_REDIRECT,  /* send the message unchanged to `address` */
    SIEVE_REJECT,    /* refuse it with `reason`: LMTP 550 5.7.1, or a bounce if too late */
    SIEVE_DISCARD,   /* a discard left the message filed nowhere: for the log only */
    SIEVE_VACATION,  /* maybe send `vacation` (see struct sieve_vacation) */
};

struct sieve_action {
    enum sieve_action_kind kind;
    unsigned line;                 /* the script line that asked for it (0: implicit) */
    const char *mailbox;           /* FILEINTO: UTF-8 mailbox name, hierarchy as written */
    const char *const *flags;      /* KEEP, FILEINTO: IMAP flags to set (RFC 5232) */
    size_t nflags;
    const char *address;           /* REDIRECT: an RFC 5321 mailbox, no brackets */
    const char *reason;            /* REJECT: UTF-8 text, may span lines */
    int ereject;                   /* REJECT: from ereject, which must not bounce after
                                    * acceptance when a protocol refusal is possible */
    const struct sieve_vacation *vacation; /* VACATION */
};

/* What a run decided. The action list is complete: the implicit keep is resolved into
 * a KEEP, duplicates are merged (one FILEINTO per mailbox, one REDIRECT per address,
 * one KEEP). A KEEP and a FILEINTO naming the default mailbox both appear; the caller,
 * who knows its default mailbox, files such a message once. */
struct sieve_result {
    struct sieve_action *actions;
    size_t nactions;
    const char *error;          /* after a failed run: "line N: ..." */
    const char *const *notes;   /* things worth a log line that are not errors, e.g. a
                                 * vacation reply not sent to a mailing list */
    size_t nnotes;
};

/* Runs script on msg for the recipient in env. Returns 0, or -1 after a runtime error
 * (conflicting actions such as reject with fileinto, too many actions or redirects, the
 * work limit, an invalid mailbox or address computed at run time): then out->error
 * says why and out->actions is the single implicit KEEP, as RFC 5228 2.10.6 asks - no
 * action of the failed run is carried out, and the message is never lost. */
int sieve_run(const sieve_script_t *script, const struct sieve_message *msg,
              const struct sieve_envelope *env, pool_t *pool, struct sieve_result *out);

#endif
