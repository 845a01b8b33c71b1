/* pool: arena allocator behind pool.h. Blocks are chained; a request larger than a block
 * gets a block of its own so big literals do not waste the standard block size. */
#include "pool/pool.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_ALIGN 16
#define POOL_DEFAULT_BLOCK 8192

struct pool_block {
    struct pool_block *next;
    size_t size, used;
    _Alignas(POOL_ALIGN) unsigned char data[];
};

struct pool {
    struct pool_block *head;   /* current block, first in the chain */
    struct pool_block *first;  /* the block kept by pool_clear */
    size_t block_size;
    size_t total;
};

static void *pool_xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fputs("{\"level\":\"fatal\",\"event\":\"out_of_memory\"}\n", stderr);
        abort();
    }
    return p;
}

static struct pool_block *pool_block_new(size_t size)
{
    struct pool_block *b = pool_xmalloc(sizeof(*b) + size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

pool_t *pool_create(size_t block_size)
{
    pool_t *p = pool_xmalloc(sizeof(*p));
    p->block_size = block_size ? block_size : POOL_DEFAULT_BLOCK;
    p->first = p->head = pool_block_new(p->block_size);
    p->total = 0;
    return p;
}

void pool_destroy(pool_t *pool)
{
    if (!pool)
        return;
    struct pool_block *b = pool->head;
    while (b) {
        struct pool_block *n = b->next;
        free(b);
        b = n;
    }
    free(pool);
}

void pool_clear(pool_t *pool)
{
    struct pool_block *b = pool->head;
    while (b) {
        struct pool_block *n = b->next;
        if (b != pool->first)
            free(b);
        b = n;
    }
    pool->head = pool->first;
    pool->first->used = 0;
    pool->first->next = NULL;
    pool->total = 0;
}

void *pool_alloc(pool_t *pool, size_t size)
{
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - POOL_ALIGN) {
        fputs("{\"level\":\"fatal\",\"event\":\"pool_overflow\"}\n", stderr);
        abort();
    }
    size_t need = (size + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
    struct pool_block *b = pool->head;
    if (b->size - b->used < need) {
        if (need > pool->block_size / 2) {
            /* Oversized: its own block, linked behind the head so the head keeps serving. */
            struct pool_block *big = pool_block_new(need);
            big->used = need;
            big->next = b->next;
            b->next = big;
            pool->total += size;
            return big->data;
        }
        b = pool_block_new(pool->block_size);
        b->next = pool->head;
        pool->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    pool->total += size;
    return p;
}

void *pool_zalloc(pool_t *pool, size_t size)
{
    void *p = pool_alloc(pool, size);
    memset(p, 0, size ? size : 1);
    return p;
}

void *pool_memdup(pool_t *pool, const void *src, size_t len)
{
    void *p = pool_alloc(pool, len);
    if (len)
        memcpy(p, src, len);
    return p;
}

char *pool_strndup(pool_t *pool, const char *s, size_t n)
{
    char *p = pool_alloc(pool, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *pool_strdup(pool_t *pool, const char *s)
{
    return s ? pool_strndup(pool, s, strlen(s)) : NULL;
}

char *pool_vprintf(pool_t *pool, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        n = 0;
    char *p = pool_alloc(pool, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *pool_printf(pool_t *pool, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = pool_vprintf(pool, fmt, ap);
    va_end(ap);
    return p;
}

size_t pool_used(const pool_t *pool)
{
    return pool->total;
}
