/* Sending a batch of transactions to one destination: up to
 * `connections` sessions at once, each carrying up to
 * `messages_per_connection` transactions before it says QUIT and a new
 * one takes its place, within a rate limit that halves at once when the
 * server says it is overloaded (421, "too many ...", "try again later")
 * and grows back a step with every delivery (additive increase,
 * multiplicative decrease). */
#ifndef MC_SMTP_POOL_H
#define MC_SMTP_POOL_H

#include "smtp_session.h"

typedef enum { MC_RCPT_SENT, MC_RCPT_DEFERRED, MC_RCPT_FAILED } mc_rcpt_status_t;

typedef struct {
  mc_txn_t txn;                 /* set by the caller */
  mc_rcpt_result_t *results;    /* one per recipient, filled by the run */
  size_t nresults;
  char *tls;                    /* the TLS of the session that carried it */
  char *peer;                   /* "name [address]" of the server it went to */
  int attempts;                 /* transactions tried (0: never reached a session) */
} mc_job_t;

typedef struct {
  size_t connections;              /* at most this many sessions at once */
  size_t messages_per_connection;  /* then QUIT and reconnect */
  double rate;                     /* messages per second; 0: no limit */
  double connect_rate;             /* new connections per second; 0: no limit */
  int connect_attempts;            /* consecutive failed connections before the rest is given up */
} mc_pool_opts_t;

/* What the destination's traffic shaping looks like now. */
typedef struct {
  double connections;    /* current limit (can be fractional while it grows) */
  double rate;           /* current messages per second (0: no limit) */
  size_t backoffs;       /* times the server told us to slow down */
  size_t sessions;       /* connections opened */
  size_t transactions;
} mc_pool_state_t;

void mc_pool_opts_init(mc_pool_opts_t *o);

/* Runs every job to an outcome (nothing is left untried without a
 * reason in its results). Returns 0, or -1 on a local failure (e). */
int mc_pool_run(struct event_base *base, const mc_route_t *route, mc_job_t *jobs,
                size_t njobs, const mc_pool_opts_t *o, mc_pool_state_t *state, mc_error_t *e);

/* How a recipient's result counts: sent, deferred (4xx or no reply) or
 * failed (5xx). */
mc_rcpt_status_t mc_rcpt_status(const mc_rcpt_result_t *r);

void mc_job_clear(mc_job_t *job);

#endif
