/* The name this machine gives itself in EHLO (RFC 5321 4.1.4: its fully
 * qualified name, or an address literal when it has none). */
#ifndef MC_HOSTNAME_H
#define MC_HOSTNAME_H

#include <stddef.h>

/* The machine's fully qualified domain name: gethostname(), made
 * canonical by the resolver (AI_CANONNAME) when it can, and kept only
 * when it is a dotted domain name that is not localhost. Found once per
 * process (the first call may wait on the resolver); NULL when there is
 * none. */
const char *mc_host_fqdn(void);

/* 1 when name is a domain name fit for EHLO: dotted LDH labels of 1 to
 * 63 characters, 253 at most, the last not all digits, not "localhost."
 * or under it. */
int mc_host_is_fqdn(const char *name);

/* The address literal of sockaddr sa ("[192.0.2.1]", "[IPv6:2001:db8::1]")
 * into out; 0, or -1 when it is neither family or out is too small. */
int mc_host_address_literal(const void *sa, char *out, size_t size);

#endif
