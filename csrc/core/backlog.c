#include "backlog.h"

#include <stdlib.h>


static mc_share_queue_t *queue_of(mc_backlog_t *b, unsigned long share, double weight) {
  for (size_t i = 0; i < b->nqueues; i++)
    if (b->queues[i].share == share) return &b->queues[i];
  if (b->nqueues == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 2;
    mc_share_queue_t *q = realloc(b->queues, cap * sizeof *q);
    if (q == NULL) return NULL;
    b->queues = q;
    b->cap = cap;
  }
  mc_share_queue_t *q = &b->queues[b->nqueues++];
  q->share = share;
  q->weight = weight > 0 ? weight : 1;
  q->pass = b->clock;
  q->head = q->tail = NULL;
  return q;
}


int mc_backlog_push(mc_backlog_t *b, mc_job_t *job, unsigned long share, double weight) {
  mc_share_queue_t *q = queue_of(b, share, weight);
  if (q == NULL) return -1;
  /* Back after it had nothing: it starts level with the others, not
   * with the turns it missed while it was empty. */
  if (q->head == NULL && q->pass < b->clock) q->pass = b->clock;
  job->next = NULL;
  if (q->tail) q->tail->next = job;
  else q->head = job;
  q->tail = job;
  b->waiting++;
  return 0;
}


mc_job_t *mc_backlog_pop(mc_backlog_t *b, size_t *queue) {
  if (b->waiting == 0) return NULL;
  /* The queue with jobs that has had the least of the destination for
   * its weight. */
  size_t best = b->nqueues;
  for (size_t i = 0; i < b->nqueues; i++) {
    const mc_share_queue_t *q = &b->queues[i];
    if (q->head && (best == b->nqueues || q->pass < b->queues[best].pass)) best = i;
  }
  mc_share_queue_t *q = &b->queues[best];
  mc_job_t *job = q->head;
  q->head = job->next;
  if (q->head == NULL) q->tail = NULL;
  job->next = NULL;
  b->waiting--;
  if (b->nqueues > 1) {
    b->clock = q->pass;
    q->pass += 1.0 / q->weight;
  }
  *queue = best;
  return job;
}


void mc_backlog_unpop(mc_backlog_t *b, size_t queue, mc_job_t *job) {
  mc_share_queue_t *q = &b->queues[queue];
  job->next = q->head;
  q->head = job;
  if (q->tail == NULL) q->tail = job;
  b->waiting++;
  if (b->nqueues > 1) q->pass -= 1.0 / q->weight;
}


void mc_backlog_free(mc_backlog_t *b) {
  free(b->queues);
  b->queues = NULL;
  b->nqueues = b->cap = 0;
  b->waiting = 0;
}
