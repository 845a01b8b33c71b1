/* metrics: the process-wide registry behind control.h's metrics_* calls. A small sorted
 * array is enough: a service has tens of series, and /metrics renders them in order. */
#include "control/control.h"
#include "control/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct metric {
    char *name;
    double value;
};

struct family {
    char *name, *type, *help;
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *metrics;
static size_t metrics_n, metrics_cap;
static struct family *families;
static size_t families_n;

static struct metric *metrics_find(const char *name, int create)
{
    for (size_t i = 0; i < metrics_n; i++)
        if (strcmp(metrics[i].name, name) == 0)
            return &metrics[i];
    if (!create)
        return NULL;
    if (metrics_n == metrics_cap) {
        size_t cap = metrics_cap ? metrics_cap * 2 : 32;
        struct metric *m = realloc(metrics, cap * sizeof(*m));
        if (!m)
            return NULL;
        metrics = m;
        metrics_cap = cap;
    }
    metrics[metrics_n].name = strdup(name);
    metrics[metrics_n].value = 0;
    return &metrics[metrics_n++];
}

void metrics_add(const char *name, double delta)
{
    pthread_mutex_lock(&metrics_lock);
    struct metric *m = metrics_find(name, 1);
    if (m)
        m->value += delta;
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_set(const char *name, double value)
{
    pthread_mutex_lock(&metrics_lock);
    struct metric *m = metrics_find(name, 1);
    if (m)
        m->value = value;
    pthread_mutex_unlock(&metrics_lock);
}

double metrics_get(const char *name)
{
    pthread_mutex_lock(&metrics_lock);
    struct metric *m = metrics_find(name, 0);
    double v = m ? m->value : 0;
    pthread_mutex_unlock(&metrics_lock);
    return v;
}

void metrics_describe(const char *family, const char *type, const char *help)
{
    pthread_mutex_lock(&metrics_lock);
    for (size_t i = 0; i < families_n; i++)
        if (strcmp(families[i].name, family) == 0) {
            pthread_mutex_unlock(&metrics_lock);
            return;
        }
    struct family *f = realloc(families, (families_n + 1) * sizeof(*f));
    if (f) {
        families = f;
        families[families_n].name = strdup(family);
        families[families_n].type = strdup(type);
        families[families_n].help = strdup(help);
        families_n++;
    }
    pthread_mutex_unlock(&metrics_lock);
}

static size_t metrics_family_len(const char *name)
{
    const char *brace = strchr(name, '{');
    return brace ? (size_t)(brace - name) : strlen(name);
}

static int metrics_cmp(const void *a, const void *b)
{
    return strcmp(((const struct metric *)a)->name, ((const struct metric *)b)->name);
}

void metrics_render(struct evbuffer *out)
{
    pthread_mutex_lock(&metrics_lock);
    if (metrics_n) /* qsort(NULL, 0, ...) is undefined behaviour */
        qsort(metrics, metrics_n, sizeof(*metrics), metrics_cmp);
    const char *last = NULL;
    size_t last_len = 0;
    for (size_t i = 0; i < metrics_n; i++) {
        const char *name = metrics[i].name;
        size_t flen = metrics_family_len(name);
        if (!last || flen != last_len || strncmp(name, last, flen) != 0) {
            for (size_t f = 0; f < families_n; f++)
                if (strlen(families[f].name) == flen && strncmp(families[f].name, name, flen) == 0)
                    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", families[f].name,
                                        families[f].help, families[f].name, families[f].type);
            last = name;
            last_len = flen;
        }
        evbuffer_add_printf(out, "%s %.17g\n", name, metrics[i].value);
    }
    pthread_mutex_unlock(&metrics_lock);
}
