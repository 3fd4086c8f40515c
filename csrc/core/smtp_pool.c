#include "smtp_pool.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

typedef enum { SLOT_IDLE, SLOT_OPENING, SLOT_READY, SLOT_BUSY, SLOT_QUITTING } slot_state_t;

typedef struct pool pool_t;

typedef struct {
  pool_t *pool;
  mc_session_t *session;
  mc_job_t *job;
  size_t done_here;      /* transactions on this connection */
  slot_state_t state;
  struct event *wait;    /* a rate-limit pause before the next transaction */
} slot_t;

struct pool {
  struct event_base *base;
  const mc_route_t *route;
  const mc_pool_opts_t *o;
  mc_job_t *jobs;
  size_t njobs, next, finished;
  slot_t *slots;
  size_t nslots;
  mc_pool_state_t *st;
  int connect_failures;  /* in a row */
  double next_send_at, next_connect_at;
  struct event *pump_timer;
  int failed;            /* local failure: out of memory */
};


static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


void mc_pool_opts_init(mc_pool_opts_t *o) {
  memset(o, 0, sizeof *o);
  o->connections = 1;
  o->messages_per_connection = 10;
  o->connect_attempts = 3;
}


mc_rcpt_status_t mc_rcpt_status(const mc_rcpt_result_t *r) {
  if (r->sent) return MC_RCPT_SENT;
  if (r->code / 100 == 5) return MC_RCPT_FAILED;
  return MC_RCPT_DEFERRED;
}


void mc_job_clear(mc_job_t *job) {
  for (size_t i = 0; i < job->nresults; i++) free(job->results[i].text);
  free(job->results);
  free(job->tls);
  free(job->peer);
  job->results = NULL;
  job->nresults = 0;
  job->tls = NULL;
  job->peer = NULL;
}


/* The reply says the server is overloaded or limiting us: 421, or a 4xx
 * whose text says so in one of the ways large providers phrase it. */
static int overloaded(int code, const char *text) {
  static const char *const phrases[] = {
    "too many", "try again later", "try later", "rate limit", "ratelimit",
    "throttl", "temporarily deferred", "slow down", "exceeded",
  };
  if (code == 421) return 1;
  if (code / 100 != 4 || text == NULL) return 0;
  for (size_t i = 0; i < sizeof phrases / sizeof phrases[0]; i++)
    if (strcasestr(text, phrases[i])) return 1;
  return 0;
}


static void slow_down(pool_t *p) {
  mc_pool_state_t *st = p->st;
  st->backoffs++;
  st->connections = st->connections / 2 < 1 ? 1 : st->connections / 2;
  if (st->rate > 0) {
    double floor_rate = p->o->rate / 64;
    st->rate = st->rate / 2 < floor_rate ? floor_rate : st->rate / 2;
  }
}


static void speed_up(pool_t *p) {
  mc_pool_state_t *st = p->st;
  double max = (double)p->o->connections;
  st->connections += 1.0 / st->connections;   /* one more per "window" of deliveries */
  if (st->connections > max) st->connections = max;
  if (p->o->rate > 0) {
    st->rate += p->o->rate / 20;
    if (st->rate > p->o->rate) st->rate = p->o->rate;
  }
}


/* Sessions that hold a connection (quitting ones too). */
static size_t active(const pool_t *p) {
  size_t n = 0;
  for (size_t i = 0; i < p->nslots; i++) n += p->slots[i].state != SLOT_IDLE;
  return n;
}


/* Sessions that count against the connection limit: not on their way out. */
static size_t working(const pool_t *p) {
  size_t n = 0;
  for (size_t i = 0; i < p->nslots; i++)
    n += p->slots[i].state != SLOT_IDLE && p->slots[i].state != SLOT_QUITTING;
  return n;
}


static void maybe_done(pool_t *p) {
  if (p->finished == p->njobs && active(p) == 0) event_base_loopexit(p->base, NULL);
}


static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }


/* Gives every job not yet started the same outcome: a connection that
 * could not be made, with the server's reply when there was one. */
static void give_up_rest(pool_t *p, const mc_error_t *e, const mc_reply_t *r) {
  for (; p->next < p->njobs; p->next++) {
    mc_job_t *job = &p->jobs[p->next];
    job->nresults = job->txn.nrcpts;
    job->results = calloc(job->nresults ? job->nresults : 1, sizeof *job->results);
    if (job->results == NULL) { p->failed = 1; job->nresults = 0; }
    for (size_t i = 0; i < job->nresults; i++) {
      mc_rcpt_result_t *res = &job->results[i];
      res->code = r && r->code ? r->code : 0;
      if (r) memcpy(res->enhanced, r->enhanced, sizeof res->enhanced);
      res->text = dup_or_empty(e->msg);
    }
    p->finished++;
  }
}


static void pump(pool_t *p);
static void next_txn(slot_t *slot);


static void on_pump_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  pump(arg);
}


static void schedule_pump(pool_t *p, double delay) {
  struct timeval tv = mc_timeval(delay);
  evtimer_add(p->pump_timer, &tv);
}


static void release(slot_t *slot) {
  mc_session_free(slot->session);
  slot->session = NULL;
  slot->state = SLOT_IDLE;
  slot->done_here = 0;
}


static void on_quit(mc_session_t *s, void *arg) {
  slot_t *slot = arg;
  (void)s;
  release(slot);
  pump(slot->pool);
}


static void quit(slot_t *slot) {
  slot->state = SLOT_QUITTING;
  mc_session_quit(slot->session, on_quit, slot);
}


