/* pool: request-scoped memory. A pool hands out memory from large blocks and frees it all
 * at once (pool_clear / pool_destroy), so a command or session never frees piece by piece.
 * Allocation failure aborts the process: a mail server that cannot get a few KiB is done. */
#ifndef MAILSTACK_POOL_H
#define MAILSTACK_POOL_H

#include <stdarg.h>
#include <stddef.h>

typedef struct pool pool_t;

pool_t *pool_create(size_t block_size);   /* 0 = default (8 KiB) */
void pool_destroy(pool_t *pool);          /* NULL is fine */
void pool_clear(pool_t *pool);            /* forget everything, keep the first block */

void *pool_alloc(pool_t *pool, size_t size);   /* 16-byte aligned, uninitialised */
void *pool_zalloc(pool_t *pool, size_t size);  /* zeroed */
void *pool_memdup(pool_t *pool, const void *src, size_t len);
char *pool_strdup(pool_t *pool, const char *s);           /* NULL in, NULL out */
char *pool_strndup(pool_t *pool, const char *s, size_t n); /* always NUL-terminated */
char *pool_printf(pool_t *pool, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *pool_vprintf(pool_t *pool, const char *fmt, va_list ap);

size_t pool_used(const pool_t *pool);     /* bytes handed out since the last clear */

#endif
