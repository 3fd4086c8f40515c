#include "dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <arpa/nameser.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "rand.h"

#define MAX_SOCKETS 16

struct mc_dns {
  struct event_base *base;
  ares_channel channel;
  struct event *timer;
  struct { ares_socket_t fd; struct event *ev; } socks[MAX_SOCKETS];
};

typedef struct lookup {
  mc_dns_t *dns;
  char *domain;
  mc_mx_cb cb;
  void *arg;
  mc_mx_result_t r;
  size_t pending;       /* address look-ups still out */
  int addr_tempfail;    /* one of them failed for a temporary reason */
} lookup_t;

typedef struct {
  lookup_t *lk;
  size_t index;
} host_query_t;


const char *mc_dns_status_name(mc_dns_status_t s) {
  static const char *const names[] = {"ok", "null_mx", "no_domain", "no_address", "temporary"};
  return names[s];
}


static void reschedule(mc_dns_t *d) {
  struct timeval tv, *next = ares_timeout(d->channel, NULL, &tv);
  evtimer_del(d->timer);
  if (next) evtimer_add(d->timer, next);
}


static void on_timer(evutil_socket_t fd, short what, void *arg) {
  mc_dns_t *d = arg;
  (void)fd;
  (void)what;
  ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  reschedule(d);
}


