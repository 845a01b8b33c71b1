/* data: the DATA reader, a byte-at-a-time state machine so that chunk boundaries (a dot
 * or a CR at the end of one read, its LF in the next) never change the outcome.
 *
 * The message ends only at <CRLF>.<CRLF>, where the first CRLF is a real one. A line
 * start reached through a bare LF is "weak": a dot line there is content, so <LF>.<LF>,
 * <LF>.<CRLF> and <CR>.<CR> never end DATA. That is the SMTP smuggling defence — a
 * message cannot carry a second one past us to a server that ends DATA differently.
 * A leading dot is removed from any other line that starts with one (RFC 5321 4.5.2).
 * Past the size limit bytes are counted and dropped, so the client still gets its reply
 * after its final dot. */
#include "smtpproto/smtpproto.h"

#include <stdlib.h>
#include <string.h>

enum smtpproto_data_state {
    SMTPPROTO_ST_BOL,    /* at a line start */
    SMTPPROTO_ST_MID,    /* inside a line */
    SMTPPROTO_ST_CR,     /* a CR inside a line, not yet known to be CRLF */
    SMTPPROTO_ST_DOT,    /* a dot at a line start, not yet known to be stuffing */
    SMTPPROTO_ST_DOT_CR, /* ".\r" at a line start */
    SMTPPROTO_ST_DONE,
};

struct smtpproto_data {
    smtpproto_data_opts_t opts;
    int chunked;           /* BDAT: bytes taken as they are, the caller ends the message */
    int after_cr;          /* chunked: the last byte fed was a CR */
    enum smtpproto_data_state st;
    int bol_strong;        /* the current line start follows a real CRLF */
    int in_header;
    size_t header_bytes;
    size_t line_len;
    unsigned flags;
    unsigned long long seen;
    char *buf;
    size_t len, cap;
};

smtpproto_data_t *smtpproto_data_new(const smtpproto_data_opts_t *opts)
{
    smtpproto_data_t *d = calloc(1, sizeof(*d));
    if (!d)
        abort();
    d->opts = *opts;
    d->st = SMTPPROTO_ST_BOL;
    d->bol_strong = 1; /* the CRLF of the DATA command itself */
    d->in_header = 1;
    return d;
}

void smtpproto_data_free(smtpproto_data_t *d)
{
    if (!d)
        return;
    free(d->buf);
    free(d);
}

static void smtpproto_data_append(smtpproto_data_t *d, const char *p, size_t n)
{
    d->seen += n;
    if (d->flags & SMTPPROTO_DATA_TOO_BIG)
        return;
    if (d->len + n > d->opts.size_limit) {
        d->flags |= SMTPPROTO_DATA_TOO_BIG;
        return;
    }
    if (d->len + n > d->cap) {
        size_t cap = d->cap ? d->cap : 16384;
        while (cap < d->len + n)
            cap *= 2;
        if (cap > d->opts.size_limit)
            cap = d->opts.size_limit;
        char *b = realloc(d->buf, cap);
        if (!b)
            abort();
        d->buf = b;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, p, n);
    d->len += n;
}

static void smtpproto_data_header(smtpproto_data_t *d, size_t n)
{
    d->header_bytes += n;
    if (d->header_bytes > d->opts.header_limit)
        d->flags |= SMTPPROTO_DATA_HEADER_TOO_BIG;
}

static void smtpproto_data_content(smtpproto_data_t *d, const char *p, size_t n)
{
    d->line_len += n;
    if (d->line_len + 2 > SMTPPROTO_TEXT_LINE_MAX)
        d->flags |= SMTPPROTO_DATA_LONG_LINE;
    if (d->in_header)
        smtpproto_data_header(d, n);
    smtpproto_data_append(d, p, n);
}

/* A line ends; the stored form is always CRLF. */
static void smtpproto_data_eol(smtpproto_data_t *d, int bare_lf)
{
    if (bare_lf)
        d->flags |= SMTPPROTO_DATA_BARE_LF;
    if (d->in_header) {
        if (d->line_len == 0)
            d->in_header = 0;
        else
            smtpproto_data_header(d, 2);
    }
    d->line_len = 0;
    smtpproto_data_append(d, "\r\n", 2);
    d->st = SMTPPROTO_ST_BOL;
    d->bol_strong = !bare_lf;
}

