/* keytable: the bounded map behind keytable.h. An entry holds its key and value in one
 * allocation; the tsearch tree indexes entries by key, and a doubly linked list orders
 * them by last update (newest first) for the bound. */
#include "keytable.h"

#include <search.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct keytable_key {
    size_t len;
    const unsigned char *bytes;
};

struct keytable_entry {
    struct keytable_key key;                 /* first: the tree compares entries as keys */
    struct keytable_entry *newer, *older;
    max_align_t value[];                     /* value_size bytes, then the key's bytes */
};

struct keytable {
    void *root;
    size_t value_size, max, count;
    void (*free_value)(void *);
    struct keytable_entry *newest, *oldest;
};

static int keytable_cmp(const void *a, const void *b)
{
    const struct keytable_key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->bytes, y->bytes, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

keytable_t *keytable_new(size_t value_size, size_t max_entries, void (*free_value)(void *))
{
    keytable_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->value_size = value_size;
    t->max = max_entries ? max_entries : 1;
    t->free_value = free_value;
    return t;
}

static void keytable_unlink(keytable_t *t, struct keytable_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        t->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        t->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void keytable_link_newest(keytable_t *t, struct keytable_entry *e)
{
    e->older = t->newest;
    if (t->newest)
        t->newest->newer = e;
    t->newest = e;
    if (!t->oldest)
        t->oldest = e;
}

static void keytable_release(keytable_t *t, struct keytable_entry *e)
{
    if (t->free_value)
        t->free_value(e->value);
    free(e);
}

static void keytable_no_free(void *node)
{
    (void)node; /* entries are freed through the age list */
}

void keytable_free(keytable_t *t)
{
    if (!t)
        return;
    tdestroy(t->root, keytable_no_free);
    for (struct keytable_entry *e = t->newest, *next; e; e = next) {
        next = e->older;
        keytable_release(t, e);
    }
    free(t);
}

void *keytable_get(keytable_t *t, const void *key, size_t len)
{
    struct keytable_key probe = {len, key};
    struct keytable_entry **found = tfind(&probe, &t->root, keytable_cmp);
    return found ? (*found)->value : NULL;
}

void keytable_remove(keytable_t *t, void *value)
{
    struct keytable_entry *e =
        (struct keytable_entry *)((char *)value - offsetof(struct keytable_entry, value));
    tdelete(&e->key, &t->root, keytable_cmp);
    keytable_unlink(t, e);
    t->count--;
    keytable_release(t, e);
}

void *keytable_put(keytable_t *t, const void *key, size_t len)
{
    void *v = keytable_get(t, key, len);
    if (v) {
        struct keytable_entry *e =
            (struct keytable_entry *)((char *)v - offsetof(struct keytable_entry, value));
        keytable_unlink(t, e);
        keytable_link_newest(t, e);
        return v;
    }
    while (t->count >= t->max)
        keytable_remove(t, t->oldest->value);
    struct keytable_entry *e = calloc(1, sizeof(*e) + t->value_size + len);
    if (!e)
        abort(); /* as pool does: a server that cannot get a few bytes is done */
    unsigned char *kb = (unsigned char *)e->value + t->value_size;
    memcpy(kb, key, len);
    e->key = (struct keytable_key){len, kb};
    if (!tsearch(&e->key, &t->root, keytable_cmp))
        abort();
    keytable_link_newest(t, e);
    t->count++;
    return e->value;
}

size_t keytable_count(const keytable_t *t)
{
    return t->count;
}
