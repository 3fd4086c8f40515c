/* MX look-ups for direct delivery (RFC 5321 5.1), with c-ares on the
 * libevent loop: MX hosts in preference order (equal preferences
 * shuffled), each with its addresses; the domain itself when it has no
 * MX; RFC 7505 null MX and nonexistent domains as permanent failures;
 * timeouts and server failures as temporary ones. */
#ifndef MC_DNS_H
#define MC_DNS_H

#include <stddef.h>

#include "error.h"

struct event_base;

typedef enum {
  MC_DNS_OK,
  MC_DNS_NULL_MX,      /* the domain accepts no mail (RFC 7505) */
  MC_DNS_NO_DOMAIN,    /* NXDOMAIN */
  MC_DNS_NO_ADDRESS,   /* no MX host (nor the domain) has an address */
  MC_DNS_TEMPFAIL      /* timeout, SERVFAIL, refused: try again later */
} mc_dns_status_t;

typedef struct {
  char *name;
  int preference;
  char **addrs;        /* numeric, IPv4 and IPv6 */
  size_t naddrs;
} mc_mx_host_t;

typedef struct {
  mc_dns_status_t status;
  int implicit;        /* no MX record: the domain itself, preference 0 */
  mc_mx_host_t *hosts;
  size_t nhosts;
  char error[256];
} mc_mx_result_t;

typedef struct mc_dns mc_dns_t;

/* Called once per look-up; the result is the callee's to free
 * (mc_mx_result_free). */
typedef void (*mc_mx_cb)(mc_mx_result_t *r, void *arg);

/* servers: "127.0.0.1:5353,..." or NULL for the system's resolv.conf. */
mc_dns_t *mc_dns_new(struct event_base *base, const char *servers, double timeout,
                     int tries, mc_error_t *e);

void mc_dns_mx(mc_dns_t *d, const char *domain, mc_mx_cb cb, void *arg);

void mc_mx_result_free(mc_mx_result_t *r);

/* Cancels what is pending (their callbacks run with MC_DNS_TEMPFAIL). */
void mc_dns_free(mc_dns_t *d);

const char *mc_dns_status_name(mc_dns_status_t s);

/* TXT look-ups (DKIM keys, RFC 6376 3.6.2): every record of the name,
 * each record's strings joined. MC_DNS_OK may come with no records (the
 * name exists but has no TXT); MC_DNS_NO_DOMAIN is NXDOMAIN. */
typedef struct {
  mc_dns_status_t status;
  char **records;
  size_t nrecords;
  char error[256];
} mc_txt_result_t;

/* Called once per look-up; the result is the callee's to free
 * (mc_txt_result_free). */
typedef void (*mc_txt_cb)(mc_txt_result_t *r, void *arg);

void mc_dns_txt(mc_dns_t *d, const char *name, mc_txt_cb cb, void *arg);

void mc_txt_result_free(mc_txt_result_t *r);

/* The records of another type, as strings in the order the answer holds
 * them, in an mc_txt_result_t (freed the same way): MC_DNS_A and
 * MC_DNS_AAAA as numeric addresses, MC_DNS_PTR and MC_DNS_MX as host
 * names (an MX's preference is left out), MC_DNS_TXT as mc_dns_txt. For
 * the checks of a sender's records (SPF, reverse DNS). */
typedef enum { MC_DNS_A, MC_DNS_AAAA, MC_DNS_PTR, MC_DNS_MX, MC_DNS_TXT } mc_dns_type_t;

void mc_dns_records(mc_dns_t *d, const char *name, mc_dns_type_t type, mc_txt_cb cb, void *arg);

#endif