size_t smtpproto_data_feed(smtpproto_data_t *d, const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len && d->st != SMTPPROTO_ST_DONE) {
        char c = buf[i];
        switch (d->st) {
        case SMTPPROTO_ST_MID: {
            size_t j = i;
            while (j < len && buf[j] != '\r' && buf[j] != '\n')
                j++;
            if (j > i) {
                smtpproto_data_content(d, buf + i, j - i);
                i = j;
            } else if (c == '\r') {
                d->st = SMTPPROTO_ST_CR;
                i++;
            } else {
                smtpproto_data_eol(d, 1);
                i++;
            }
            break;
        }
        case SMTPPROTO_ST_BOL:
            if (c == '.') {
                d->st = SMTPPROTO_ST_DOT;
                i++;
            } else {
                d->st = SMTPPROTO_ST_MID; /* c is read again there */
            }
            break;
        case SMTPPROTO_ST_CR:
            if (c == '\n') {
                smtpproto_data_eol(d, 0);
                i++;
            } else {
                /* A bare CR is content; a CR after it may still start a CRLF. */
                smtpproto_data_content(d, "\r", 1);
                if (c == '\r')
                    i++;
                else
                    d->st = SMTPPROTO_ST_MID;
            }
            break;
        case SMTPPROTO_ST_DOT:
            if (c == '\r') {
                d->st = SMTPPROTO_ST_DOT_CR;
                i++;
            } else if (c == '\n') {
                /* "." ended by a bare LF: a line holding a dot, never the end. */
                smtpproto_data_content(d, ".", 1);
                smtpproto_data_eol(d, 1);
                i++;
            } else {
                d->st = SMTPPROTO_ST_MID; /* the stuffed dot is dropped */
            }
            break;
        case SMTPPROTO_ST_DOT_CR:
            if (c == '\n') {
                i++;
                if (d->bol_strong) {
                    d->st = SMTPPROTO_ST_DONE;
                } else {
                    smtpproto_data_content(d, ".", 1);
                    smtpproto_data_eol(d, 0);
                }
            } else {
                /* ".\r" and more: the dot was stuffing, the CR starts the content. */
                d->st = SMTPPROTO_ST_CR;
            }
            break;
        case SMTPPROTO_ST_DONE:
            break;
        }
    }
    return i;
}

smtpproto_data_t *smtpproto_data_new_chunked(const smtpproto_data_opts_t *opts)
{
    smtpproto_data_t *d = smtpproto_data_new(opts);
    d->chunked = 1;
    return d;
}

/* BDAT content is not dot-stuffed and has no end marker, so only the line structure is
 * tracked here (header end, long lines, bare LF); a CR may end one chunk and its LF
 * start the next. */
size_t smtpproto_data_feed_chunk(smtpproto_data_t *d, const char *buf, size_t len,
                                 unsigned long long *remaining)
{
    size_t n = len < *remaining ? len : (size_t)*remaining;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c != '\n') {
            d->after_cr = c == '\r';
            if (c != '\r')
                d->line_len++;
            continue;
        }
        int bare = !d->after_cr;
        d->after_cr = 0;
        if (d->line_len + 2 > SMTPPROTO_TEXT_LINE_MAX)
            d->flags |= SMTPPROTO_DATA_LONG_LINE;
        if (d->in_header) {
            if (d->line_len == 0)
                d->in_header = 0;
            else
                smtpproto_data_header(d, d->line_len + 2);
        }
        d->line_len = 0;
        if (bare) {
            d->flags |= SMTPPROTO_DATA_BARE_LF;
            /* Stored messages are CRLF throughout, as with DATA's NORMALISE. */
            smtpproto_data_append(d, buf + start, i - start);
            smtpproto_data_append(d, "\r\n", 2);
            d->seen--; /* the inserted CR was not sent */
            start = i + 1;
        }
    }
    smtpproto_data_append(d, buf + start, n - start);
    if (d->in_header && d->line_len + d->header_bytes > d->opts.header_limit)
        d->flags |= SMTPPROTO_DATA_HEADER_TOO_BIG; /* an endless first line */
    *remaining -= n;
    return n;
}

void smtpproto_data_finish(smtpproto_data_t *d)
{
    if (d->line_len + 2 > SMTPPROTO_TEXT_LINE_MAX)
        d->flags |= SMTPPROTO_DATA_LONG_LINE;
    d->st = SMTPPROTO_ST_DONE;
}

int smtpproto_data_is_chunked(const smtpproto_data_t *d)
{
    return d->chunked;
}

int smtpproto_data_done(const smtpproto_data_t *d)
{
    return d->st == SMTPPROTO_ST_DONE;
}

unsigned smtpproto_data_flags(const smtpproto_data_t *d)
{
    return d->flags;
}

const char *smtpproto_data_message(const smtpproto_data_t *d, size_t *len)
{
    *len = d->len;
    return d->buf ? d->buf : "";
}

unsigned long long smtpproto_data_seen(const smtpproto_data_t *d)
{
    return d->seen;
}

const char *smtpproto_data_refusal(const smtpproto_data_t *d)
{
    if (d->flags & SMTPPROTO_DATA_TOO_BIG)
        return "552 5.3.4 Message size exceeds fixed limit";
    if (d->flags & SMTPPROTO_DATA_HEADER_TOO_BIG)
        return "552 5.3.4 Message header size exceeds limit";
    if ((d->flags & SMTPPROTO_DATA_BARE_LF) && d->opts.bare_lf == SMTPPROTO_BARE_LF_REJECT)
        return "550 5.6.2 Message refused: bare <LF> line ending; use <CR><LF>";
    return NULL;
}
