#include "http_conns.h"

#include <stdlib.h>
#include <time.h>

#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "smtp_session.h"   /* mc_timeval */

/* One connection. The list is in the order of `since`, the oldest first:
 * a connection goes to its end when accepted and when a request of its
 * is read whole, so the sweep stops at the first one within its deadline
 * and the one to shed is the first. */
typedef struct conn {
  struct conn *prev, *next;
  mc_http_conns_t *owner;
  struct bufferevent *bev;
  double since;      /* accepted, or its last request read whole */
  int adopted;       /* its evhttp connection's close callback is ours */
  evutil_socket_t fd;   /* its slot in by_fd once adopted (-1: none) */
  int closing;       /* shut down here: evhttp frees it on its next read */
} conn_t;

struct mc_http_conns {
  double deadline;
  size_t max;
  conn_t *head, *tail;
  conn_t **by_fd;        /* adopted connections by descriptor, for a request's */
  size_t nfds;           /* (descriptors at or past it are searched for) */
  size_t unadopted;
  struct event *adopt;   /* made active when a connection waits to be adopted */
  struct event *sweep;   /* the deadlines, a few times a deadline */
  mc_http_conns_stats_t st;
};


static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static void unlink_conn(mc_http_conns_t *c, conn_t *k) {
  if (k->prev) k->prev->next = k->next; else c->head = k->next;
  if (k->next) k->next->prev = k->prev; else c->tail = k->prev;
  k->prev = k->next = NULL;
}


static void append(mc_http_conns_t *c, conn_t *k) {
  k->prev = c->tail;
  k->next = NULL;
  if (c->tail) c->tail->next = k; else c->head = k;
  c->tail = k;
}


/* The slot of descriptor fd, or NULL. */
static conn_t **fd_slot(mc_http_conns_t *c, evutil_socket_t fd) {
  return fd >= 0 && (size_t)fd < c->nfds ? &c->by_fd[fd] : NULL;
}


static void forget(conn_t *k) {
  mc_http_conns_t *c = k->owner;
  conn_t **slot = fd_slot(c, k->fd);   /* (the one it was given: the bufferevent's may be gone) */
  if (slot && *slot == k) *slot = NULL;
  unlink_conn(c, k);
  c->st.open--;
  free(k);
}


/* Shuts the connection's socket: evhttp reads its end at once and frees
 * the connection. The descriptor is still this connection's: an adopted
 * connection leaves the list (on_close) before evhttp lets it go, and
 * one not yet adopted holds a reference that keeps it open. */
static void close_conn(conn_t *k) {
  shutdown(bufferevent_getfd(k->bev), SHUT_RDWR);
  k->closing = 1;
}


/* evhttp frees the connection (a close of either side, an error, its
 * idle timeout, the server's end). */
static void on_close(struct evhttp_connection *evcon, void *arg) {
  (void)evcon;
  forget(arg);
}


/* A connection accepted in this turn of the loop: evhttp has made its
 * connection on our bufferevent, whose callback argument it is. Unless
 * evhttp has freed it already (its callbacks are cleared then), its close
 * callback now tells us when it goes, and the reference held since the
 * accept is let go. Letting it go last closes the descriptor. */
static void adopt(conn_t *k) {
  k->adopted = 1;
  k->owner->unadopted--;
  void *evcon = NULL;
  bufferevent_getcb(k->bev, NULL, NULL, NULL, &evcon);
  struct bufferevent *bev = k->bev;
  if (evcon == NULL) {
    forget(k);
  } else {
    evhttp_connection_set_closecb(evcon, on_close, k);
    conn_t **slot = fd_slot(k->owner, bufferevent_getfd(bev));
    if (slot) {
      *slot = k;
      k->fd = bufferevent_getfd(bev);
    }
  }
  bufferevent_decref(bev);
}


static void on_adopt(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  mc_http_conns_t *c = arg;
  /* The connections waiting are the newest: at the end of the list. */
  for (conn_t *k = c->tail, *prev; k && c->unadopted > 0; k = prev) {
    prev = k->prev;
    if (!k->adopted) adopt(k);
  }
}


/* Whether evhttp still has an answer of the connection's to write: a
 * connection is never shut under it (the answer would be lost). */
static int writing(const conn_t *k) {
  return evbuffer_get_length(bufferevent_get_output(k->bev)) > 0;
}


/* The connection that has gone longest without finishing a request, of
 * those not closing already nor being answered. One not yet adopted has
 * its descriptor (evhttp's, kept open by our reference): it can be shut
 * too. */
static void shed_oldest(mc_http_conns_t *c) {
  for (conn_t *k = c->head; k; k = k->next) {
    if (k->closing || writing(k)) continue;
    close_conn(k);
    c->st.shed++;
    return;
  }
}


