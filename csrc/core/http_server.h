/* mailcast serve: the tracking endpoints over HTTP (libevent's evhttp).
 * GET /o/TOKEN answers the open pixel, GET /c/TOKEN redirects to the
 * campaign's stored link, GET /u/TOKEN shows a confirmation page and
 * POST /u/TOKEN (RFC 8058 one-click, or the page's button) suppresses
 * the recipient's address; /healthz and /metrics (Prometheus text);
 * /dashboard (http_dashboard.h) when it is turned on.
 * Tokens are checked here with the HMAC key; opens and clicks are kept in
 * memory and written to the store in batches (one transaction every
 * flush interval or every `batch` events), so a burst loses nothing and
 * a crash loses at most the batch not yet written. */
#ifndef MC_HTTP_SERVER_H
#define MC_HTTP_SERVER_H

#include <stddef.h>

#include "error.h"
#include "http_dashboard.h"
#include "store.h"
#include "token.h"
#include "webhook.h"

struct event_base;

typedef struct {
  mc_store_t *store;        /* borrowed: outlives the server */
  mc_token_key_t *key;      /* borrowed */
  double timeout;           /* seconds for a whole request (and idle between two) */
  size_t max_connections;   /* held at once (0: what the descriptor limit leaves room for) */
  size_t max_body;          /* bytes of a request body */
  size_t max_headers;       /* bytes of the request line and headers */
  double flush_interval;    /* seconds between batch commits */
  size_t batch;             /* events that make a commit at once */
  int quiet;                /* no log lines on stderr */
  mc_webhook_t *webhook;    /* borrowed, may be NULL: its counters join /metrics */
  mc_dash_t *dashboard;     /* borrowed, may be NULL (off): answers /dashboard and under it */
} mc_http_opts_t;

typedef struct mc_http mc_http_t;

/* Listens on host:port (port 0: any free one). */
mc_http_t *mc_http_new(struct event_base *base, const char *host, int port,
                       const mc_http_opts_t *o, mc_error_t *e);

int mc_http_port(const mc_http_t *h);

/* Writes the events waiting in memory in one transaction: 0, or -1 (they
 * stay waiting for the next try). */
int mc_http_flush(mc_http_t *h, mc_error_t *e);

/* Events written to the store so far. */
unsigned long long mc_http_recorded(const mc_http_t *h);

/* Flushes what waits, stops listening and frees h. */
void mc_http_free(mc_http_t *h);

#endif
