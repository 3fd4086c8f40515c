/* A destination's backlog: the jobs waiting for room in its window, one
 * queue per share (a campaign, when several send through the same
 * destination), taken from in turns weighted by the shares' weights
 * (stride scheduling), so a newsletter of a million does not starve an
 * announcement of five hundred. Jobs are linked through job->next; the
 * backlog owns none of them. */
#ifndef MC_BACKLOG_H
#define MC_BACKLOG_H

#include <stddef.h>

#include "smtp_pool.h"

typedef struct {
  unsigned long share;     /* the caller's name for it */
  double weight;           /* > 0: its part of the destination */
  double pass;             /* the turns it has had, over its weight */
  mc_job_t *head, *tail;
} mc_share_queue_t;

typedef struct {
  mc_share_queue_t *queues;
  size_t nqueues, cap;
  double clock;            /* the pass of the last turn taken */
  size_t waiting;          /* jobs over every queue */
} mc_backlog_t;

/* Appends job to share's queue (made on first use with weight; a
 * weight <= 0 counts as 1). 0, or -1 when out of memory. */
int mc_backlog_push(mc_backlog_t *b, mc_job_t *job, unsigned long share, double weight);

/* The next job in turn, or NULL when none waits; *queue says whose it
 * was, for mc_backlog_unpop. */
mc_job_t *mc_backlog_pop(mc_backlog_t *b, size_t *queue);

/* Puts back at the head of its queue a job just popped (a destination
 * that could not take it), undoing the turn. */
void mc_backlog_unpop(mc_backlog_t *b, size_t queue, mc_job_t *job);

/* Frees the queues (not the jobs). */
void mc_backlog_free(mc_backlog_t *b);

#endif
