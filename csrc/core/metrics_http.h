/* mailcast run --metrics: a small HTTP listener on the run's event loop
 * that answers GET /metrics with the page the run last gave it
 * (Prometheus' text format, written by the Lua layer from the store's
 * counts and the scheduler's state) and GET /healthz with "ok". Nothing
 * else: it reads no body and changes nothing. */
#ifndef MC_METRICS_HTTP_H
#define MC_METRICS_HTTP_H

#include <stddef.h>

#include "error.h"

struct event_base;

typedef struct mc_metrics_http mc_metrics_http_t;

/* Listens on host:port (port 0: any free one) on base's loop. NULL, e
 * says why. The caller frees it with mc_metrics_http_free. */
mc_metrics_http_t *mc_metrics_http_new(struct event_base *base, const char *host, int port,
                                       mc_error_t *e);

int mc_metrics_http_port(const mc_metrics_http_t *m);

/* The page /metrics answers with from now on: text (len bytes) copied.
 * 0, or -1 when memory ran out (the page before stays). */
int mc_metrics_http_set(mc_metrics_http_t *m, const char *text, size_t len);

/* Requests answered so far (all paths). */
unsigned long long mc_metrics_http_requests(const mc_metrics_http_t *m);

/* Stops listening and frees m (NULL is fine). */
void mc_metrics_http_free(mc_metrics_http_t *m);

#endif
