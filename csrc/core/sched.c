#include "sched.h"
#include "loop.h"

#include <stdlib.h>

#include <event2/event.h>

#include "backlog.h"

typedef struct mc_dest dest_t;

struct mc_dest {
  mc_pool_opts_t o;
  mc_pool_t *pool;
  size_t window;         /* 0: none */
  size_t inflight;       /* out of the backlog and not yet acknowledged */
  size_t taken;          /* taken since the last hand() */
  size_t handed;         /* handed over and not yet acknowledged */
  mc_backlog_t backlog;
  int retired;           /* nothing more comes (mc_sched_retire) */
  int draining;          /* its sessions were told to close */
};

struct mc_sched {
  struct event_base *base;
  dest_t **dests;
  size_t ndests, cap;
  mc_job_t *done_head, *done_tail;
  size_t ndone;
  size_t submitted;      /* on a destination's connections and not yet taken */
  size_t queued;         /* in the backlogs */
  size_t unacked;        /* taken and not yet acknowledged */
  struct event *timer;   /* the end of one run() */
  int timed_out;
  size_t held;           /* look-ups out (mc_sched_hold) */
  int released;          /* one came back during this run() */
};


mc_sched_t *mc_sched_new(struct event_base *base) {
  mc_sched_t *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->base = base;
  return s;
}


static void on_done(mc_job_t *job, void *arg) {
  mc_sched_t *s = arg;
  job->next = NULL;
  if (s->done_tail) s->done_tail->next = job;
  else s->done_head = job;
  s->done_tail = job;
  s->ndone++;
}


mc_dest_t *mc_sched_add(mc_sched_t *s, const mc_route_t *route, const mc_pool_opts_t *o, size_t window) {
  if (s->ndests == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    dest_t **d = realloc(s->dests, cap * sizeof *d);
    if (d == NULL) return NULL;
    s->dests = d;
    s->cap = cap;
  }
  dest_t *d = calloc(1, sizeof *d);
  if (d == NULL) return NULL;
  d->o = *o;
  d->window = window;
  d->pool = mc_pool_new(s->base, route, &d->o, on_done, s);
  if (d->pool == NULL) { free(d); return NULL; }
  s->dests[s->ndests++] = d;
  return d;
}


mc_pool_t *mc_sched_pool(mc_dest_t *d) { return d->pool; }


/* Moves backlog jobs onto the destination's connections while its window
 * has room. */
static int feed(mc_sched_t *s, dest_t *d) {
  while (d->backlog.waiting > 0 && (d->window == 0 || d->inflight < d->window)) {
    size_t queue;
    mc_job_t *job = mc_backlog_pop(&d->backlog, &queue);
    if (mc_pool_submit(d->pool, job) != 0) {
      mc_backlog_unpop(&d->backlog, queue, job);
      return -1;
    }
    s->queued--;
    s->submitted++;
    d->inflight++;
  }
  return 0;
}


int mc_sched_submit(mc_sched_t *s, mc_dest_t *d, mc_job_t *job, unsigned long share, double weight) {
  if (mc_backlog_push(&d->backlog, job, share, weight) != 0) return -1;
  job->dest = d;
  s->queued++;
  return feed(s, d);
}


void mc_sched_hand(mc_sched_t *s) {
  for (size_t i = 0; i < s->ndests; i++) {
    dest_t *d = s->dests[i];
    d->handed += d->taken;
    d->taken = 0;
  }
}


int mc_sched_ack(mc_sched_t *s) {
  int rc = 0;
  for (size_t i = 0; i < s->ndests; i++) {
    dest_t *d = s->dests[i];
    if (d->handed == 0) continue;
    d->inflight -= d->handed;
    s->unacked -= d->handed;
    d->handed = 0;
    if (feed(s, d) != 0) rc = -1;
  }
  return rc;
}


static int any_failed(const mc_sched_t *s) {
  for (size_t i = 0; i < s->ndests; i++)
    if (mc_pool_failed(s->dests[i]->pool)) return 1;
  return 0;
}


static void on_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  ((mc_sched_t *)arg)->timed_out = 1;
}


