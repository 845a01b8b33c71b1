/* jsonhttp: the JSON-over-HTTP client services use to call each other (libcurl + Jansson).
 * Blocking with a hard timeout: call it from a workq worker, never from the loop thread. */
#ifndef MAILSTACK_JSONHTTP_H
#define MAILSTACK_JSONHTTP_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    long status;      /* HTTP status, 0 when no answer came */
    json_t *body;     /* parsed JSON body or NULL (not JSON / empty) */
    char error[256];  /* transport error text when status == 0 */
} jsonhttp_result_t;

/* Return 0 when an HTTP answer arrived (any status), -1 on a transport failure (refused,
 * timeout, DNS): the service is unreachable, which callers treat as a temporary failure. */
int jsonhttp_get(const char *url, long timeout_ms, jsonhttp_result_t *out);
int jsonhttp_post(const char *url, json_t *body, long timeout_ms, jsonhttp_result_t *out);
/* The same with extra request headers: a NULL-terminated list of "Name: value" lines
 * (e.g. "Authorization: Bearer ..."); NULL for none. */
int jsonhttp_post_headers(const char *url, json_t *body, const char *const *headers,
                          long timeout_ms, jsonhttp_result_t *out);
void jsonhttp_result_free(jsonhttp_result_t *r);

/* URL-encodes s for a query string; malloc'ed, caller frees. */
char *jsonhttp_escape(const char *s);

#endif
