/* log: one JSON object per line on stdout (time, level, service, event, then fields).
 * Callers pass key/value string pairs ending in NULL; values are escaped by Jansson, so a
 * client's bytes can never break the line. Never pass a secret as a value. */
#ifndef MAILSTACK_LOG_H
#define MAILSTACK_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the service name and reads MAILSTACK_LOG_LEVEL (debug|info|warn|error). */
void log_init(const char *service);
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);

/* log_emit(LOG_INFO, "smtp.accepted", "session", sid, "from", sender, NULL); a NULL value
 * is written as JSON null. Thread-safe: one write(2) per line. */
void log_emit(enum log_level level, const char *event, ...) __attribute__((sentinel));

/* Like log_emit with a printf-formatted "msg" field first. */
void log_msg(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
