#include "sched.h"

#include <stdlib.h>

#include <event2/event.h>

typedef struct {
  mc_pool_opts_t o;
  mc_pool_t *pool;
} dest_t;

struct mc_sched {
  struct event_base *base;
  dest_t **dests;
  size_t ndests, cap;
  mc_job_t *done_head, *done_tail;
  size_t ndone;
  size_t submitted;      /* not yet taken */
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


mc_pool_t *mc_sched_add(mc_sched_t *s, const mc_route_t *route, const mc_pool_opts_t *o) {
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
  d->pool = mc_pool_new(s->base, route, &d->o, on_done, s);
  if (d->pool == NULL) { free(d); return NULL; }
  s->dests[s->ndests++] = d;
  return d->pool;
}


int mc_sched_submit(mc_sched_t *s, mc_pool_t *pool, mc_job_t *job) {
  if (mc_pool_submit(pool, job) != 0) return -1;
  s->submitted++;
  return 0;
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
  struct timeval tv = mc_timeval(timeout);
  evtimer_add(s->timer, &tv);
  /* With nothing submitted the loop still turns while sessions are open:
   * their idle timers fire and servers that close them are noticed. */
  while (s->ndone == 0 && !s->released &&
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
  return job;
}


size_t mc_sched_pending(const mc_sched_t *s) { return s->submitted; }


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


void mc_sched_free(mc_sched_t *s) {
  if (s == NULL) return;
  for (size_t i = 0; i < s->ndests; i++) {
    mc_pool_free(s->dests[i]->pool);
    free(s->dests[i]);
  }
  free(s->dests);
  if (s->timer) event_free(s->timer);
  free(s);
}
