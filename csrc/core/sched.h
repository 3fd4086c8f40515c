/* The scheduler: every destination of a run on one event loop. Jobs are
 * submitted to destinations at any time; run() turns the loop until some
 * have their outcome (or a time passes), and take() hands them back one
 * by one, so the caller can record outcomes while the sessions of every
 * destination stay open and go on with their queues.
 *
 * A destination may keep a window: at most that many of its jobs are on
 * their way or done and not yet acknowledged by the caller (taken,
 * handed over, and acknowledged once recorded); the rest wait in its
 * backlog, in turns by share (backlog.h). With the window at connections
 * x messages per connection, a crash sends at most that many messages
 * of a destination twice. */
#ifndef MC_SCHED_H
#define MC_SCHED_H

#include "smtp_pool.h"

typedef struct mc_sched mc_sched_t;
typedef struct mc_dest mc_dest_t;

mc_sched_t *mc_sched_new(struct event_base *base);

/* A new destination with its own copy of o and a window of window jobs
 * (0: none); route must outlive the scheduler. NULL when out of memory. */
mc_dest_t *mc_sched_add(mc_sched_t *s, const mc_route_t *route, const mc_pool_opts_t *o, size_t window);

/* The connections of a destination. */
mc_pool_t *mc_sched_pool(mc_dest_t *d);

/* Queues job on destination d in share's turn (weight: its part of the
 * destination against the other shares'): 0, or -1 when out of memory. */
int mc_sched_submit(mc_sched_t *s, mc_dest_t *d, mc_job_t *job, unsigned long share, double weight);

/* The jobs taken since the last call are handed to the caller: they stay
 * in their destination's window until acknowledged. */
void mc_sched_hand(mc_sched_t *s);

/* The jobs handed over before are recorded: their room in the windows
 * goes to the backlogs. 0, or -1 when out of memory. */
int mc_sched_ack(mc_sched_t *s);

/* Turns the loop until a job is done, timeout seconds pass, or nothing
 * is pending and no session is open. 0, or -1 when a local failure (out
 * of memory) lost a job. */
int mc_sched_run(mc_sched_t *s, double timeout);

/* Work outside the destinations that the caller waits for too (an MX
 * look-up): run() keeps turning the loop while any is held, and returns
 * once one is released, as it does when a job has its outcome. */
void mc_sched_hold(mc_sched_t *s);
void mc_sched_release(mc_sched_t *s);

/* The next job that has its outcome, or NULL. */
mc_job_t *mc_sched_take(mc_sched_t *s);

/* Jobs on their way (out of the backlogs) and not yet taken. */
size_t mc_sched_pending(const mc_sched_t *s);

/* Jobs waiting in the backlogs for room in a window. */
size_t mc_sched_queued(const mc_sched_t *s);

/* Jobs taken and not yet acknowledged, over every window. */
size_t mc_sched_unacked(const mc_sched_t *s);

/* Sessions holding a connection, over every destination. */
size_t mc_sched_active(const mc_sched_t *s);

/* Destinations that gave up connecting and are waiting to try again. */
size_t mc_sched_down(const mc_sched_t *s);

/* Destinations the servers' pushback holds below their limits (fewer
 * connections, a lower rate), or down: how many, and the connections
 * and messages per second they are held to, summed. */
typedef struct {
  size_t destinations;
  size_t connections;
  double rate;          /* 0: none of them keeps to a rate */
} mc_sched_backoff_t;

void mc_sched_backoff(const mc_sched_t *s, mc_sched_backoff_t *b);

/* Stops new transactions: idle sessions say QUIT now, busy ones after
 * the transaction they are in; then turns the loop until every session
 * is closed or grace seconds pass. Queued jobs (backlogs too) stay. */
void mc_sched_drain(mc_sched_t *s, double grace);

/* A destination nothing more will be submitted to (a route of a hook's
 * that no call uses any more): once the jobs it has are done, its
 * sessions say QUIT. */
void mc_sched_retire(mc_dest_t *d);

/* 1 when the retired destination d is done: no job waiting, on its way
 * or not yet acknowledged, and no session holding a connection. Its
 * sessions are told to close here, once its jobs are done: the caller
 * asks after each turn of the loop and each acknowledgement. */
int mc_sched_retired(mc_dest_t *d);

/* Frees a destination mc_sched_retired says is done, and forgets it. */
void mc_sched_remove(mc_sched_t *s, mc_dest_t *d);

/* Frees every destination (connections dropped); jobs not taken (in a
 * backlog too) are the caller's to free. */
void mc_sched_free(mc_sched_t *s);

#endif
