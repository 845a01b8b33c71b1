/* log: JSON-lines logger behind log.h. Each line is built whole and written with one
 * write(2), so lines from worker threads never interleave. */
#include "log/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_service = "mailstack";
static enum log_level log_min = LOG_INFO;
static const char *const log_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service)
{
    log_service = service;
    const char *lvl = getenv("MAILSTACK_LOG_LEVEL");
    if (lvl) {
        for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
            if (strcasecmp(lvl, log_names[i]) == 0)
                log_min = (enum log_level)i;
    }
}

void log_set_level(enum log_level level)
{
    log_min = level;
}

int log_enabled(enum log_level level)
{
    return level >= log_min;
}

static void log_write(enum log_level level, const char *event, json_t *fields)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    json_t *line = json_object();
    json_object_set_new(line, "time", json_string(ts));
    json_object_set_new(line, "level", json_string(log_names[level]));
    json_object_set_new(line, "service", json_string(log_service));
    json_object_set_new(line, "event", json_string(event));
    json_object_update_missing(line, fields);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (!text)
        return;
    size_t len = strlen(text);
    char *buf = malloc(len + 2);
    if (buf) {
        memcpy(buf, text, len);
        buf[len] = '\n';
        ssize_t off = 0;
        while ((size_t)off < len + 1) {
            ssize_t w = write(STDOUT_FILENO, buf + off, len + 1 - (size_t)off);
            if (w <= 0)
                break;
            off += w;
        }
        free(buf);
    }
    free(text);
}

/* A client's bytes may be any octets: keep valid UTF-8, replace the rest with '?' so the
 * line stays valid JSON and the log still shows what was sent. */
static json_t *log_value(const char *v)
{
    if (!v)
        return json_null();
    json_t *s = json_string(v);
    if (s)
        return s;
    size_t len = strlen(v);
    char *copy = malloc(len + 1);
    if (!copy)
        return json_null();
    for (size_t i = 0; i < len; i++)
        copy[i] = ((unsigned char)v[i] < 0x80) ? v[i] : '?';
    copy[len] = 0;
    s = json_string(copy);
    free(copy);
    return s ? s : json_null();
}

void log_emit(enum log_level level, const char *event, ...)
{
    if (!log_enabled(level))
        return;
    json_t *fields = json_object();
    va_list ap;
    va_start(ap, event);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        json_object_set_new(fields, k, log_value(v));
    }
    va_end(ap);
    log_write(level, event, fields);
    json_decref(fields);
}

void log_msg(enum log_level level, const char *event, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_t *fields = json_object();
    json_object_set_new(fields, "msg", log_value(buf));
    log_write(level, event, fields);
    json_decref(fields);
}
