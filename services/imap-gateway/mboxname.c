/* mboxname: mailbox name rules behind mboxname.h. Matching is a dynamic programme over
 * pattern and name rather than backtracking, so "*%*%*%..." cannot take exponential time. */
#include "mboxname.h"

#include <string.h>
#include <strings.h>

char *mboxname_normalize(pool_t *pool, const char *name)
{
    char *n = pool_strdup(pool, name);
    if (strncasecmp(n, "INBOX", 5) == 0 && (n[5] == 0 || n[5] == MBOXNAME_SEP))
        memcpy(n, "INBOX", 5);
    return n;
}

int mboxname_match(pool_t *pool, const char *pattern, const char *name)
{
    size_t plen = strlen(pattern), nlen = strlen(name);
    /* next[j]: pattern[i + 1..] matches name[j..]; cur[j]: pattern[i..] does. */
    unsigned char *next = pool_zalloc(pool, nlen + 1);
    unsigned char *cur = pool_zalloc(pool, nlen + 1);
    next[nlen] = 1;
    for (size_t i = plen; i-- > 0;) {
        char c = pattern[i];
        for (size_t j = nlen + 1; j-- > 0;) {
            if (c == '*')
                cur[j] = next[j] || (j < nlen && cur[j + 1]);
            else if (c == '%')
                cur[j] = next[j] || (j < nlen && name[j] != MBOXNAME_SEP && cur[j + 1]);
            else
                cur[j] = j < nlen && name[j] == c && next[j + 1];
        }
        unsigned char *t = next;
        next = cur;
        cur = t;
    }
    return next[0];
}

int mboxname_is_child(const char *parent, const char *child)
{
    size_t n = strlen(parent);
    return strncmp(parent, child, n) == 0 && child[n] == MBOXNAME_SEP && child[n + 1];
}
