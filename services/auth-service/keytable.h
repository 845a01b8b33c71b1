/* keytable: a bounded map from byte-string keys to fixed-size values, kept in order of
 * last update so that, when full, the entry updated longest ago makes room. The lookup
 * is glibc's tsearch tree; this adds the age order, the bound and the memory. Not
 * thread-safe: the lockout table lives on the loop thread, the DN cache behind a mutex. */
#ifndef AUTH_KEYTABLE_H
#define AUTH_KEYTABLE_H

#include <stddef.h>

typedef struct keytable keytable_t;

/* Values are value_size zeroed bytes; free_value (may be NULL) releases what a value
 * points to when its entry goes. max_entries >= 1. */
keytable_t *keytable_new(size_t value_size, size_t max_entries, void (*free_value)(void *));
void keytable_free(keytable_t *t);

/* The value stored under key, or NULL. */
void *keytable_get(keytable_t *t, const void *key, size_t len);
/* The value under key, made (zeroed) when absent, and marked as updated now. */
void *keytable_put(keytable_t *t, const void *key, size_t len);
/* Removes the entry holding `value` (from get or put). */
void keytable_remove(keytable_t *t, void *value);
size_t keytable_count(const keytable_t *t);

#endif
