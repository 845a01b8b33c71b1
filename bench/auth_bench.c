/* auth_bench: authentications per second and latency of auth-service (POST /v1/auth)
 * next to two baselines on the same slapd, at the same concurrency, in the same run:
 * raw simple binds on persistent connections (slapd's own bind rate), and
 * ldapwhoami-equivalents (connect, bind, Who am I?, unbind: what one check costs a client
 * without a pool). Each client is a thread with its own connection: an LDAP handle, or a
 * libcurl handle doing keep-alive POSTs with the shared secret, each thread as a client
 * IP of its own. Every concurrency level runs rounds of (bind, whoami, auth) so drift on a
 * shared machine shows in all three; an answer other than 200 / LDAP_SUCCESS counts as a
 * failure.
 *
 * usage: auth_bench --ldap-uri URI --dn DN --user NAME --auth-url URL
 *                   [--concurrency 1,8,32] [--seconds 3] [--rounds 3] [--label TEXT]
 * The password and the secret come from the environment (BENCH_PASSWORD,
 * MAILSTACK_AUTH_SECRET), never argv. Prints a table, then one JSON summary line. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <ldap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LEVELS 8
#define MAX_ROUNDS 20

enum { MODE_RAW, MODE_WHOAMI, MODE_AUTH, MODES };
static const char *const mode_names[MODES] = {"raw_bind", "whoami", "auth"};

struct opts {
    const char *ldap_uri, *dn, *user, *auth_url, *label, *password, *secret;
    int levels[MAX_LEVELS], nlevels;
    double seconds;
    int rounds;
};

struct sample_buf {
    double *v;
    size_t n, cap;
};

struct client {
    const struct opts *o;
    int mode; /* MODE_* */
    int id;
    double deadline;
    long ok, failed;
    struct sample_buf lat;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void push(struct sample_buf *b, double v)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4096;
        b->v = realloc(b->v, b->cap * sizeof(*b->v));
        if (!b->v) {
            perror("realloc");
            exit(2);
        }
    }
    b->v[b->n++] = v;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static void *raw_client(struct client *c)
{
    LDAP *ld = NULL;
    if (ldap_initialize(&ld, c->o->ldap_uri) != LDAP_SUCCESS) {
        c->failed++;
        return NULL;
    }
    int v3 = LDAP_VERSION3;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
    struct berval cred = {strlen(c->o->password), (char *)c->o->password};
    while (now_s() < c->deadline) {
        double t0 = now_s();
        int rc = ldap_sasl_bind_s(ld, c->o->dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
        push(&c->lat, now_s() - t0);
        if (rc == LDAP_SUCCESS)
            c->ok++;
        else
            c->failed++;
    }
    ldap_unbind_ext_s(ld, NULL, NULL);
    return NULL;
}

/* What `ldapwhoami -x -D dn` does against slapd, minus the process start: connect,
 * bind, Who am I?, unbind, every time. */
static void *whoami_client(struct client *c)
{
    struct berval cred = {strlen(c->o->password), (char *)c->o->password};
    int v3 = LDAP_VERSION3;
    while (now_s() < c->deadline) {
        double t0 = now_s();
        LDAP *ld = NULL;
        int rc = ldap_initialize(&ld, c->o->ldap_uri);
        if (rc == LDAP_SUCCESS) {
            ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
            rc = ldap_sasl_bind_s(ld, c->o->dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
        }
        struct berval *authzid = NULL;
        if (rc == LDAP_SUCCESS)
            rc = ldap_whoami_s(ld, &authzid, NULL, NULL);
        ber_bvfree(authzid);
        if (ld)
            ldap_unbind_ext_s(ld, NULL, NULL);
        push(&c->lat, now_s() - t0);
        if (rc == LDAP_SUCCESS)
            c->ok++;
        else
            c->failed++;
    }
    return NULL;
}

static void *auth_client(struct client *c)
{
    CURL *h = curl_easy_init();
    char body[512], auth_header[512], url[512];
    /* A distinct client address per thread, as distinct IMAP clients would have. */
    snprintf(body, sizeof(body),
             "{\"username\":\"%s\",\"password\":\"%s\",\"service\":\"bench\","
             "\"remote_ip\":\"10.99.%d.%d\"}",
             c->o->user, c->o->password, c->id / 250, c->id % 250 + 1);
    snprintf(auth_header, sizeof(auth_header), "Authorization: Bearer %s", c->o->secret);
    snprintf(url, sizeof(url), "%s/v1/auth", c->o->auth_url);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, auth_header);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    while (now_s() < c->deadline) {
        double t0 = now_s();
        long status = 0;
        CURLcode rc = curl_easy_perform(h);
        push(&c->lat, now_s() - t0);
        if (rc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200)
            c->ok++;
        else
            c->failed++;
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return NULL;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    return c->mode == MODE_AUTH ? auth_client(c) : c->mode == MODE_WHOAMI ? whoami_client(c)
                                                                       : raw_client(c);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct phase {
    double rate;
    long ok, failed;
};

/* One phase: n clients for o->seconds; latencies appended to all. */
static struct phase run_phase(const struct opts *o, int mode, int n, struct sample_buf *all)
{
    struct client *cs = calloc((size_t)n, sizeof(*cs));
    pthread_t *th = calloc((size_t)n, sizeof(*th));
    double start = now_s();
    for (int i = 0; i < n; i++) {
        cs[i] = (struct client){.o = o, .mode = mode, .id = i, .deadline = start + o->seconds};
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    }
    struct phase p = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        p.ok += cs[i].ok;
        p.failed += cs[i].failed;
        for (size_t k = 0; k < cs[i].lat.n; k++)
            push(all, cs[i].lat.v[k]);
        free(cs[i].lat.v);
    }
    p.rate = (double)p.ok / (now_s() - start);
    free(cs);
    free(th);
    return p;
}

static double percentile(struct sample_buf *b, double q)
{
    if (!b->n)
        return 0;
    qsort(b->v, b->n, sizeof(*b->v), cmp_double);
    size_t i = (size_t)(q * (double)(b->n - 1) + 0.5);
    return b->v[i];
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(void)
{
    fprintf(stderr, "usage: auth_bench --ldap-uri URI --dn DN --user NAME --auth-url URL "
                    "[--concurrency 1,8,32] [--seconds 3] [--rounds 3] [--label TEXT]\n"
                    "  (BENCH_PASSWORD and MAILSTACK_AUTH_SECRET in the environment)\n");
    exit(2);
}

static void parse_levels(struct opts *o, const char *list)
{
    char *copy = strdup(list), *save = NULL;
    o->nlevels = 0;
    for (char *t = strtok_r(copy, ",", &save); t && o->nlevels < MAX_LEVELS;
         t = strtok_r(NULL, ",", &save)) {
        int v = atoi(t);
        if (v < 1 || v > 1000)
            usage();
        o->levels[o->nlevels++] = v;
    }
    free(copy);
    if (!o->nlevels)
        usage();
}

int main(int argc, char **argv)
{
    struct opts o = {.seconds = 3, .rounds = 3, .label = ""};
    parse_levels(&o, "1,8,32");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--ldap-uri"))
            o.ldap_uri = v;
        else if (!strcmp(a, "--dn"))
            o.dn = v;
        else if (!strcmp(a, "--user"))
            o.user = v;
        else if (!strcmp(a, "--auth-url"))
            o.auth_url = v;
        else if (!strcmp(a, "--concurrency"))
            parse_levels(&o, v);
        else if (!strcmp(a, "--seconds"))
            o.seconds = atof(v);
        else if (!strcmp(a, "--rounds"))
            o.rounds = atoi(v);
        else if (!strcmp(a, "--label"))
            o.label = v;
        else
            usage();
        i++;
    }
    o.password = getenv("BENCH_PASSWORD");
    o.secret = getenv("MAILSTACK_AUTH_SECRET");
    if (!o.ldap_uri || !o.dn || !o.user || !o.auth_url || !o.password || !o.secret ||
        o.seconds <= 0 || o.rounds < 1 || o.rounds > MAX_ROUNDS)
        usage();
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* Warm-up: every path once at the highest level, not reported. */
    struct opts warm = o;
    warm.seconds = 1;
    struct sample_buf scratch = {0};
    for (int m = 0; m < MODES; m++)
        run_phase(&warm, m, o.levels[o.nlevels - 1], &scratch);
    free(scratch.v);

    printf("%-5s %-5s %10s %10s %10s %9s %9s %9s %9s %9s %7s\n", "conc", "round", "bind/s",
           "whoami/s", "auth/s", "auth/bind", "auth/whoa", "bind p99", "whoa p99", "auth p99",
           "failed");
    char json[4096];
    size_t jl = (size_t)snprintf(json, sizeof(json), "{\"summary\":{\"label\":\"%s\",\"levels\":[",
                                 o.label);
    int any_failed = 0;
    for (int l = 0; l < o.nlevels; l++) {
        int n = o.levels[l];
        struct sample_buf lat[MODES] = {{0}};
        double rates[MODES][MAX_ROUNDS];
        long failed = 0;
        for (int r = 0; r < o.rounds; r++) {
            double p99[MODES];
            long round_failed = 0;
            for (int m = 0; m < MODES; m++) {
                struct sample_buf one = {0};
                struct phase p = run_phase(&o, m, n, &one);
                rates[m][r] = p.rate;
                round_failed += p.failed;
                p99[m] = percentile(&one, 0.99);
                for (size_t k = 0; k < one.n; k++)
                    push(&lat[m], one.v[k]);
                free(one.v);
            }
            failed += round_failed;
            printf("%-5d %-5d %10.0f %10.0f %10.0f %9.2f %9.2f %7.2fms %7.2fms %7.2fms %7ld\n", n,
                   r + 1, rates[MODE_RAW][r], rates[MODE_WHOAMI][r], rates[MODE_AUTH][r],
                   rates[MODE_AUTH][r] / rates[MODE_RAW][r],
                   rates[MODE_AUTH][r] / rates[MODE_WHOAMI][r], p99[MODE_RAW] * 1e3,
                   p99[MODE_WHOAMI] * 1e3, p99[MODE_AUTH] * 1e3, round_failed);
        }
        double med[MODES], p50[MODES], p99[MODES];
        for (int m = 0; m < MODES; m++) {
            med[m] = median(rates[m], o.rounds);
            p50[m] = percentile(&lat[m], 0.5);
            p99[m] = percentile(&lat[m], 0.99);
            free(lat[m].v);
        }
        printf("%-5d %-5s %10.0f %10.0f %10.0f %9.2f %9.2f %7.2fms %7.2fms %7.2fms %7ld"
               "   (median rate of the rounds; p50 %.2f / %.2f / %.2f ms)\n",
               n, "all", med[MODE_RAW], med[MODE_WHOAMI], med[MODE_AUTH],
               med[MODE_AUTH] / med[MODE_RAW], med[MODE_AUTH] / med[MODE_WHOAMI],
               p99[MODE_RAW] * 1e3, p99[MODE_WHOAMI] * 1e3, p99[MODE_AUTH] * 1e3, failed,
               p50[MODE_RAW] * 1e3, p50[MODE_WHOAMI] * 1e3, p50[MODE_AUTH] * 1e3);
        jl += (size_t)snprintf(json + jl, sizeof(json) - jl, "%s{\"concurrency\":%d", l ? "," : "", n);
        for (int m = 0; m < MODES; m++)
            jl += (size_t)snprintf(json + jl, sizeof(json) - jl,
                                   ",\"%s_per_s\":%.0f,\"%s_p99_ms\":%.2f", mode_names[m], med[m],
                                   mode_names[m], p99[m] * 1e3);
        jl += (size_t)snprintf(json + jl, sizeof(json) - jl,
                               ",\"auth_vs_bind\":%.3f,\"auth_vs_whoami\":%.3f,\"failed\":%ld}",
                               med[MODE_AUTH] / med[MODE_RAW], med[MODE_AUTH] / med[MODE_WHOAMI],
                               failed);
        any_failed |= failed > 0;
    }
    snprintf(json + jl, sizeof(json) - jl, "]}}");
    printf("%s\n", json);
    curl_global_cleanup();
    return any_failed ? 1 : 0;
}
