#include "smtp_pool.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "smtp_trace_ring.h"

/* IDLE: no connection. WAITING: connected with nothing to do, for at
 * most idle_timeout seconds. */
typedef enum { SLOT_IDLE, SLOT_OPENING, SLOT_READY, SLOT_BUSY, SLOT_WAITING, SLOT_QUITTING } slot_state_t;

#define PUSHBACK_TRIES 3       /* transactions a job gets when told to try again later */

typedef struct {
  mc_pool_t *pool;
  mc_session_t *session;
  mc_job_t *jobs[2];     /* on the session, in order: one in progress and
                            one sent ahead behind its data */
  double started[2];
  unsigned long long mark[2];  /* where each job's lines begin in ring */
  unsigned long long replies[2];  /* where its replies begin (mc_ring_span_t) */
  size_t njobs;
  int ready;             /* the session could take a job ahead, and none was queued */
  int was_waiting;       /* the job went to a session that had been idle */
  size_t done_here;      /* transactions on this connection */
  slot_state_t state;
  struct event *wait;    /* a rate-limit pause before the next transaction */
  struct event *idle;    /* how long a WAITING session waits for work */
  unsigned long number;  /* the session's in the pool (mc_pool_trace_cb) */
  mc_trace_ring_t *ring; /* with keep_transcripts: its session's last lines */
  unsigned long long opened_at;   /* where the session's lines begin in ring */
} slot_t;

struct mc_pool {
  struct event_base *base;
  const mc_route_t *route;
  const mc_pool_opts_t *o;
  mc_pool_done_cb done;
  void *done_arg;
  mc_job_t **queue;      /* a ring of jobs not yet on a session */
  size_t qhead, qlen, qcap;
  size_t running;        /* jobs on sessions */
  slot_t *slots;
  size_t nslots;
  mc_shape_t shape;      /* the limits it keeps to, and its counts */
  int connect_failures;  /* in a row */
  double next_send_at, next_connect_at;
  size_t refusals;       /* connections refused while others were still opening:
                            judged once none is (connection_refused) */
  double down_until;     /* gave up connecting: new jobs fail at once until then */
  mc_error_t down_error;
  mc_reply_t down_reply; /* code and enhanced code only */
  struct event *pump_timer;
  int failed;            /* local failure: out of memory */
  int draining;
  const slot_t *gave_up_on;   /* while give_up runs: the session whose lines the jobs get */
};


#define RATE_CATCH_UP 0.05

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
  mc_buf_free(&job->transcript);
  for (size_t i = 0; i < job->nresults; i++) free(job->results[i].text);
  free(job->results);
  free(job->tls);
  free(job->peer);
  job->results = NULL;
  job->nresults = 0;
  job->tls = NULL;
  job->peer = NULL;
}


static size_t count_slots(const mc_pool_t *p, slot_state_t state) {
  size_t n = 0;
  for (size_t i = 0; i < p->nslots; i++) n += p->slots[i].state == state;
  return n;
}


size_t mc_pool_active(const mc_pool_t *p) { return p->nslots - count_slots(p, SLOT_IDLE); }


/* Sessions that count against the connection limit: not on their way out. */
static size_t working(const mc_pool_t *p) {
  return mc_pool_active(p) - count_slots(p, SLOT_QUITTING);
}


/* Sessions through the greeting and EHLO, quitting ones too: the server
 * counts them until they close. */
static size_t established(const mc_pool_t *p) {
  return mc_pool_active(p) - count_slots(p, SLOT_OPENING);
}


/* Sessions a new one would be one more than: while the server holds us
 * below the configured limit, quitting ones count until they are closed,
 * or the one that replaces them could be refused as one too many. */
static size_t occupying(const mc_pool_t *p) {
  if (p->shape.st.connections < (double)p->nslots) return established(p);
  return working(p) - count_slots(p, SLOT_OPENING);
}


size_t mc_pool_pending(const mc_pool_t *p) { return p->qlen + p->running; }


double mc_pool_down_for(const mc_pool_t *p) {
  double t = now();
  return p->down_until > t ? p->down_until - t : 0;
}


int mc_pool_failed(const mc_pool_t *p) { return p->failed; }


int mc_pool_backing_off(const mc_pool_t *p) {
  return mc_pool_down_for(p) > 0 || mc_shape_held(&p->shape);
}


