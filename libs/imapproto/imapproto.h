/* imapproto: the IMAP4rev1 (RFC 3501) wire syntax, without I/O. A command parser that
 * works on a byte stream as it arrives (synchronizing and LITERAL+ literals, bounded line,
 * literal and nesting sizes, resynchronising after a malformed line), sequence sets,
 * FETCH attribute sections, INTERNALDATE formatting, and quoting strings for output. */
#ifndef MAILSTACK_IMAPPROTO_H
#define MAILSTACK_IMAPPROTO_H

#include "pool/pool.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- Commands --------------------------------------------------------------------- */

enum imapproto_arg_type {
    IMAPPROTO_ATOM,     /* also flags (\Seen), sequence sets, BODY[...]<..> fetch atts */
    IMAPPROTO_QUOTED,   /* "..." with the escapes removed */
    IMAPPROTO_LITERAL,  /* {n} / {n+}: exactly the n bytes sent, NUL bytes included */
    IMAPPROTO_NIL,      /* the atom NIL (str is "NIL": it is also a valid astring) */
    IMAPPROTO_LIST      /* ( ... ) */
};

typedef struct imapproto_arg {
    enum imapproto_arg_type type;
    char *str;                    /* not LIST: the bytes, NUL-terminated; len counts them */
    size_t len;
    struct imapproto_arg *items;  /* LIST: its elements */
    size_t count;
} imapproto_arg_t;

typedef struct {
    char *tag;
    char *name;                   /* upper-cased: "LOGIN", "UID", ... */
    imapproto_arg_t *args;
    size_t nargs;
} imapproto_command_t;

typedef struct {
    size_t max_line;      /* command text outside literals, all lines together */
    size_t max_literal;   /* one literal, and all literals of one command together */
    unsigned max_depth;   /* parenthesised list nesting */
} imapproto_limits_t;

enum imapproto_status {
    IMAPPROTO_MORE,       /* incomplete: call again once `need` bytes are buffered */
    IMAPPROTO_CONTINUE,   /* send "+ ..." now (once), then wait for `need` bytes */
    IMAPPROTO_COMMAND,    /* `command` is complete */
    IMAPPROTO_ERROR       /* answer BAD (or NO [TOOBIG]) with `error`; the session goes on */
};

enum imapproto_error {
    IMAPPROTO_ERR_SYNTAX,
    IMAPPROTO_ERR_TOOBIG  /* a line or literal over the limits */
};

typedef struct {
    enum imapproto_status status;
    /* Bytes the caller must drop from the front of its buffer, whatever the status:
     * the command, or the bad line (plus the LITERAL+ data it announced), or bytes the
     * parser is still discarding after an error. */
    size_t consumed;
    /* MORE/CONTINUE: bytes that must be buffered (after dropping `consumed`) before
     * calling again can make progress. */
    size_t need;
    imapproto_command_t *command;   /* COMMAND: allocated in the caller's pool */
    enum imapproto_error error_kind;
    const char *error;              /* ERROR: reason for the client, static text */
    const char *tag;                /* ERROR: the tag if it was readable, else NULL */
} imapproto_result_t;

typedef struct imapproto_parser imapproto_parser_t;

/* Limits of 0 take the defaults: 64 KiB of line, 20 MiB of literal, depth 16. */
imapproto_parser_t *imapproto_parser_new(const imapproto_limits_t *limits);
void imapproto_parser_free(imapproto_parser_t *p);
/* Forgets any partial command (e.g. after STARTTLS, when the buffer was emptied). */
void imapproto_parser_reset(imapproto_parser_t *p);

/* Parses the command at the front of buf[0..len). The command (and an ERROR's tag) is
 * allocated in `pool`; nothing points into buf afterwards. */
imapproto_result_t imapproto_parse(imapproto_parser_t *p, const unsigned char *buf,
                                   size_t len, pool_t *pool);

/* An astring argument (atom, quoted, literal or NIL-as-text): its bytes, or NULL when the
 * argument is a list. Fails too (NULL) if the value holds a NUL byte, which no IMAP
 * string we interpret may contain. */
const char *imapproto_arg_string(const imapproto_arg_t *arg);

/* ---- Sequence sets ---------------------------------------------------------------- */

/* "*" is stored as 0, which no message number or UID can be. */
typedef struct {
    uint32_t first, last;
} imapproto_seqrange_t;

typedef struct {
    imapproto_seqrange_t *ranges;
    size_t count;
} imapproto_seqset_t;

/* "1:*", "2,4:7,9", "*". Returns 0, or -1 for a malformed set (0, empty items, junk). */
int imapproto_seqset_parse(pool_t *pool, const char *text, imapproto_seqset_t *out);
/* Is n in the set, when "*" means `star` (the highest number in use)? A range is
 * unordered: 7:4 is 4:7. */
int imapproto_seqset_contains(const imapproto_seqset_t *set, uint32_t n, uint32_t star);

/* ---- FETCH attributes ------------------------------------------------------------- */

typedef struct {
    char *name;           /* upper-cased, without section: "BODY.PEEK", "RFC822.SIZE" */
    int has_section;      /* BODY[...] / BINARY[...] */
    char *part;           /* section part number "1.2", or "" */
    char *text;           /* upper-cased section text: "", "HEADER", "TEXT", "MIME",
                             "HEADER.FIELDS", "HEADER.FIELDS.NOT" */
    char **fields;        /* HEADER.FIELDS (...) names, as sent */
    size_t nfields;
    int has_partial;      /* <offset.length> */
    uint32_t offset, length;
} imapproto_fetch_att_t;

/* Splits an atom such as BODY.PEEK[HEADER.FIELDS (From To)]<0.100>. Returns 0, or -1
 * when the section or partial is malformed. */
int imapproto_fetch_att_parse(pool_t *pool, const char *atom, imapproto_fetch_att_t *out);

/* ---- Output ----------------------------------------------------------------------- */

/* "17-Jul-1996 02:44:25 -0700" with the double quotes: 28 bytes and a NUL. */
#define IMAPPROTO_DATETIME_SIZE 29
/* t shown in the zone `utc_offset_min` minutes east of UTC. */
void imapproto_datetime(time_t t, int utc_offset_min, char out[IMAPPROTO_DATETIME_SIZE]);

/* 1 when s cannot go out as a quoted string: CR, LF, NUL, '"', '\' or 8-bit bytes. */
int imapproto_needs_literal(const void *s, size_t len);
/* s as a quoted string, or as a literal "{n}\r\n" + bytes when it needs one; the result
 * lives in pool, *outlen is its length (a literal may hold NUL bytes). */
char *imapproto_string(pool_t *pool, const void *s, size_t len, size_t *outlen);

#endif