static void copy_results(mc_job_t *job, mc_session_t *s) {
  size_t n;
  const mc_rcpt_result_t *res = mc_session_results(s, &n);
  mc_job_clear(job);
  job->results = calloc(n ? n : 1, sizeof *job->results);
  if (job->results == NULL) return;
  job->nresults = n;
  for (size_t i = 0; i < n; i++) {
    job->results[i] = res[i];
    job->results[i].text = dup_or_empty(res[i].text);
  }
  const char *tls = mc_session_tls(s);
  if (tls) job->tls = strdup(tls);
  job->peer = strdup(mc_session_peer(s));
}


static void on_txn(mc_session_t *s, void *arg) {
  slot_t *slot = arg;
  pool_t *p = slot->pool;
  mc_job_t *job = slot->job;
  slot->job = NULL;
  copy_results(job, s);
  if (job->results == NULL) p->failed = 1;
  p->finished++;
  p->st->transactions++;
  int sent = 0, slow = 0;
  for (size_t i = 0; i < job->nresults; i++) {
    sent |= job->results[i].sent;
    slow |= overloaded(job->results[i].code, job->results[i].text);
  }
  if (slow) slow_down(p);
  else if (sent) speed_up(p);
  slot->done_here++;
  if (!mc_session_usable(s)) {
    release(slot);
    pump(p);
    return;
  }
  slot->state = SLOT_READY;
  next_txn(slot);
}


static void on_wait(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  next_txn(arg);
}


static void next_txn(slot_t *slot) {
  pool_t *p = slot->pool;
  size_t limit = (size_t)p->st->connections;
  if (p->next >= p->njobs || slot->done_here >= p->o->messages_per_connection ||
      working(p) > (limit ? limit : 1)) {
    quit(slot);
    return;
  }
  if (p->st->rate > 0) {
    double t = now();
    if (t < p->next_send_at) {
      struct timeval tv = mc_timeval(p->next_send_at - t);
      evtimer_add(slot->wait, &tv);
      return;
    }
    p->next_send_at = (t > p->next_send_at ? t : p->next_send_at) + 1.0 / p->st->rate;
  }
  mc_job_t *job = &p->jobs[p->next++];
  job->attempts++;
  slot->job = job;
  slot->state = SLOT_BUSY;
  mc_session_transaction(slot->session, &job->txn, on_txn, slot);
}


static void on_open(mc_session_t *s, void *arg) {
  slot_t *slot = arg;
  pool_t *p = slot->pool;
  const mc_error_t *e;
  if (mc_session_status(s, &e) != 0) {
    const mc_reply_t *r = mc_session_reply(s);
    if (overloaded(r->code, r->text.data)) slow_down(p);
    p->connect_failures++;
    /* A 5xx greeting is final; otherwise a few more tries first. */
    if (r->code / 100 == 5 || p->connect_failures >= p->o->connect_attempts) {
      mc_error_t copy = *e;
      mc_reply_t reply = *r;   /* borrowed until release() */
      give_up_rest(p, &copy, &reply);
      release(slot);
      maybe_done(p);
      return;
    }
    release(slot);
    schedule_pump(p, 0.2 * p->connect_failures);
    return;
  }
  p->connect_failures = 0;
  slot->state = SLOT_READY;
  next_txn(slot);
}


static void pump(pool_t *p) {
  size_t limit = (size_t)p->st->connections;
  if (limit < 1) limit = 1;
  for (size_t i = 0; i < p->nslots && p->next < p->njobs; i++) {
    slot_t *slot = &p->slots[i];
    if (slot->state != SLOT_IDLE) continue;
    /* Sessions not yet busy take jobs too: don't open more than needed. */
    size_t opening = 0;
    for (size_t k = 0; k < p->nslots; k++) opening += p->slots[k].state == SLOT_OPENING;
    if (working(p) >= limit || opening >= p->njobs - p->next) break;
    if (p->o->connect_rate > 0) {
      double t = now();
      if (t < p->next_connect_at) { schedule_pump(p, p->next_connect_at - t); break; }
      p->next_connect_at = t + 1.0 / p->o->connect_rate;
    }
    slot->session = mc_session_new(p->base, p->route);
    if (slot->session == NULL) { p->failed = 1; break; }
    slot->state = SLOT_OPENING;
    p->st->sessions++;
    mc_session_open(slot->session, on_open, slot);
  }
  maybe_done(p);
}


int mc_pool_run(struct event_base *base, const mc_route_t *route, mc_job_t *jobs,
                size_t njobs, const mc_pool_opts_t *o, mc_pool_state_t *state, mc_error_t *e) {
  pool_t p = {0};
  p.base = base;
  p.route = route;
  p.o = o;
  p.jobs = jobs;
  p.njobs = njobs;
  p.st = state;
  memset(state, 0, sizeof *state);
  state->connections = (double)(o->connections ? o->connections : 1);
  state->rate = o->rate;
  p.nslots = o->connections ? o->connections : 1;
  p.slots = calloc(p.nslots, sizeof *p.slots);
  p.pump_timer = evtimer_new(base, on_pump_timer, &p);
  int rc = -1;
  if (p.slots == NULL || p.pump_timer == NULL) goto done;
  for (size_t i = 0; i < p.nslots; i++) {
    p.slots[i].pool = &p;
    p.slots[i].wait = evtimer_new(base, on_wait, &p.slots[i]);
    if (p.slots[i].wait == NULL) goto done;
  }
  if (njobs == 0) { rc = 0; goto done; }
  pump(&p);
  event_base_dispatch(base);
  rc = p.failed ? -1 : 0;
done:
  if (rc != 0) mc_error_set(e, "out of memory");
  for (size_t i = 0; p.slots && i < p.nslots; i++) {
    mc_session_free(p.slots[i].session);
    if (p.slots[i].wait) event_free(p.slots[i].wait);
  }
  free(p.slots);
  if (p.pump_timer) event_free(p.pump_timer);
  return rc;
}
