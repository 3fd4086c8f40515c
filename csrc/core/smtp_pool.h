/* A destination: transactions to one server (or MX host set) over up to
 * `connections` sessions at once, each carrying up to
 * `messages_per_connection` transactions before it says QUIT and a new
 * one takes its place, within a rate limit. The server's pushback shapes
 * both, as real servers give it:
 *
 * - a new connection refused (a 4xx greeting, or closed before EHLO is
 *   through) while others of ours are working: the server allows no
 *   more than those, and that becomes the connection limit, grown back
 *   by one now and then to see whether it still holds; nothing is
 *   deferred for it. Only when no connection at all can be made are the
 *   queued jobs given the failure (connect_attempts, down_time);
 * - "try again later", "rate limit", ... (a 4xx) to a transaction: the
 *   rate is halved (an unlimited destination gets one, half what it was
 *   sending) and grows back steadily while deliveries succeed (additive
 *   increase, multiplicative decrease); the job goes back to the queue,
 *   up to three transactions in all, instead of being deferred;
 * - a 421 to a transaction: the connection limit is halved, and the job
 *   goes again on a new connection as above.
 *
 * A pool lives as long as its owner wants: jobs are submitted at any
 * time, and a session with nothing to do waits `idle_timeout` seconds
 * for more before it says QUIT. */
#ifndef MC_SMTP_POOL_H
#define MC_SMTP_POOL_H

#include "buf.h"
#include "pool_shape.h"
#include "smtp_session.h"

typedef enum { MC_RCPT_SENT, MC_RCPT_DEFERRED, MC_RCPT_FAILED } mc_rcpt_status_t;

typedef struct mc_job {
  mc_txn_t txn;                 /* set by the caller */
  mc_rcpt_result_t *results;    /* one per recipient, filled by the run */
  size_t nresults;
  char *tls;                    /* the TLS of the session that carried it */
  char *peer;                   /* "name [address]" of the server it went to */
  int attempts;                 /* transactions tried (0: never reached a session) */
  double duration;              /* seconds its last transaction took */
  int retried_fresh;            /* sent again on a new connection after a stale one failed it */
  int alone;                    /* not to be sent ahead behind another (refused once) */
  int withdrawn;                /* its owner took it back: when its turn on a session
                                   comes, it is deferred unsent, with why */
  int taken_back;               /* withdrawn, and so it came back unsent */
  long long tag;                /* the owner's name for it */
  struct mc_dest *dest;         /* the scheduler's destination it counts against */
  struct mc_job *next;          /* the owner's list */
  mc_buf_t transcript;          /* with keep_transcripts, when not every recipient was
                                   sent: the last lines of its transaction (records,
                                   smtp_trace.h; at most MC_RING_LINES) */
} mc_job_t;

/* A line of a pool's session (smtp_trace.h), with the session's number
 * in the pool (1, 2, ... in the order they opened) and its time. */
typedef void (*mc_pool_trace_cb)(unsigned long session, mc_trace_kind_t kind, const char *line, size_t n,
                                 double time, void *arg);

typedef struct {
  size_t connections;              /* at most this many sessions at once */
  size_t messages_per_connection;  /* then QUIT and reconnect */
  double rate;                     /* messages per second; 0: no limit */
  double connect_rate;             /* new connections per second; 0: no limit */
  int connect_attempts;            /* consecutive failed connections before the rest is given up */
  double idle_timeout;             /* seconds an idle session waits for work; 0: QUIT at once */
  double down_time;                /* after giving up, seconds new jobs fail at once
                                      with the same reason instead of reconnecting */
  mc_pool_trace_cb trace;          /* told every line of every session; NULL: no one,
                                      and the sessions trace nothing */
  void *trace_arg;
  int keep_transcripts;            /* each session keeps its last lines in a ring, and a
                                      job not sent to every recipient gets those of its
                                      transaction (mc_job_t.transcript) */
} mc_pool_opts_t;

void mc_pool_opts_init(mc_pool_opts_t *o);

typedef struct mc_pool mc_pool_t;

/* Called once per job when it has its outcome (results filled in). */
typedef void (*mc_pool_done_cb)(mc_job_t *job, void *arg);

/* route and o must outlive the pool. NULL when out of memory. */
mc_pool_t *mc_pool_new(struct event_base *base, const mc_route_t *route,
                       const mc_pool_opts_t *o, mc_pool_done_cb done, void *arg);

/* Queues a job (the caller keeps it until done is called for it):
 * 0, or -1 when out of memory (the job is then not queued). */
int mc_pool_submit(mc_pool_t *p, mc_job_t *job);

/* Jobs queued or on a session. */
size_t mc_pool_pending(const mc_pool_t *p);

/* Sessions holding a connection (closing ones too). */
size_t mc_pool_active(const mc_pool_t *p);

/* Seconds until the destination takes new work again after it gave up
 * connecting (0: it is not down). */
double mc_pool_down_for(const mc_pool_t *p);

/* 1 while the destination is held below its configured limits by the
 * server's pushback (fewer connections, a lower rate) or is down. */
int mc_pool_backing_off(const mc_pool_t *p);

/* 1 after a local failure (out of memory) lost track of a job. */
int mc_pool_failed(const mc_pool_t *p);

const mc_pool_state_t *mc_pool_state(const mc_pool_t *p);

/* Idle sessions say QUIT now and busy ones after their transaction;
 * jobs still queued stay queued. */
void mc_pool_drain(mc_pool_t *p);

/* Drops every connection at once; jobs not done are the caller's again
 * (done is not called for them). */
void mc_pool_free(mc_pool_t *p);

/* Runs every job to an outcome on a pool of its own (nothing is left
 * untried without a reason in its results). Returns 0, or -1 on a local
 * failure (e). */
int mc_pool_run(struct event_base *base, const mc_route_t *route, mc_job_t *jobs,
                size_t njobs, const mc_pool_opts_t *o, mc_pool_state_t *state, mc_error_t *e);

/* How a recipient's result counts: sent, deferred (4xx or no reply) or
 * failed (5xx). */
mc_rcpt_status_t mc_rcpt_status(const mc_rcpt_result_t *r);

void mc_job_clear(mc_job_t *job);

#endif