/* Makes the bufferevent of each connection evhttp accepts (its own would
 * be the same: a socket bufferevent), so that the connection is known. It
 * closes its descriptor when freed, by its last reference: until adopted
 * one is held here, so the descriptor cannot be closed and given to the
 * next accept while this file may still shut it. */
static struct bufferevent *make_bev(struct event_base *base, void *arg) {
  mc_http_conns_t *c = arg;
  struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  if (bev == NULL) return NULL;   /* evhttp tries its own, followed by its idle timeout only */
  conn_t *k = calloc(1, sizeof *k);
  if (k == NULL) return bev;
  /* Room is made before the new one joins: evhttp gives it its
   * descriptor only after this returns. */
  if (c->st.open >= c->max) shed_oldest(c);
  bufferevent_incref(bev);
  k->owner = c;
  k->bev = bev;
  k->fd = -1;
  k->since = now_seconds();
  append(c, k);
  c->unadopted++;
  if (++c->st.open > c->st.max) c->st.max = c->st.open;
  event_active(c->adopt, EV_TIMEOUT, 0);
  return bev;
}


static void on_sweep(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  mc_http_conns_t *c = arg;
  double late = now_seconds() - c->deadline;
  for (conn_t *k = c->head; k && k->since < late; k = k->next) {
    /* (an answer evhttp is writing has evhttp's own write timeout) */
    if (k->closing || writing(k)) continue;
    close_conn(k);
    c->st.timed_out++;
  }
}


/* As many connections as the descriptor limit leaves room for, after the
 * store, the listener, the webhooks and the rest of the process. */
static size_t room_for(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 60000;
  size_t limit = (size_t)rl.rlim_cur;
  size_t reserve = limit / 8 > 16 ? limit / 8 : 16;
  return limit > 2 * reserve ? limit - reserve : limit / 2 + 1;
}


mc_http_conns_t *mc_http_conns_new(struct event_base *base, struct evhttp *http, double deadline,
                                   size_t max, mc_error_t *e) {
  mc_http_conns_t *c = calloc(1, sizeof *c);
  if (c == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  c->deadline = deadline;
  size_t room = room_for();
  /* Descriptors go up to the limit; past a million the few beyond are
   * searched for. */
  struct rlimit rl;
  c->nfds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 20)
              ? (size_t)rl.rlim_cur : (1u << 20);
  c->by_fd = calloc(c->nfds, sizeof *c->by_fd);
  if (c->by_fd == NULL) {
    mc_error_set(e, "out of memory");
    free(c);
    return NULL;
  }
  c->max = max > 0 && max < room ? max : room;
  c->adopt = event_new(base, -1, 0, on_adopt, c);
  c->sweep = event_new(base, -1, EV_PERSIST, on_sweep, c);
  if (c->adopt == NULL || c->sweep == NULL) {
    mc_error_set(e, "serve: cannot make the connection timers");
    mc_http_conns_free(c);
    return NULL;
  }
  /* A deadline is kept to a quarter of itself (at most a second late). */
  struct timeval every = mc_timeval(c->deadline / 4 < 1 ? c->deadline / 4 : 1);
  event_add(c->sweep, &every);
  evhttp_set_bevcb(http, make_bev, c);
  return c;
}


void mc_http_conns_request_done(mc_http_conns_t *c, struct evhttp_request *req) {
  struct evhttp_connection *evcon = evhttp_request_get_connection(req);
  struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
  if (bev == NULL) return;
  conn_t **slot = fd_slot(c, bufferevent_getfd(bev));
  conn_t *k = slot ? *slot : NULL;
  if (k == NULL || k->bev != bev) {
    /* Not adopted yet, or past the table: the connection of a request is
     * among the most recently active, the search starts from the end. */
    for (k = c->tail; k && k->bev != bev; k = k->prev) {}
    if (k == NULL) return;
  }
  k->since = now_seconds();
  unlink_conn(c, k);
  append(c, k);
}


mc_http_conns_stats_t mc_http_conns_stats(const mc_http_conns_t *c) { return c->st; }


void mc_http_conns_free(mc_http_conns_t *c) {
  if (c == NULL) return;
  /* evhttp_free has closed every adopted connection (on_close); one
   * accepted in the loop's last turn may still wait for adoption. */
  while (c->head) {
    conn_t *k = c->head;
    struct bufferevent *bev = k->adopted ? NULL : k->bev;
    forget(k);
    if (bev) bufferevent_decref(bev);
  }
  if (c->adopt) event_free(c->adopt);
  if (c->sweep) event_free(c->sweep);
  free(c->by_fd);
  free(c);
}
