/* Mailbox addresses: "Display Name <local@domain>" or "local@domain",
 * with the address checked against RFC 5321 4.1.2 Mailbox syntax. */
#ifndef MC_ADDR_H
#define MC_ADDR_H

#include <stddef.h>

#include "error.h"

typedef struct {
  char *name;   /* display name, unquoted UTF-8; NULL when absent */
  char *addr;   /* local@domain */
} mc_addr_t;

typedef struct {
  mc_addr_t *items;
  size_t count;
  size_t cap;
} mc_addrlist_t;

#define MC_ADDR_MAX 254  /* RFC 5321 4.5.3.1.3: a path of 256 less "<>" */

/* Appends the mailboxes of s (one, or several separated by commas) to
 * list. On failure list keeps what it had and e says why. */
int mc_addr_parse(mc_addrlist_t *list, const char *s, size_t n, mc_error_t *e);

/* Appends one mailbox given as its parts (name may be NULL). */
int mc_addr_add(mc_addrlist_t *list, const char *name, size_t namelen,
                const char *addr, size_t addrlen, mc_error_t *e);

/* Checks an addr-spec; 0 or -1 with the reason in e. */
int mc_addr_check(const char *addr, size_t n, mc_error_t *e);

/* The domain of an address (after the last "@"). */
const char *mc_addr_domain(const char *addr);

void mc_addrlist_free(mc_addrlist_t *list);

#endif
