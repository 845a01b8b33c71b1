/* config: settings from MAILSTACK_* environment variables, optionally seeded from a
 * KEY=VALUE file named by MAILSTACK_CONFIG_FILE (the environment wins). Every getter takes
 * the default used when the variable is unset or empty, so the dev stack needs no file. */
#ifndef MAILSTACK_CONFIG_H
#define MAILSTACK_CONFIG_H

#include <stddef.h>

/* Loads MAILSTACK_CONFIG_FILE if set; returns -1 (and logs) if it is set but unreadable. */
int config_load(void);

const char *config_str(const char *name, const char *def);
long config_long(const char *name, long def);       /* a bad number logs and gives def */
int config_bool(const char *name, int def);         /* 1/0, yes/no, true/false, on/off */
int config_port(const char *name, int def);         /* 1..65535, else def */
/* Sizes accept a k/m/g suffix (binary): "20m" = 20971520. */
long config_size(const char *name, long def);

/* 1 when `value` is one of the comma-separated items of setting `name` (ASCII
 * case-insensitive, spaces around items ignored). */
int config_list_has(const char *name, const char *value);
/* 1 when `domain` is one we receive mail for: MAILSTACK_DOMAIN (default example.test) or
 * one of the comma-separated MAILSTACK_DOMAINS. */
int config_is_local_domain(const char *domain);
/* Virtual hosting: MAILSTACK_LDAP_DOMAIN_BASES="other.test=ou=other,dc=example,dc=test;..."
 * gives a domain its own LDAP base (';' separates, since DNs hold ',' and '='). Returns 1
 * and copies the base into out when `domain` has one, else 0 (the domain uses the shared
 * base, MAILSTACK_LDAP_USER_BASE). */
int config_domain_base(const char *domain, char *out, size_t outlen);

#endif
