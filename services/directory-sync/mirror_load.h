/* mirror_load: a full copy of the xMail entries of LDAP into the PostgreSQL mirror
 * (accounts + account_addresses), in one transaction so readers never see half a load;
 * entries gone from LDAP are removed. Runs on a worker thread. */
#ifndef MIRROR_LOAD_H
#define MIRROR_LOAD_H

#include <stddef.h>

struct mirror_load_result {
    int ok;                 /* 1 when the mirror now matches LDAP */
    int ldap_down;          /* LDAP could not be reached */
    long entries, addresses, removed;
    double seconds;
    char error[256];
};

void mirror_load(struct mirror_load_result *out);

#endif