static void on_socket(evutil_socket_t fd, short what, void *arg) {
  mc_dns_t *d = arg;
  ares_process_fd(d->channel, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
                  (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
  reschedule(d);
}


/* c-ares says which of its sockets to watch; libevent watches them. */
static void sock_state(void *data, ares_socket_t fd, int readable, int writable) {
  mc_dns_t *d = data;
  int slot = -1, free_slot = -1;
  for (int i = 0; i < MAX_SOCKETS; i++) {
    if (d->socks[i].ev && d->socks[i].fd == fd) slot = i;
    if (!d->socks[i].ev && free_slot < 0) free_slot = i;
  }
  if (slot >= 0) {
    event_free(d->socks[slot].ev);
    d->socks[slot].ev = NULL;
  }
  if (!readable && !writable) return;
  if (slot < 0) slot = free_slot;
  if (slot < 0) return;   /* more sockets than servers we configure: c-ares times them out */
  short what = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
  d->socks[slot].ev = event_new(d->base, fd, what, on_socket, d);
  d->socks[slot].fd = fd;
  if (d->socks[slot].ev) event_add(d->socks[slot].ev, NULL);
}


mc_dns_t *mc_dns_new(struct event_base *base, const char *servers, double timeout,
                     int tries, mc_error_t *e) {
  static int initialised;
  if (!initialised) {
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) { mc_error_set(e, "dns: %s", ares_strerror(rc)); return NULL; }
    initialised = 1;
  }
  mc_dns_t *d = calloc(1, sizeof *d);
  if (d == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  d->base = base;
  d->timer = evtimer_new(base, on_timer, d);
  struct ares_options o;
  memset(&o, 0, sizeof o);
  o.flags = ARES_FLAG_NOSEARCH;   /* a recipient's domain is absolute */
  o.timeout = (int)(timeout * 1000);
  o.tries = tries > 0 ? tries : 1;
  o.sock_state_cb = sock_state;
  o.sock_state_cb_data = d;
  /* DNS only, as MTAs resolve MX hosts: c-ares would otherwise open and
   * read /etc/hosts for every host address it looks up. */
  o.lookups = (char *)"b";
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB |
             ARES_OPT_LOOKUPS;
  int rc = d->timer ? ares_init_options(&d->channel, &o, mask) : ARES_ENOMEM;
  if (rc != ARES_SUCCESS) {
    mc_error_set(e, "dns: %s", ares_strerror(rc));
    if (d->timer) event_free(d->timer);
    free(d);
    return NULL;
  }
  if (servers && (rc = ares_set_servers_ports_csv(d->channel, servers)) != ARES_SUCCESS) {
    mc_error_set(e, "dns: bad server list '%s': %s", servers, ares_strerror(rc));
    mc_dns_free(d);
    return NULL;
  }
  return d;
}


void mc_mx_result_free(mc_mx_result_t *r) {
  for (size_t i = 0; i < r->nhosts; i++) {
    for (size_t k = 0; k < r->hosts[i].naddrs; k++) free(r->hosts[i].addrs[k]);
    free(r->hosts[i].addrs);
    free(r->hosts[i].name);
  }
  free(r->hosts);
  memset(r, 0, sizeof *r);
}


static void deliver(lookup_t *lk) {
  mc_mx_result_t *r = &lk->r;
  if (r->status == MC_DNS_OK) {
    /* Hosts without an address are no use; none left is a failure. */
    size_t kept = 0;
    for (size_t i = 0; i < r->nhosts; i++) {
      if (r->hosts[i].naddrs) { r->hosts[kept++] = r->hosts[i]; continue; }
      free(r->hosts[i].addrs);
      free(r->hosts[i].name);
    }
    r->nhosts = kept;
    if (kept == 0) {
      r->status = lk->addr_tempfail ? MC_DNS_TEMPFAIL : MC_DNS_NO_ADDRESS;
      snprintf(r->error, sizeof r->error, "dns: %s: no %s host has an address%s", lk->domain,
               r->implicit ? "(implicit MX)" : "MX", lk->addr_tempfail ? " (look-ups failed)" : "");
    }
  }
  mc_mx_cb cb = lk->cb;
  void *arg = lk->arg;
  mc_mx_result_t result = *r;
  free(lk->domain);
  free(lk);
  cb(&result, arg);
}


static void on_addr(void *arg, int status, int timeouts, struct ares_addrinfo *ai) {
  host_query_t *q = arg;
  lookup_t *lk = q->lk;
  mc_mx_host_t *h = &lk->r.hosts[q->index];
  (void)timeouts;
  free(q);
  if (status == ARES_SUCCESS && ai) {
    for (struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
      char text[INET6_ADDRSTRLEN];
      const void *src = n->ai_family == AF_INET
                            ? (const void *)&((struct sockaddr_in *)n->ai_addr)->sin_addr
                            : (const void *)&((struct sockaddr_in6 *)n->ai_addr)->sin6_addr;
      if (!inet_ntop(n->ai_family, src, text, sizeof text)) continue;
      char **addrs = realloc(h->addrs, (h->naddrs + 1) * sizeof *addrs);
      if (addrs == NULL) break;
      h->addrs = addrs;
      if ((h->addrs[h->naddrs] = strdup(text)) != NULL) h->naddrs++;
    }
  } else if (status != ARES_ENOTFOUND && status != ARES_ENODATA) {
    lk->addr_tempfail = 1;
  }
  if (ai) ares_freeaddrinfo(ai);
  if (--lk->pending == 0) deliver(lk);
}


static void resolve_hosts(lookup_t *lk) {
  struct ares_addrinfo_hints hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = ARES_AI_NOSORT;
  lk->pending = lk->r.nhosts;
  size_t n = lk->r.nhosts;   /* deliver() may run inside the loop below */
  for (size_t i = 0; i < n; i++) {
    host_query_t *q = malloc(sizeof *q);
    if (q == NULL) {   /* count it as answered, with nothing */
      lk->addr_tempfail = 1;
      if (--lk->pending == 0) { deliver(lk); return; }
      continue;
    }
    q->lk = lk;
    q->index = i;
    ares_getaddrinfo(lk->dns->channel, lk->r.hosts[i].name, NULL, &hints, on_addr, q);
  }
}


static int by_preference(const void *a, const void *b) {
  return ((const mc_mx_host_t *)a)->preference - ((const mc_mx_host_t *)b)->preference;
}


/* Equal preferences in random order, so load spreads (RFC 5321 5.1). */
static void shuffle_ties(mc_mx_host_t *h, size_t n) {
  for (size_t start = 0; start < n;) {
    size_t end = start + 1;
    while (end < n && h[end].preference == h[start].preference) end++;
    for (size_t i = end - 1; i > start; i--) {
      unsigned r;
      if (mc_rand_bytes(&r, sizeof r) != 0) break;
      size_t j = start + r % (i - start + 1);
      mc_mx_host_t t = h[i];
      h[i] = h[j];
      h[j] = t;
    }
    start = end;
  }
}


static int add_host(mc_mx_result_t *r, const char *name, int preference) {
  mc_mx_host_t *h = realloc(r->hosts, (r->nhosts + 1) * sizeof *h);
  if (h == NULL) return -1;
  r->hosts = h;
  memset(&h[r->nhosts], 0, sizeof *h);
  h[r->nhosts].name = strdup(name);
  h[r->nhosts].preference = preference;
  if (h[r->nhosts].name == NULL) return -1;
  r->nhosts++;
  return 0;
}


static void on_mx(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
  lookup_t *lk = arg;
  mc_mx_result_t *r = &lk->r;
  (void)timeouts;
  struct ares_mx_reply *mx = NULL;
  if (status == ARES_SUCCESS) status = ares_parse_mx_reply(abuf, alen, &mx);
  if (status == ARES_SUCCESS) {
    int null_mx = 0, count = 0;
    for (struct ares_mx_reply *m = mx; m; m = m->next) {
      count++;
      if (m->host[0] == '\0' || strcmp(m->host, ".") == 0) { null_mx = 1; continue; }
      if (add_host(r, m->host, m->priority) != 0) { status = ARES_ENOMEM; break; }
    }
    ares_free_data(mx);
    if (status == ARES_SUCCESS && null_mx && count == 1) {
      r->status = MC_DNS_NULL_MX;
      snprintf(r->error, sizeof r->error, "dns: %s accepts no mail (null MX, RFC 7505)", lk->domain);
      deliver(lk);
      return;
    }
    if (status == ARES_SUCCESS && r->nhosts == 0) status = ARES_ENODATA;
  }
  if (status == ARES_ENODATA) {   /* no MX: the domain itself (RFC 5321 5.1) */
    mc_mx_result_free(r);
    r->implicit = 1;
    status = add_host(r, lk->domain, 0) == 0 ? ARES_SUCCESS : ARES_ENOMEM;
  }
  if (status == ARES_SUCCESS) {
    qsort(r->hosts, r->nhosts, sizeof *r->hosts, by_preference);
    shuffle_ties(r->hosts, r->nhosts);
    r->status = MC_DNS_OK;
    resolve_hosts(lk);
    return;
  }
  mc_mx_result_free(r);
  r->status = status == ARES_ENOTFOUND ? MC_DNS_NO_DOMAIN : MC_DNS_TEMPFAIL;
  snprintf(r->error, sizeof r->error, "dns: %s: %s", lk->domain,
           status == ARES_ENOTFOUND ? "no such domain" : ares_strerror(status));
  deliver(lk);
}


void mc_dns_mx(mc_dns_t *d, const char *domain, mc_mx_cb cb, void *arg) {
  lookup_t *lk = calloc(1, sizeof *lk);
  if (lk) lk->domain = strdup(domain);
  if (lk == NULL || lk->domain == NULL) {
    mc_mx_result_t r = {.status = MC_DNS_TEMPFAIL};
    snprintf(r.error, sizeof r.error, "dns: out of memory");
    if (lk) free(lk);
    cb(&r, arg);
    return;
  }
  lk->dns = d;
  lk->cb = cb;
  lk->arg = arg;
  ares_query(d->channel, domain, ns_c_in, ns_t_mx, on_mx, lk);
  reschedule(d);
}


void mc_dns_free(mc_dns_t *d) {
  if (d == NULL) return;
  ares_destroy(d->channel);   /* pending callbacks run now, with ARES_EDESTRUCTION */
  for (int i = 0; i < MAX_SOCKETS; i++)
    if (d->socks[i].ev) event_free(d->socks[i].ev);
  if (d->timer) event_free(d->timer);
  free(d);
}


typedef struct {
  char *name;
  mc_txt_cb cb;
  void *arg;
  mc_dns_type_t type;
} txt_lookup_t;


void mc_txt_result_free(mc_txt_result_t *r) {
  for (size_t i = 0; i < r->nrecords; i++) free(r->records[i]);
  free(r->records);
  memset(r, 0, sizeof *r);
}


/* Appends a character-string to the last record, or to a new one. */
static int add_txt(mc_txt_result_t *r, const struct ares_txt_ext *t) {
  if (t->record_start || r->nrecords == 0) {
    char **records = realloc(r->records, (r->nrecords + 1) * sizeof *records);
    if (records == NULL) return -1;
    r->records = records;
    if ((records[r->nrecords] = calloc(1, 1)) == NULL) return -1;
    r->nrecords++;
  }
  char **last = &r->records[r->nrecords - 1];
  size_t have = strlen(*last);
  char *s = realloc(*last, have + t->length + 1);
  if (s == NULL) return -1;
  memcpy(s + have, t->txt, t->length);
  s[have + t->length] = '\0';   /* a NUL inside ends the record early: no key has one */
  *last = s;
  return 0;
}


/* Appends a copy of s as a record of its own. */
static int add_record(mc_txt_result_t *r, const char *s) {
  char **records = realloc(r->records, (r->nrecords + 1) * sizeof *records);
  if (records == NULL) return -1;
  r->records = records;
  if ((records[r->nrecords] = strdup(s)) == NULL) return -1;
  r->nrecords++;
  return 0;
}


static int parse_txt(mc_txt_result_t *r, const unsigned char *abuf, int alen) {
  struct ares_txt_ext *txt = NULL;
  int status = ares_parse_txt_reply_ext(abuf, alen, &txt);
  for (struct ares_txt_ext *t = txt; t && status == ARES_SUCCESS; t = t->next)
    if (add_txt(r, t) != 0) status = ARES_ENOMEM;
  if (txt) ares_free_data(txt);
  return status;
}


static int parse_addresses(mc_txt_result_t *r, const unsigned char *abuf, int alen, int family) {
  enum { MAX_ADDRS = 64 };
  char text[INET6_ADDRSTRLEN];
  int n = MAX_ADDRS, status;
  if (family == AF_INET) {
    struct ares_addrttl a[MAX_ADDRS];
    status = ares_parse_a_reply(abuf, alen, NULL, a, &n);
    for (int i = 0; i < n && status == ARES_SUCCESS; i++)
      if (!inet_ntop(AF_INET, &a[i].ipaddr, text, sizeof text) || add_record(r, text) != 0) status = ARES_ENOMEM;
  } else {
    struct ares_addr6ttl a[MAX_ADDRS];
    status = ares_parse_aaaa_reply(abuf, alen, NULL, a, &n);
    for (int i = 0; i < n && status == ARES_SUCCESS; i++)
      if (!inet_ntop(AF_INET6, &a[i].ip6addr, text, sizeof text) || add_record(r, text) != 0) status = ARES_ENOMEM;
  }
  return status;
}


static int parse_ptr(mc_txt_result_t *r, const unsigned char *abuf, int alen) {
  unsigned char addr[16] = {0};   /* copied into the hostent; not ours to know */
  struct hostent *h = NULL;
  int status = ares_parse_ptr_reply(abuf, alen, addr, 4, AF_INET, &h);
  if (status == ARES_SUCCESS) {
    if (h->h_name && add_record(r, h->h_name) != 0) status = ARES_ENOMEM;
    for (char **a = h->h_aliases; a && *a && status == ARES_SUCCESS; a++)   /* the first again, with the rest */
      if ((h->h_name == NULL || strcmp(*a, h->h_name) != 0) && add_record(r, *a) != 0) status = ARES_ENOMEM;
  }
  if (h) ares_free_hostent(h);
  return status;
}


static int parse_mx(mc_txt_result_t *r, const unsigned char *abuf, int alen) {
  struct ares_mx_reply *mx = NULL;
  int status = ares_parse_mx_reply(abuf, alen, &mx);
  for (struct ares_mx_reply *m = mx; m && status == ARES_SUCCESS; m = m->next)
    if (add_record(r, m->host) != 0) status = ARES_ENOMEM;
  if (mx) ares_free_data(mx);
  return status;
}


static void on_txt(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
  txt_lookup_t *lk = arg;
  mc_txt_result_t r;
  (void)timeouts;
  memset(&r, 0, sizeof r);
  if (status == ARES_SUCCESS) {
    switch (lk->type) {
    case MC_DNS_A: status = parse_addresses(&r, abuf, alen, AF_INET); break;
    case MC_DNS_AAAA: status = parse_addresses(&r, abuf, alen, AF_INET6); break;
    case MC_DNS_PTR: status = parse_ptr(&r, abuf, alen); break;
    case MC_DNS_MX: status = parse_mx(&r, abuf, alen); break;
    default: status = parse_txt(&r, abuf, alen); break;
    }
  }
  if (status == ARES_SUCCESS || status == ARES_ENODATA) {
    r.status = MC_DNS_OK;
  } else {
    mc_txt_result_free(&r);
    r.status = status == ARES_ENOTFOUND ? MC_DNS_NO_DOMAIN : MC_DNS_TEMPFAIL;
    snprintf(r.error, sizeof r.error, "dns: %s: %s", lk->name,
             status == ARES_ENOTFOUND ? "no such name" : ares_strerror(status));
  }
  mc_txt_cb cb = lk->cb;
  void *cb_arg = lk->arg;
  free(lk->name);
  free(lk);
  cb(&r, cb_arg);
}


void mc_dns_txt(mc_dns_t *d, const char *name, mc_txt_cb cb, void *arg) {
  mc_dns_records(d, name, MC_DNS_TXT, cb, arg);
}


void mc_dns_records(mc_dns_t *d, const char *name, mc_dns_type_t type, mc_txt_cb cb, void *arg) {
  static const int qtype[] = {ns_t_a, ns_t_aaaa, ns_t_ptr, ns_t_mx, ns_t_txt};
  txt_lookup_t *lk = calloc(1, sizeof *lk);
  if (lk) lk->name = strdup(name);
  if (lk == NULL || lk->name == NULL) {
    mc_txt_result_t r = {.status = MC_DNS_TEMPFAIL};
    snprintf(r.error, sizeof r.error, "dns: out of memory");
    free(lk);
    cb(&r, arg);
    return;
  }
  lk->cb = cb;
  lk->arg = arg;
  lk->type = type;
  ares_query(d->channel, name, ns_c_in, qtype[type], on_txt, lk);
  reschedule(d);
}
