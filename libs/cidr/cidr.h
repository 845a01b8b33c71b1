/* cidr: lists of IPv4/IPv6 networks in CIDR notation ("127.0.0.0/8, ::1/128, 192.0.2.7")
 * and the question whether a client address falls in one of them, as Postfix's
 * mynetworks answers it: lmtp-store's MAILSTACK_LMTP_TRUSTED_NETWORKS. An IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) matches the IPv4 networks. */
#ifndef MAILSTACK_CIDR_H
#define MAILSTACK_CIDR_H

typedef struct cidr_list cidr_list_t;

/* Parses a comma- or blank-separated list (an address without /len is a host; an empty
 * list matches nothing). NULL when an entry is malformed, with *bad pointing at it in
 * text (the rest of the string), or when out of memory (*bad NULL). */
cidr_list_t *cidr_parse(const char *text, const char **bad);
void cidr_free(cidr_list_t *l);

/* 1 when addr (text, as net hands it out: "127.0.0.1", "::1") is in one of the
 * networks; 0 when not or when addr is not an IP address ("unix"). */
int cidr_match(const cidr_list_t *l, const char *addr);

#endif
