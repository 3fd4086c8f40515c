#include "pool_shape.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#define RATE_REGROW 10         /* a cut rate grows by this share of itself per second */
#define RATE_FLOOR 1.0         /* and is never cut below a message a second: a share of
                                  the ceiling would stay above a server's limit when
                                  the client is fast (1,700/s / 64 is 27/s) */
#define PROBE_MISSES_MAX 5     /* the connection limit grows back at least once per
                                  2^5 connections' worth of deliveries */
#define GROWTH_WINDOW_MAX 10   /* messages per connection that count toward that */


void mc_shape_init(mc_shape_t *sh, size_t connections, size_t messages_per_connection, double rate) {
  memset(sh, 0, sizeof *sh);
  sh->max_connections = connections ? connections : 1;
  sh->messages_per_connection = messages_per_connection ? messages_per_connection : 1;
  sh->max_rate = rate;
  sh->rate_ceiling = rate;
  sh->st.connections = (double)sh->max_connections;
  sh->st.rate = rate;
}


static int has_phrase(const char *text, const char *const *phrases, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcasestr(text, phrases[i])) return 1;
  return 0;
}


/* An enhanced status code (RFC 3463) about the address, the mailbox,
 * the protocol or the content (x.1.x, x.2.x, x.5.x, x.6.x): whatever its
 * text says, a reply about this message, not about our pace. */
static int about_the_message(const char *enhanced) {
  const char *dot = enhanced ? strchr(enhanced, '.') : NULL;
  return dot != NULL && dot[1] != '\0' && strchr("1256", dot[1]) != NULL;
}


int mc_shape_slower(int code, const char *enhanced, const char *text) {
  static const char *const slower[] = {
    "try again later", "try later", "rate limit", "ratelimit", "rate-limit", "throttl",
    "temporarily deferred", "slow down", "exceeded", "too many connections", "server busy",
  };
  static const char *const other[] = {"greylist", "graylist", "recipients"};
  if (code / 100 != 4 || text == NULL || about_the_message(enhanced)) return 0;
  if (has_phrase(text, other, sizeof other / sizeof other[0])) return 0;
  return has_phrase(text, slower, sizeof slower / sizeof slower[0]);
}


void mc_shape_sent(mc_shape_t *sh, double t) {
  sh->sent_at[sh->nsent++ % MC_SHAPE_SAMPLES] = t;
}


/* Messages per second the destination has been sending, over its last
 * transactions. */
static double sending_rate(const mc_shape_t *sh) {
  size_t n = sh->nsent < MC_SHAPE_SAMPLES ? sh->nsent : MC_SHAPE_SAMPLES;
  if (n < 2) return 1;
  double span = sh->sent_at[(sh->nsent - 1) % MC_SHAPE_SAMPLES] - sh->sent_at[(sh->nsent - n) % MC_SHAPE_SAMPLES];
  return (double)(n - 1) / (span > 0.001 ? span : 0.001);
}


/* Replies to transactions started before the last cut were answered by
 * that cut: they do not cut again. */
void mc_shape_cut_rate(mc_shape_t *sh, double started, double t) {
  mc_pool_state_t *st = &sh->st;
  if (started < sh->cut_at) return;
  if (st->rate <= 0) {
    sh->rate_ceiling = sending_rate(sh);
    st->rate = sh->rate_ceiling;
  }
  double floor_rate = sh->rate_ceiling < RATE_FLOOR ? sh->rate_ceiling : RATE_FLOOR;
  st->rate = st->rate / 2 < floor_rate ? floor_rate : st->rate / 2;
  sh->rate_step = st->rate / RATE_REGROW;
  sh->cut_at = sh->grown_at = t;
}


/* A cut rate grows back by a step per second of deliveries, up to its
 * ceiling (a destination without a rate has none again there). */
static void grow_rate(mc_shape_t *sh, double t) {
  mc_pool_state_t *st = &sh->st;
  if (st->rate <= 0 || st->rate >= sh->rate_ceiling) return;
  double dt = t - sh->grown_at;
  sh->grown_at = t;
  st->rate += sh->rate_step * (dt < 1 ? dt : 1);   /* a pause in deliveries earns no more */
  if (st->rate >= sh->rate_ceiling) {
    st->rate = sh->max_rate;
    sh->rate_ceiling = sh->max_rate;
  }
}


/* The connection limit grows by one per so many deliveries on each
 * connection, fewer the more often the server refused the one more. */
void mc_shape_delivered(mc_shape_t *sh, double t) {
  mc_pool_state_t *st = &sh->st;
  double max = (double)sh->max_connections;
  if (st->connections < max) {
    size_t per = sh->messages_per_connection < GROWTH_WINDOW_MAX ? sh->messages_per_connection : GROWTH_WINDOW_MAX;
    st->connections += 1.0 / (floor(st->connections) * (double)per * (double)(1 << sh->probe_misses));
    if (st->connections > max) st->connections = max;
  }
  grow_rate(sh, t);
}


void mc_shape_halve_connections(mc_shape_t *sh) {
  mc_pool_state_t *st = &sh->st;
  st->connections = st->connections / 2 < 1 ? 1 : st->connections / 2;
}


void mc_shape_refused(mc_shape_t *sh, size_t allowed) {
  mc_pool_state_t *st = &sh->st;
  st->backoffs++;
  if (allowed < 1) allowed = 1;
  if ((double)allowed < st->connections) st->connections = (double)allowed;
  sh->learned = allowed;
  if (sh->probe_misses < PROBE_MISSES_MAX) sh->probe_misses++;
}


void mc_shape_opened(mc_shape_t *sh, size_t open) {
  if (open > sh->learned) sh->probe_misses = 0;
}


int mc_shape_held(const mc_shape_t *sh) {
  const mc_pool_state_t *st = &sh->st;
  return st->connections < (double)sh->max_connections ||
         (st->rate > 0 && (sh->max_rate <= 0 || st->rate < sh->max_rate));
}
