/* auth_pool: the connection pool behind auth_pool.h — a mutex-guarded stack of idle
 * connections (the most recently used is reused first, so idle ones age out on the
 * server side rather than all staying half-warm), opened on demand with ldapconn. */
#include "auth_pool.h"
#include "control/control.h"
#include "ldapconn/ldapconn.h"
#include "log/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct auth_pool {
    pthread_mutex_t lock;
    char *uri, *bind_dn, *password;
    int timeout_ms;
    LDAP **idle;
    size_t nidle, cap;
    long open;                 /* idle + taken */
    char connects_metric[96], open_metric[96];
};

auth_pool_t *auth_pool_new(const char *name, const char *uri, const char *bind_dn,
                           const char *password, int timeout_ms)
{
    auth_pool_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    p->uri = strdup(uri);
    p->bind_dn = bind_dn && *bind_dn ? strdup(bind_dn) : NULL;
    p->password = p->bind_dn && password ? strdup(password) : NULL;
    p->timeout_ms = timeout_ms;
    snprintf(p->connects_metric, sizeof(p->connects_metric),
             "auth_ldap_connects_total{pool=\"%s\"}", name);
    snprintf(p->open_metric, sizeof(p->open_metric), "auth_ldap_connections{pool=\"%s\"}",
             name);
    metrics_add(p->connects_metric, 0);
    metrics_set(p->open_metric, 0);
    return p;
}

void auth_pool_free(auth_pool_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nidle; i++)
        ldap_unbind_ext_s(p->idle[i], NULL, NULL);
    free(p->idle);
    free(p->uri);
    free(p->bind_dn);
    if (p->password) {
        explicit_bzero(p->password, strlen(p->password));
        free(p->password);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

LDAP *auth_pool_get(auth_pool_t *p, int *rc)
{
    pthread_mutex_lock(&p->lock);
    LDAP *ld = p->nidle ? p->idle[--p->nidle] : NULL;
    pthread_mutex_unlock(&p->lock);
    if (ld) {
        *rc = LDAP_SUCCESS;
        return ld;
    }
    char err[256];
    ld = ldapconn_open(p->uri, p->bind_dn, p->password, p->timeout_ms, rc, err, sizeof(err));
    metrics_add(p->connects_metric, 1);
    if (!ld) {
        log_emit(LOG_WARN, "auth.ldap_connect_failed", "uri", p->uri, "error", err, NULL);
        return NULL;
    }
    pthread_mutex_lock(&p->lock);
    metrics_set(p->open_metric, (double)++p->open);
    pthread_mutex_unlock(&p->lock);
    return ld;
}

void auth_pool_put(auth_pool_t *p, LDAP *ld, int broken)
{
    pthread_mutex_lock(&p->lock);
    if (!broken && p->nidle == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        LDAP **idle = realloc(p->idle, cap * sizeof(*idle));
        if (idle) {
            p->idle = idle;
            p->cap = cap;
        }
    }
    if (!broken && p->nidle < p->cap) {
        p->idle[p->nidle++] = ld;
        ld = NULL;
    } else {
        metrics_set(p->open_metric, (double)--p->open);
    }
    pthread_mutex_unlock(&p->lock);
    if (ld)
        ldap_unbind_ext_s(ld, NULL, NULL);
}
