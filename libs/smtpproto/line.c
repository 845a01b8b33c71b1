/* line: splitting the command stream into lines under RFC 5321's length limit. An
 * over-long line is dropped as it arrives, never buffered whole, so a client cannot grow
 * a session's memory by withholding its LF; it is reported once, when it ends, so the
 * 500 reply lands in the right place among pipelined replies. */
#include "smtpproto/smtpproto.h"

#include <string.h>

void smtpproto_lines_init(smtpproto_lines_t *lines, size_t max)
{
    lines->max = max;
    lines->skipping = 0;
}

enum smtpproto_line smtpproto_lines_next(smtpproto_lines_t *lines, const char *buf,
                                         size_t len, size_t *linelen, size_t *consumed)
{
    *linelen = 0;
    const char *lf = memchr(buf, '\n', len);
    if (!lf) {
        if (lines->skipping || len >= lines->max) {
            lines->skipping = 1;
            *consumed = len;
        } else {
            *consumed = 0;
        }
        return SMTPPROTO_LINE_NONE;
    }
    size_t n = (size_t)(lf - buf);
    *consumed = n + 1;
    if (lines->skipping || n + 1 > lines->max) {
        lines->skipping = 0;
        return SMTPPROTO_LINE_TOO_LONG;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    *linelen = n;
    return SMTPPROTO_LINE_OK;
}
