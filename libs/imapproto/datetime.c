/* datetime: IMAP date-time text (INTERNALDATE), always in English whatever the locale. */
#include "imapproto/imapproto.h"

#include <stdio.h>
#include <stdlib.h>

void imapproto_datetime(time_t t, int utc_offset_min, char out[IMAPPROTO_DATETIME_SIZE])
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (utc_offset_min <= -24 * 60 || utc_offset_min >= 24 * 60)
        utc_offset_min = 0;
    time_t local = t + (time_t)utc_offset_min * 60;
    struct tm tm;
    gmtime_r(&local, &tm);
    int off = abs(utc_offset_min);
    /* The year is clamped to four digits so the text always has its fixed width. */
    int year = tm.tm_year + 1900;
    if (year < 0)
        year = 0;
    if (year > 9999)
        year = 9999;
    snprintf(out, IMAPPROTO_DATETIME_SIZE, "\"%02d-%s-%04d %02d:%02d:%02d %c%02d%02d\"",
             tm.tm_mday, months[tm.tm_mon], year, tm.tm_hour, tm.tm_min, tm.tm_sec,
             utc_offset_min < 0 ? '-' : '+', off / 60, off % 60);
}
