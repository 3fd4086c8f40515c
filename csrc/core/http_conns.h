/* The connections of an HTTP server (evhttp) and how long each may take:
 * evhttp's own timeout counts idle time only, so a client sending a
 * header line every few seconds held its connection (and a descriptor)
 * for ever. Here every connection has a whole-request deadline, counted
 * from its accept or from the end of its last request, and the server
 * holds at most a number of them: a new one beyond it closes the one
 * that has gone longest without finishing a request.
 *
 * evhttp gives no hook when it accepts a connection or frees one, so the
 * connections are followed through their bufferevents, made here
 * (evhttp_set_bevcb), and the close callback of their evhttp connection. */
#ifndef MC_HTTP_CONNS_H
#define MC_HTTP_CONNS_H

#include <stddef.h>

#include "error.h"

struct event_base;
struct evhttp;
struct evhttp_request;

typedef struct mc_http_conns mc_http_conns_t;

typedef struct {
  unsigned long long timed_out;  /* closed at their deadline */
  unsigned long long shed;       /* closed to make room for a new one */
  size_t open;                   /* open now */
  size_t max;                    /* the most held at once */
} mc_http_conns_stats_t;

/* Follows the connections http accepts from now on: each may take
 * deadline (> 0) seconds for a request, and at most max are held (0: as
 * many as the descriptor limit leaves room for). */
mc_http_conns_t *mc_http_conns_new(struct event_base *base, struct evhttp *http, double deadline,
                                   size_t max, mc_error_t *e);

/* A request of one of the connections is read whole: its deadline
 * starts again, for the next request. */
void mc_http_conns_request_done(mc_http_conns_t *c, struct evhttp_request *req);

mc_http_conns_stats_t mc_http_conns_stats(const mc_http_conns_t *c);

/* After evhttp_free (which closes the connections). */
void mc_http_conns_free(mc_http_conns_t *c);

#endif
