/* jsonhttp: blocking JSON calls behind jsonhttp.h. One curl easy handle per call keeps it
 * thread-safe without sharing; curl_global_init runs once before the first call. */
#include "jsonhttp/jsonhttp.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define JSONHTTP_MAX_BODY (4L * 1024 * 1024)

struct jsonhttp_buf {
    char *data;
    size_t len;
    int overflow;
};

static pthread_once_t jsonhttp_once = PTHREAD_ONCE_INIT;

static void jsonhttp_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t jsonhttp_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct jsonhttp_buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > (size_t)JSONHTTP_MAX_BODY) {
        b->overflow = 1;
        return 0;
    }
    char *d = realloc(b->data, b->len + n + 1);
    if (!d)
        return 0;
    memcpy(d + b->len, ptr, n);
    b->len += n;
    d[b->len] = 0;
    b->data = d;
    return n;
}

static int jsonhttp_call(const char *url, const char *post, const char *const *extra,
                         long timeout_ms, jsonhttp_result_t *out)
{
    pthread_once(&jsonhttp_once, jsonhttp_global_init);
    memset(out, 0, sizeof(*out));
    CURL *h = curl_easy_init();
    if (!h) {
        strcpy(out->error, "curl init failed");
        return -1;
    }
    struct jsonhttp_buf buf = {0};
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    if (post)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    for (; extra && *extra; extra++)
        headers = curl_slist_append(headers, *extra);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, jsonhttp_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (post)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
    CURLcode rc = curl_easy_perform(h);
    int ret = 0;
    if (rc != CURLE_OK) {
        snprintf(out->error, sizeof(out->error), "%s", buf.overflow ? "response too large"
                                                                    : curl_easy_strerror(rc));
        ret = -1;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
        if (buf.len)
            out->body = json_loadb(buf.data, buf.len, 0, NULL);
    }
    free(buf.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return ret;
}

int jsonhttp_get(const char *url, long timeout_ms, jsonhttp_result_t *out)
{
    return jsonhttp_call(url, NULL, NULL, timeout_ms, out);
}

int jsonhttp_post(const char *url, json_t *body, long timeout_ms, jsonhttp_result_t *out)
{
    return jsonhttp_post_headers(url, body, NULL, timeout_ms, out);
}

int jsonhttp_post_headers(const char *url, json_t *body, const char *const *headers,
                          long timeout_ms, jsonhttp_result_t *out)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) {
        memset(out, 0, sizeof(*out));
        strcpy(out->error, "request not serialisable");
        return -1;
    }
    int rc = jsonhttp_call(url, text, headers, timeout_ms, out);
    explicit_bzero(text, strlen(text)); /* it may hold a password */
    free(text);
    return rc;
}

void jsonhttp_result_free(jsonhttp_result_t *r)
{
    if (r->body)
        json_decref(r->body);
    r->body = NULL;
}

char *jsonhttp_escape(const char *s)
{
    pthread_once(&jsonhttp_once, jsonhttp_global_init);
    char *e = curl_easy_escape(NULL, s, 0);
    if (!e)
        return NULL;
    char *copy = strdup(e);
    curl_free(e);
    return copy;
}