const mc_pool_state_t *mc_pool_state(const mc_pool_t *p) { return &p->shape.st; }


static int make_room(mc_pool_t *p) {
  if (p->qlen < p->qcap) return 0;
  size_t cap = p->qcap ? p->qcap * 2 : 64;
  mc_job_t **q = malloc(cap * sizeof *q);
  if (q == NULL) return -1;
  for (size_t i = 0; i < p->qlen; i++) q[i] = p->queue[(p->qhead + i) % p->qcap];
  free(p->queue);
  p->queue = q;
  p->qcap = cap;
  p->qhead = 0;
  return 0;
}


static int enqueue(mc_pool_t *p, mc_job_t *job) {
  if (make_room(p) != 0) return -1;
  p->queue[(p->qhead + p->qlen) % p->qcap] = job;
  p->qlen++;
  return 0;
}


static mc_job_t *dequeue(mc_pool_t *p) {
  if (p->qlen == 0) return NULL;
  mc_job_t *job = p->queue[p->qhead];
  p->qhead = (p->qhead + 1) % p->qcap;
  p->qlen--;
  return job;
}


static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }


/* Gives a job the outcome of a connection that could not be made, with
 * the server's reply when there was one, and hands it back. */
static void fail_job(mc_pool_t *p, mc_job_t *job, const mc_error_t *e, const mc_reply_t *r) {
  mc_job_clear(job);
  job->nresults = job->txn.nrcpts;
  job->results = calloc(job->nresults ? job->nresults : 1, sizeof *job->results);
  if (job->results == NULL) { p->failed = 1; job->nresults = 0; }
  for (size_t i = 0; i < job->nresults; i++) {
    mc_rcpt_result_t *res = &job->results[i];
    res->code = r ? r->code : 0;
    if (r) memcpy(res->enhanced, r->enhanced, sizeof res->enhanced);
    res->text = dup_or_empty(e->msg);
  }
  const slot_t *slot = p->gave_up_on;
  if (slot && slot->ring) {
    mc_ring_span_t span = {slot->opened_at, (unsigned long long)-1, slot->opened_at};
    mc_trace_ring_copy(slot->ring, &span, &job->transcript);
  }
  p->done(job, p->done_arg);
}


/* Jobs at the head of the queue their owner took back (an operator's
 * cancel) go back to it unsent, before a session takes them: deferred,
 * with why, and without the transcript of a connection they never had. */
static void drop_withdrawn(mc_pool_t *p) {
  while (p->qlen > 0 && p->queue[p->qhead]->withdrawn) {
    mc_job_t *job = dequeue(p);
    job->taken_back = 1;
    mc_error_t e;
    mc_error_set(&e, "withdrawn before it was sent");
    fail_job(p, job, &e, NULL);   /* (no give_up runs now: no session's lines) */
  }
}


/* Every queued job gets the reason the destination could not be reached;
 * for down_time seconds new ones get it too, without a new connection. */
static void give_up(mc_pool_t *p, const mc_error_t *e, const mc_reply_t *r) {
  p->down_error = *e;
  memset(&p->down_reply, 0, sizeof p->down_reply);
  p->down_reply.code = r->code;
  memcpy(p->down_reply.enhanced, r->enhanced, sizeof p->down_reply.enhanced);
  p->down_until = p->o->down_time > 0 ? now() + p->o->down_time : 0;
  p->connect_failures = 0;
  mc_job_t *job;
  while ((job = dequeue(p)) != NULL) fail_job(p, job, &p->down_error, &p->down_reply);
}


static void pump(mc_pool_t *p);
static void next_txn(slot_t *slot);


static void on_pump_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  pump(arg);
}


static void schedule_pump(mc_pool_t *p, double delay) {
  struct timeval tv = mc_timeval(delay);
  evtimer_add(p->pump_timer, &tv);
}


static void release(slot_t *slot) {
  mc_session_free(slot->session);
  slot->session = NULL;
  slot->state = SLOT_IDLE;
  slot->done_here = 0;
  slot->njobs = 0;
  slot->ready = 0;
  slot->was_waiting = 0;
  evtimer_del(slot->wait);
  evtimer_del(slot->idle);
}


static void on_quit(mc_session_t *s, void *arg) {
  slot_t *slot = arg;
  (void)s;
  release(slot);
  pump(slot->pool);
}


