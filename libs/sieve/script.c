/* script: the entry of sieve_parse (size limit, then syntax, then checks), the default
 * configuration, the capability string, and the small error and UTF-8 helpers the
 * other files share. */
#include "sieve/sieve_int.h"

#include <glib.h>
#include <string.h>

void sieve_config_default(struct sieve_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_script_size = 100 * 1024;
    cfg->max_nesting = 32;
    cfg->max_actions = 32;
    cfg->max_redirects = 4;
    cfg->max_variables = 128;
    cfg->max_variable_size = 4000;
    cfg->max_string_size = 64 * 1024;
    cfg->max_steps = 100000000ULL;
    cfg->detail_delims = "+";
    cfg->vacation_days = 7;
    cfg->vacation_min_days = 1;
    cfg->vacation_max_days = 90;
}

const char *sieve_extensions(void)
{
    return "fileinto reject ereject envelope copy subaddress vacation imap4flags body "
           "variables comparator-i;octet comparator-i;ascii-casemap";
}

int sv_err(struct sieve_error *err, pool_t *pool, unsigned line, unsigned column,
           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err->message = pool_vprintf(pool, fmt, ap);
    va_end(ap);
    err->line = line;
    err->column = column;
    return -1;
}

void *sv_grow(pool_t *pool, void *arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *bigger = pool_alloc(pool, ncap * size);
    if (n)
        memcpy(bigger, arr, n * size);
    *cap = ncap;
    return bigger;
}

size_t sv_utf8_step(const char *p, const char *end)
{
    unsigned char c = (unsigned char)*p;
    size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 1;
    if ((size_t)(end - p) < n)
        return 1;
    for (size_t i = 1; i < n; i++)
        if (((unsigned char)p[i] & 0xc0) != 0x80)
            return 1;
    return n;
}

int sv_utf8_valid(const char *s, size_t len)
{
    return g_utf8_validate_len(s, len, NULL);
}

size_t sv_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

sieve_script_t *sieve_parse(pool_t *pool, const char *text, size_t len,
                            const struct sieve_config *cfg, struct sieve_error *err)
{
    struct sieve_script *script = pool_zalloc(pool, sizeof(*script));
    struct sieve_config *c = &script->cfg, d;
    sieve_config_default(&d);
    if (cfg)
        *c = *cfg;
    else
        *c = d;
#define SV_DEFAULT(field) if (!c->field) c->field = d.field
    SV_DEFAULT(max_script_size);
    SV_DEFAULT(max_nesting);
    SV_DEFAULT(max_actions);
    SV_DEFAULT(max_redirects);
    SV_DEFAULT(max_variables);
    SV_DEFAULT(max_variable_size);
    SV_DEFAULT(max_string_size);
    SV_DEFAULT(max_steps);
    SV_DEFAULT(detail_delims);
    SV_DEFAULT(vacation_days);
    SV_DEFAULT(vacation_min_days);
    SV_DEFAULT(vacation_max_days);
#undef SV_DEFAULT
    c->detail_delims = pool_strdup(pool, c->detail_delims);
    memset(err, 0, sizeof(*err));
    if (len > c->max_script_size) {
        sv_err(err, pool, 1, 1, "script too large: %zu octets, the limit is %zu", len,
               c->max_script_size);
        return NULL;
    }
    if (memchr(text, 0, len)) {
        const char *nul = memchr(text, 0, len);
        unsigned line = 1;
        for (const char *q = text; q < nul; q++)
            line += *q == '\n';
        sv_err(err, pool, line, 1, "the script contains a NUL octet");
        return NULL;
    }
    struct sv_ast *ast;
    if (sv_parse_ast(pool, text, len, c->max_nesting, err, &ast) != 0)
        return NULL;
    if (sv_check(pool, ast, script, err) != 0)
        return NULL;
    return script;
}

int sv_mailbox_ok(const char *s, size_t len)
{
    if (len == 0 || !sv_utf8_valid(s, len))
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}
