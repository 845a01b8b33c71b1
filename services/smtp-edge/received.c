/* received: builds the trace header. A HELO name is whatever the client typed, so it is
 * cut to 255 octets and anything outside printable ASCII, or that would end a comment
 * early, becomes '?'; addresses are shown in RFC 5321 literal form. */
#include "received.h"

#include <stdio.h>
#include <string.h>

static char *received_clean(pool_t *pool, const char *s)
{
    size_t n = strlen(s);
    if (n > 255)
        n = 255;
    char *c = pool_strndup(pool, s, n);
    for (char *p = c; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("()\\;<>\"", *p))
            *p = '?';
    return c;
}

/* UTF-8 recipients are allowed in the header of an SMTPUTF8 message, but a trace line
 * gains nothing from them: keep the mailbox only when it is plain ASCII. */
static int received_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

const char *received_protocol(int esmtp, int tls, int smtputf8)
{
    if (smtputf8)
        return tls ? "UTF8SMTPS" : "UTF8SMTP";
    if (!esmtp)
        return "SMTP"; /* STARTTLS needs EHLO, so HELO sessions are never TLS */
    return tls ? "ESMTPS" : "ESMTP";
}

char *received_header(pool_t *pool, const struct received_info *r)
{
    char date[64];
    struct tm tm;
    gmtime_r(&r->when, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    const char *literal = strchr(r->peer, ':') ? pool_printf(pool, "[IPv6:%s]", r->peer)
                          : strcmp(r->peer, "unix") == 0 ? "unix"
                                                          : pool_printf(pool, "[%s]", r->peer);
    const char *helo = r->helo && *r->helo ? received_clean(pool, r->helo) : "unknown";
    const char *rcpt = r->rcpt && received_ascii(r->rcpt) && !strpbrk(r->rcpt, "<>")
                           ? pool_printf(pool, "\r\n\tfor <%s>", r->rcpt)
                           : "";
    return pool_printf(pool,
                       "Received: from %s (%s)\r\n\tby %s (mailstack) with %s id %s%s;\r\n"
                       "\t%s\r\n",
                       helo, literal, r->hostname, r->protocol, r->id, rcpt, date);
}