int mc_sched_run(mc_sched_t *s, double timeout) {
  if (s->timer == NULL) s->timer = evtimer_new(s->base, on_timer, s);
  if (s->timer == NULL) return -1;
  s->timed_out = 0;
  s->released = 0;
  unsigned long wakes = mc_loop_wakes();
  struct timeval tv = mc_timeval(timeout);
  evtimer_add(s->timer, &tv);
  /* With nothing submitted the loop still turns while sessions are open:
   * their idle timers fire and servers that close them are noticed. */
  while (s->ndone == 0 && !s->released && mc_loop_wakes() == wakes &&
         (s->submitted > 0 || s->held > 0 || mc_sched_active(s) > 0) && !s->timed_out &&
         !any_failed(s)) {
    if (event_base_loop(s->base, EVLOOP_ONCE) != 0) break;
  }
  evtimer_del(s->timer);
  return any_failed(s) ? -1 : 0;
}


void mc_sched_hold(mc_sched_t *s) { s->held++; }


void mc_sched_release(mc_sched_t *s) {
  if (s->held > 0) s->held--;
  s->released = 1;
}


mc_job_t *mc_sched_take(mc_sched_t *s) {
  mc_job_t *job = s->done_head;
  if (job == NULL) return NULL;
  s->done_head = job->next;
  if (s->done_head == NULL) s->done_tail = NULL;
  job->next = NULL;
  s->ndone--;
  s->submitted--;
  s->unacked++;
  job->dest->taken++;
  return job;
}


size_t mc_sched_pending(const mc_sched_t *s) { return s->submitted; }


size_t mc_sched_queued(const mc_sched_t *s) { return s->queued; }


size_t mc_sched_unacked(const mc_sched_t *s) { return s->unacked; }


size_t mc_sched_active(const mc_sched_t *s) {
  size_t n = 0;
  for (size_t i = 0; i < s->ndests; i++) n += mc_pool_active(s->dests[i]->pool);
  return n;
}


size_t mc_sched_down(const mc_sched_t *s) {
  size_t n = 0;
  for (size_t i = 0; i < s->ndests; i++) n += mc_pool_down_for(s->dests[i]->pool) > 0;
  return n;
}


void mc_sched_backoff(const mc_sched_t *s, mc_sched_backoff_t *b) {
  b->destinations = b->connections = 0;
  b->rate = 0;
  for (size_t i = 0; i < s->ndests; i++) {
    const mc_pool_t *pool = s->dests[i]->pool;
    if (!mc_pool_backing_off(pool)) continue;
    const mc_pool_state_t *st = mc_pool_state(pool);
    b->destinations++;
    b->connections += (size_t)st->connections;
    b->rate += st->rate;
  }
}


void mc_sched_drain(mc_sched_t *s, double grace) {
  for (size_t i = 0; i < s->ndests; i++) mc_pool_drain(s->dests[i]->pool);
  if (s->timer == NULL) s->timer = evtimer_new(s->base, on_timer, s);
  if (s->timer == NULL) return;
  s->timed_out = 0;
  struct timeval tv = mc_timeval(grace);
  evtimer_add(s->timer, &tv);
  while (mc_sched_active(s) > 0 && !s->timed_out) {
    if (event_base_loop(s->base, EVLOOP_ONCE) != 0) break;
  }
  evtimer_del(s->timer);
}


void mc_sched_retire(mc_dest_t *d) { d->retired = 1; }


int mc_sched_retired(mc_dest_t *d) {
  if (!d->retired || d->backlog.waiting > 0 || mc_pool_pending(d->pool) > 0) return 0;
  /* (a draining pool starts no session: its jobs had to be done first) */
  if (!d->draining) {
    mc_pool_drain(d->pool);
    d->draining = 1;
  }
  return d->inflight == 0 && d->taken == 0 && d->handed == 0 && mc_pool_active(d->pool) == 0;
}


static void free_dest(dest_t *d) {
  mc_pool_free(d->pool);
  mc_backlog_free(&d->backlog);
  free(d);
}


void mc_sched_remove(mc_sched_t *s, mc_dest_t *d) {
  for (size_t i = 0; i < s->ndests; i++) {
    if (s->dests[i] != d) continue;
    s->dests[i] = s->dests[--s->ndests];   /* (the order of the others does not matter) */
    free_dest(d);
    return;
  }
}


void mc_sched_free(mc_sched_t *s) {
  if (s == NULL) return;
  for (size_t i = 0; i < s->ndests; i++) free_dest(s->dests[i]);
  free(s->dests);
  if (s->timer) event_free(s->timer);
  free(s);
}
