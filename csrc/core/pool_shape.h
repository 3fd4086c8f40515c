/* A destination's traffic shaping: the connection limit and message rate
 * it keeps to, moved by the server's pushback (additive increase,
 * multiplicative decrease). No I/O and no clock of its own: the pool
 * tells it what happened, and when, and reads the limits back.
 *
 * - connections: learned from refused connections (the number that got
 *   through), halved by a 421 or a round of failed connections, grown
 *   back by one per so many deliveries on each connection, less often
 *   each time the server refuses the one more;
 * - rate: halved by "try again later" and the like (a destination
 *   without a rate gets one: half what it was sending), grown back by a
 *   tenth of itself per second of deliveries to where it was. */
#ifndef MC_POOL_SHAPE_H
#define MC_POOL_SHAPE_H

#include <stddef.h>

/* What the destination's traffic shaping looks like now. */
typedef struct {
  double connections;    /* current limit (can be fractional while it grows) */
  double rate;           /* current messages per second (0: no limit) */
  size_t backoffs;       /* times the server told us to slow down */
  size_t sessions;       /* connections opened */
  size_t transactions;
  size_t refused;        /* connections refused while others worked */
  size_t requeued;       /* transactions told to try again later, sent again */
} mc_pool_state_t;

#define MC_SHAPE_SAMPLES 32   /* transactions behind a rate made up for a destination */

typedef struct {
  mc_pool_state_t st;
  size_t max_connections;         /* configured */
  size_t messages_per_connection;
  double max_rate;                /* configured; 0: none */
  size_t learned;                 /* the connection limit the server last showed */
  int probe_misses;               /* times in a row it showed it */
  double rate_ceiling;            /* where a cut rate grows back to */
  double rate_step;               /* messages per second it grows by per second */
  double cut_at, grown_at;
  double sent_at[MC_SHAPE_SAMPLES];   /* when the last transactions started */
  size_t nsent;
} mc_shape_t;

void mc_shape_init(mc_shape_t *sh, size_t connections, size_t messages_per_connection, double rate);

/* Whether a reply asks us to send more slowly: a 4xx that says so in
 * one of the ways large providers phrase it, and is not about this
 * message (greylisting, too many recipients, an enhanced code of class
 * x.1, x.2, x.5 or x.6). */
int mc_shape_slower(int code, const char *enhanced, const char *text);

/* A transaction started at time t. */
void mc_shape_sent(mc_shape_t *sh, double t);

/* The server said "try again later" to a transaction started at
 * `started`: the rate halves, unless a cut since then answered it. */
void mc_shape_cut_rate(mc_shape_t *sh, double started, double t);

/* A delivery at time t: the limits grow back. */
void mc_shape_delivered(mc_shape_t *sh, double t);

void mc_shape_halve_connections(mc_shape_t *sh);

/* The server refused a connection while `allowed` of ours were open. */
void mc_shape_refused(mc_shape_t *sh, size_t allowed);

/* `open` sessions are through the greeting now: more than the server
 * last allowed means it takes more again. */
void mc_shape_opened(mc_shape_t *sh, size_t open);

/* 1 while the limits are below the configured ones. */
int mc_shape_held(const mc_shape_t *sh);

#endif