static void quit(slot_t *slot) {
  evtimer_del(slot->idle);
  slot->state = SLOT_QUITTING;
  mc_session_quit(slot->session, on_quit, slot);
}


static void on_idle(evutil_socket_t fd, short what, void *arg) {
  slot_t *slot = arg;
  (void)fd;
  (void)what;
  if (slot->state == SLOT_WAITING) quit(slot);
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


static int sent_to_all(const mc_job_t *job) {
  for (size_t i = 0; i < job->nresults; i++)
    if (!job->results[i].sent) return 0;
  return 1;
}


/* A session that waited idle may have been closed by the server in the
 * meantime (its idle timeout, often with a 421 we had not yet read): a
 * transaction it fails before any recipient is accepted goes again, once,
 * on a new connection, as neither an attempt nor a sign of overload. */
static int stale(const slot_t *slot, const mc_job_t *job, mc_session_t *s) {
  if (!slot->was_waiting || job->retried_fresh) return 0;
  size_t n;
  const mc_rcpt_result_t *res = mc_session_results(s, &n);
  for (size_t i = 0; i < n; i++)
    if (res[i].sent || (res[i].code != 0 && res[i].code != 421)) return 0;
  return 1;
}


static void requeue_front(mc_pool_t *p, mc_job_t *job) {
  if (make_room(p) != 0) { p->failed = 1; return; }
  p->qhead = (p->qhead + p->qcap - 1) % p->qcap;
  p->queue[p->qhead] = job;
  p->qlen++;
}


/* A job goes on slot's session (after those already there). */
static void push_job(slot_t *slot, mc_job_t *job) {
  mc_pool_t *p = slot->pool;
  job->attempts++;
  p->running++;
  mc_shape_sent(&p->shape, now());
  slot->jobs[slot->njobs] = job;
  slot->mark[slot->njobs] = slot->replies[slot->njobs] = slot->ring ? slot->ring->count : 0;
  slot->started[slot->njobs++] = now();
  slot->ready = 0;
}


/* The oldest job on slot's session: the one whose outcome comes first. */
static mc_job_t *pop_job(slot_t *slot, double *started, mc_ring_span_t *span) {
  mc_job_t *job = slot->jobs[0];
  *started = slot->started[0];
  span->from = slot->mark[0];
  span->replies_from = slot->replies[0];
  span->sent_until = slot->njobs > 1 ? slot->mark[1] : (unsigned long long)-1;
  slot->jobs[0] = slot->jobs[1];
  slot->started[0] = slot->started[1];
  slot->mark[0] = slot->mark[1];
  /* The replies of the one behind come after this one's last. */
  slot->replies[0] = slot->ring ? slot->ring->count : 0;
  slot->jobs[1] = NULL;
  slot->njobs--;
  slot->ready = 0;
  slot->pool->running--;
  return job;
}


static void on_txn(mc_session_t *s, void *arg) {
  slot_t *slot = arg;
  mc_pool_t *p = slot->pool;
  double started;
  mc_ring_span_t span;
  mc_job_t *job = pop_job(slot, &started, &span);
  if (stale(slot, job, s)) {
    job->retried_fresh = 1;
    job->attempts--;
    requeue_front(p, job);
    /* Nothing goes ahead on a session until its first job after waiting
     * is through (feed_ahead), so none is behind this one; if one were,
     * its outcome would come before the slot could be released. */
    if (slot->njobs > 0) return;
    release(slot);
    pump(p);
    return;
  }
  slot->was_waiting = 0;
  p->shape.st.transactions++;
  slot->done_here++;
  int sent = 0, final = 0, closing = 0, slower = 0;
  size_t n;
  const mc_rcpt_result_t *res = mc_session_results(s, &n);
  for (size_t i = 0; i < n; i++) {
    sent |= res[i].sent;
    final |= res[i].code / 100 == 5;
    closing |= res[i].code == 421;
    slower |= mc_shape_slower(res[i].code, res[i].enhanced, res[i].text);
  }
  if (closing || slower) {
    p->shape.st.backoffs++;
    if (closing) mc_shape_halve_connections(&p->shape);
    if (slower) mc_shape_cut_rate(&p->shape, started, now());
  } else if (sent) {
    mc_shape_delivered(&p->shape, now());
  }
  if ((closing || slower) && !sent && !final && job->attempts < PUSHBACK_TRIES) {
    /* Nothing of it went: it goes again, at the new pace. */
    p->shape.st.requeued++;
    if (enqueue(p, job) != 0) p->failed = 1;
  } else {
    copy_results(job, s);
    job->duration = now() - started;
    if (job->results == NULL) p->failed = 1;
    if (slot->ring && !sent_to_all(job)) mc_trace_ring_copy(slot->ring, &span, &job->transcript);
    p->done(job, p->done_arg);
  }
  /* The job sent ahead is on the session: its outcome comes next. */
  if (slot->njobs > 0) return;
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


/* Whether slot's session may carry one more job, counting those on it;
 * when not, it says QUIT after them. */
static int may_go_on(const slot_t *slot) {
  const mc_pool_t *p = slot->pool;
  size_t limit = (size_t)p->shape.st.connections;
  return !p->draining && slot->done_here + slot->njobs < p->o->messages_per_connection &&
         working(p) <= (limit ? limit : 1);
}


/* Seconds until the rate limit lets the next message go (0: now). */
static double rate_wait(mc_pool_t *p) {
  if (p->shape.st.rate <= 0) return 0;
  /* Timers wake late (by milliseconds: the kernel's tick), so sending
   * times are kept on a schedule that catches up with the lateness,
   * at most RATE_CATCH_UP seconds' worth at once, rather than counted
   * from each late wake-up: the rate holds on average. */
  double t = now();
  if (p->next_send_at == 0) p->next_send_at = t;   /* the first message: no burst */
  if (p->next_send_at < t - RATE_CATCH_UP) p->next_send_at = t - RATE_CATCH_UP;
  return t < p->next_send_at ? p->next_send_at - t : 0;
}


static void rate_take(mc_pool_t *p) {
  if (p->shape.st.rate > 0) p->next_send_at += 1.0 / p->shape.st.rate;
}


/* The next queued job goes behind the one in progress on slot's session,
 * without waiting for its outcome, when everything allows it now. */
static void feed_ahead(slot_t *slot) {
  mc_pool_t *p = slot->pool;
  drop_withdrawn(p);
  /* Not on a session that waited idle until its first transaction is
   * through: the server may have closed it, and that transaction alone
   * goes again on a new connection (stale). */
  if (slot->state != SLOT_BUSY || slot->njobs != 1 || slot->was_waiting || !may_go_on(slot)) return;
  if (p->qlen == 0) { slot->ready = 1; return; }
  if (p->queue[p->qhead]->alone || rate_wait(p) > 0) return;
  mc_job_t *job = dequeue(p);
  push_job(slot, job);   /* first: a session that fails at once reports it */
  if (mc_session_transaction_ahead(slot->session, &job->txn, on_txn, slot) != 0) {
    slot->jobs[--slot->njobs] = NULL;   /* not taken: first in the queue again */
    p->running--;
    job->attempts--;
    job->alone = 1;   /* the session refused it (too big, a bad address): not offered again */
    requeue_front(p, job);
    return;
  }
  rate_take(p);
}


static void on_ready(mc_session_t *s, void *arg) {
  (void)s;
  feed_ahead(arg);
}


static void next_txn(slot_t *slot) {
  mc_pool_t *p = slot->pool;
  drop_withdrawn(p);
  if (!may_go_on(slot)) {
    quit(slot);
    return;
  }
  if (p->qlen == 0) {
    if (p->o->idle_timeout <= 0) { quit(slot); return; }
    slot->state = SLOT_WAITING;
    struct timeval tv = mc_timeval(p->o->idle_timeout);
    evtimer_add(slot->idle, &tv);
    return;
  }
  double wait = rate_wait(p);
  if (wait > 0) {
    struct timeval tv = mc_timeval(wait);
    evtimer_add(slot->wait, &tv);
    return;
  }
  rate_take(p);
  mc_job_t *job = dequeue(p);
  push_job(slot, job);
  slot->state = SLOT_BUSY;
  mc_session_transaction(slot->session, &job->txn, on_txn, slot);
}


/* A connection that failed without a final answer (a 4xx greeting, or
 * closed before EHLO was through) while other sessions of ours are open
 * or opening: the server refuses connections beyond those, it is not
 * down. Judged once none is opening: the connection limit becomes the
 * number that got through. 1 when it was that (slot released); 0 when
 * no other session was there, and the failure is the destination's. */
static int connection_refused(slot_t *slot) {
  mc_pool_t *p = slot->pool;
  size_t opening = count_slots(p, SLOT_OPENING) - 1;   /* slot is one */
  size_t up = established(p);
  if (opening == 0 && up == 0) {
    p->refusals = 0;
    return 0;
  }
  p->shape.st.refused++;
  release(slot);
  if (opening > 0) {
    p->refusals++;
  } else {
    mc_shape_refused(&p->shape, up);
    p->refusals = 0;
  }
  pump(p);
  return 1;
}


static void on_open(mc_session_t *s, void *arg) {
  slot_t *slot = arg;
  mc_pool_t *p = slot->pool;
  const mc_error_t *e;
  if (mc_session_status(s, &e) != 0) {
    const mc_reply_t *r = mc_session_reply(s);
    if (r->code / 100 != 5 && connection_refused(slot)) return;
    if (r->code == 421 || mc_shape_slower(r->code, r->enhanced, r->text.data)) p->shape.st.backoffs++;
    p->connect_failures++;
    mc_shape_halve_connections(&p->shape);   /* the next tries open fewer at once */
    /* A 5xx greeting is final; so is a timeout (a server that never
     * greets, a host that never answers): another try would wait as long
     * again, three greeting timeouts in a row for one send. A quick
     * failure (refused, reset, a 4xx greeting) gets a few more tries. */
    int timed_out = strncmp(e->msg, "timeout:", 8) == 0;
    if (r->code / 100 == 5 || timed_out || p->connect_failures >= p->o->connect_attempts) {
      mc_error_t copy = *e;
      mc_reply_t reply = *r;   /* text borrowed until release(); give_up keeps none */
      p->gave_up_on = slot;   /* the jobs keep what the connection said */
      give_up(p, &copy, &reply);
      p->gave_up_on = NULL;
      release(slot);
      return;
    }
    release(slot);
    schedule_pump(p, 0.2 * p->connect_failures);
    return;
  }
  p->connect_failures = 0;
  slot->state = SLOT_READY;
  size_t up = established(p);
  if (p->refusals > 0 && count_slots(p, SLOT_OPENING) == 0) {
    mc_shape_refused(&p->shape, up);
    p->refusals = 0;
  } else {
    mc_shape_opened(&p->shape, up);
  }
  next_txn(slot);
}


/* A line of slot's session: to the ring and to whoever hears the pool. */
static void on_line(mc_trace_kind_t kind, const char *line, size_t n, void *arg) {
  slot_t *slot = arg;
  const mc_pool_opts_t *o = slot->pool->o;
  double t = mc_trace_now();
  if (slot->ring) mc_trace_ring_add(slot->ring, kind, t, line, n);
  if (o->trace) o->trace(slot->number, kind, line, n, t, o->trace_arg);
}


/* Slot's new session tells its lines to on_line when anyone wants them;
 * else it traces nothing (no cost per line). Without memory for a ring
 * its jobs keep no transcript, and are sent all the same. */
static void trace_session(slot_t *slot) {
  const mc_pool_opts_t *o = slot->pool->o;
  if (!o->trace && !o->keep_transcripts) return;
  if (o->keep_transcripts && slot->ring == NULL) slot->ring = calloc(1, sizeof *slot->ring);
  if (!o->trace && slot->ring == NULL) return;
  slot->number = (unsigned long)slot->pool->shape.st.sessions;
  slot->opened_at = slot->ring ? slot->ring->count : 0;
  mc_session_trace(slot->session, on_line, slot);
}


static void pump(mc_pool_t *p) {
  if (p->draining) return;
  /* Sessions that could have taken a job ahead when there was none. */
  for (size_t i = 0; i < p->nslots && p->qlen > 0; i++)
    if (p->slots[i].ready) feed_ahead(&p->slots[i]);
  /* Open sessions waiting for work take it before any new one opens. */
  for (size_t i = 0; i < p->nslots && p->qlen > 0; i++) {
    slot_t *slot = &p->slots[i];
    if (slot->state != SLOT_WAITING) continue;
    evtimer_del(slot->idle);
    if (!mc_session_usable(slot->session)) {   /* the server closed it meanwhile */
      release(slot);
      continue;
    }
    slot->state = SLOT_READY;
    slot->was_waiting = 1;
    next_txn(slot);
  }
  size_t limit = (size_t)p->shape.st.connections;
  if (limit < 1) limit = 1;
  /* Not while refused connections wait to be judged (connection_refused). */
  for (size_t i = 0; i < p->nslots && p->qlen > 0 && p->refusals == 0; i++) {
    slot_t *slot = &p->slots[i];
    if (slot->state != SLOT_IDLE) continue;
    /* Sessions not yet busy take jobs too: don't open more than needed. */
    size_t opening = count_slots(p, SLOT_OPENING);
    if (occupying(p) + opening >= limit || opening >= p->qlen) break;
    if (p->o->connect_rate > 0) {
      double t = now();
      if (t < p->next_connect_at) { schedule_pump(p, p->next_connect_at - t); break; }
      p->next_connect_at = t + 1.0 / p->o->connect_rate;
    }
    slot->session = mc_session_new(p->base, p->route);
    if (slot->session == NULL) { p->failed = 1; break; }
    slot->state = SLOT_OPENING;
    p->shape.st.sessions++;
    trace_session(slot);
    mc_session_on_ready(slot->session, on_ready, slot);
    mc_session_open(slot->session, on_open, slot);
  }
}


int mc_pool_submit(mc_pool_t *p, mc_job_t *job) {
  if (p->down_until > 0 && now() < p->down_until) {
    fail_job(p, job, &p->down_error, &p->down_reply);
    return 0;
  }
  if (enqueue(p, job) != 0) return -1;
  pump(p);
  return 0;
}


void mc_pool_drain(mc_pool_t *p) {
  p->draining = 1;
  for (size_t i = 0; i < p->nslots; i++)
    if (p->slots[i].state == SLOT_WAITING) quit(&p->slots[i]);
}


mc_pool_t *mc_pool_new(struct event_base *base, const mc_route_t *route,
                       const mc_pool_opts_t *o, mc_pool_done_cb done, void *arg) {
  mc_pool_t *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  p->base = base;
  p->route = route;
  p->o = o;
  p->done = done;
  p->done_arg = arg;
  mc_shape_init(&p->shape, o->connections, o->messages_per_connection, o->rate);
  p->nslots = o->connections ? o->connections : 1;
  p->slots = calloc(p->nslots, sizeof *p->slots);
  p->pump_timer = evtimer_new(base, on_pump_timer, p);
  if (p->slots == NULL || p->pump_timer == NULL) { mc_pool_free(p); return NULL; }
  for (size_t i = 0; i < p->nslots; i++) {
    slot_t *slot = &p->slots[i];
    slot->pool = p;
    slot->wait = evtimer_new(base, on_wait, slot);
    slot->idle = evtimer_new(base, on_idle, slot);
    if (slot->wait == NULL || slot->idle == NULL) { mc_pool_free(p); return NULL; }
  }
  return p;
}


void mc_pool_free(mc_pool_t *p) {
  if (p == NULL) return;
  for (size_t i = 0; p->slots && i < p->nslots; i++) {
    mc_session_free(p->slots[i].session);
    if (p->slots[i].wait) event_free(p->slots[i].wait);
    if (p->slots[i].idle) event_free(p->slots[i].idle);
    free(p->slots[i].ring);
  }
  free(p->slots);
  free(p->queue);
  if (p->pump_timer) event_free(p->pump_timer);
  free(p);
}


static void count_done(mc_job_t *job, void *arg) {
  (void)job;
  (*(size_t *)arg)++;
}


int mc_pool_run(struct event_base *base, const mc_route_t *route, mc_job_t *jobs,
                size_t njobs, const mc_pool_opts_t *o, mc_pool_state_t *state, mc_error_t *e) {
  size_t finished = 0;
  memset(state, 0, sizeof *state);
  mc_pool_t *p = mc_pool_new(base, route, o, count_done, &finished);
  if (p == NULL) { mc_error_set(e, "out of memory"); return -1; }
  int failed = 0;
  for (size_t i = 0; i < njobs && !failed; i++) failed = mc_pool_submit(p, &jobs[i]) != 0;
  /* Until every job has its outcome and every session has said QUIT. */
  while (!failed && !p->failed && (finished < njobs || mc_pool_active(p) > 0)) {
    if (event_base_loop(base, EVLOOP_ONCE) != 0) break;
  }
  failed |= p->failed || finished < njobs;
  *state = p->shape.st;
  mc_pool_free(p);
  if (failed) mc_error_set(e, "out of memory");
  return failed ? -1 : 0;
}
