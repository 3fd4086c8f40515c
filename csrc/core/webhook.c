#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/evp.h>

#include "buf.h"
#include "digest.h"
#include "https.h"
#include "smtp_session.h"   /* mc_timeval */
#include "webhook_feed.h"

/* A receiver's state: between polls; a POST under way; answered (what
 * to do next runs from the loop, outside the connection's callback);
 * waiting to try again. */
enum { IDLE, BUSY, ANSWERED, WAITING };

typedef struct {
  mc_webhook_t *w;
  char *url;
  long long campaign;         /* 0: every campaign's events */
  char *host, *path;          /* of url; path with its query */
  int port, tls;
  long long cursor;           /* the last event acknowledged */
  int dirty;                  /* cursor not yet written to the store */
  int state, tries, code;
  char error[sizeof(mc_error_t)];   /* of the last try */
  mc_buf_t body;              /* the batch being sent */
  mc_feed_batch_t batch;
  struct event *next;         /* the next step: after an answer, or a backoff */
  struct evhttp_connection *conn;   /* the last try's, freed outside its callbacks */
} target;

struct mc_webhook {
  struct event_base *base;
  struct evdns_base *dns;     /* host names are looked up without blocking the loop */
  SSL_CTX *tls;               /* made when the first https:// receiver appears */
  mc_webhook_opts_t o;        /* its secret and ca_file are not kept: */
  EVP_MAC_CTX *mac;           /* HMAC-SHA256 keyed with the secret */
  char *ca_file;              /* a copy */
  mc_feed_t *feed;
  target **targets;
  size_t ntargets, cap;
  long long hooks_seen;       /* rowid of the last campaign webhook read */
  long long last_id;          /* the newest event at the last poll */
  struct event *poll;
  unsigned long long ok, failed, retried, posted;
  int feed_failing;           /* a read error was logged; quiet until it clears */
  int store_busy;             /* a cursor could not be written since the last poll */
};


/* host, path and port of an http[s]:// URL into t (when t is not NULL). */
static int parse_url(const char *url, target *t, mc_error_t *e) {
  struct evhttp_uri *u = evhttp_uri_parse_with_flags(url, 0);
  const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
  const char *host = u ? evhttp_uri_get_host(u) : NULL;
  int tls = scheme && strcasecmp(scheme, "https") == 0;
  int port = u ? evhttp_uri_get_port(u) : -1;
  if (port < 0) port = tls ? 443 : 80;
  if (u == NULL || scheme == NULL || (!tls && strcasecmp(scheme, "http") != 0) || host == NULL ||
      host[0] == '\0' || port == 0 || evhttp_uri_get_userinfo(u) || evhttp_uri_get_fragment(u)) {
    mc_error_set(e, "webhook: not an http:// or https:// URL: '%s'", url);
    if (u) evhttp_uri_free(u);
    return -1;
  }
  int rc = 0;
  if (t) {
    const char *path = evhttp_uri_get_path(u), *query = evhttp_uri_get_query(u);
    mc_buf_t p = MC_BUF_INIT;
    mc_buf_addstr(&p, path && path[0] ? path : "/");
    if (query) mc_buf_printf(&p, "?%s", query);
    mc_buf_addc(&p, '\0');
    t->host = strdup(host);
    t->path = p.failed ? NULL : p.data;
    if (p.failed) mc_buf_free(&p);
    t->port = port;
    t->tls = tls;
    if (t->host == NULL || t->path == NULL) { mc_error_set(e, "out of memory"); rc = -1; }
  }
  evhttp_uri_free(u);
  return rc;
}


int mc_webhook_check_url(const char *url, mc_error_t *e) {
  return parse_url(url, NULL, e);
}


static void target_free(target *t) {
  if (t->conn) evhttp_connection_free(t->conn);   /* a request under way is dropped, no callback */
  if (t->next) event_free(t->next);
  mc_buf_free(&t->body);
  free(t->url);
  free(t->host);
  free(t->path);
  free(t);
}


/* Writes t's cursor when it has moved. A store busy with another writer
 * is tried again at the next poll, and not again before it: each wait is
 * short, but the loop must not wait once per receiver. */
static void save_cursor(target *t) {
  mc_error_t e;
  if (!t->dirty || t->w->store_busy) return;
  if (mc_feed_ack(t->w->feed, t->url, t->campaign, t->cursor, &e) == 0) t->dirty = 0;
  else t->w->store_busy = 1;
}


/* hex: the HMAC-SHA256 of "STAMP.BODY" with the secret; 0, or -1 when
 * OpenSSL fails (the try fails: nothing goes out unsigned). The key was
 * set once; EVP_MAC_init with no key starts again from it. */
static int sign(const mc_webhook_t *w, const char *stamp, const mc_buf_t *body, char hex[65]) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (!EVP_MAC_init(w->mac, NULL, 0, NULL) ||
      !EVP_MAC_update(w->mac, (const unsigned char *)stamp, strlen(stamp)) ||
      !EVP_MAC_update(w->mac, (const unsigned char *)".", 1) ||
      !EVP_MAC_update(w->mac, (const unsigned char *)body->data, body->len) ||
      !EVP_MAC_final(w->mac, mac, &len, sizeof mac) || len != 32)
    return -1;
  for (size_t i = 0; i < len; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
  return 0;
}


/* The answer, or the failure, of a try: the next step runs from the loop. */
static void on_answer(struct evhttp_request *req, void *arg) {
  target *t = arg;
  t->code = req ? evhttp_request_get_response_code(req) : 0;
  if (t->code == 0 && t->error[0] == '\0' && t->tls && t->conn)
    mc_https_error(evhttp_connection_get_bufferevent(t->conn), t->error, sizeof t->error);
  if (t->code == 0 && t->error[0] == '\0') snprintf(t->error, sizeof t->error, "no answer");
  else if (t->code && (t->code < 200 || t->code > 299)) snprintf(t->error, sizeof t->error, "HTTP %d", t->code);
  t->state = ANSWERED;
  event_active(t->next, EV_TIMEOUT, 0);
}


static void on_error(enum evhttp_request_error err, void *arg) {
  target *t = arg;
  if (t->tls && t->conn)   /* a refused certificate says why here, not in err */
    mc_https_error(evhttp_connection_get_bufferevent(t->conn), t->error, sizeof t->error);
  if (t->error[0]) return;
  if (err == EVREQ_HTTP_TIMEOUT) snprintf(t->error, sizeof t->error, "timed out after %g s", t->w->o.timeout);
  else if (err == EVREQ_HTTP_EOF) snprintf(t->error, sizeof t->error, "connection refused or closed");
  else snprintf(t->error, sizeof t->error, "bad answer (libevent error %d)", (int)err);
}


static void fail_now(target *t, const char *why) {
  snprintf(t->error, sizeof t->error, "%s", why);
  t->code = 0;
  t->state = ANSWERED;
  event_active(t->next, EV_TIMEOUT, 0);
}


/* One try of the batch in t->body. */
static void send_batch(target *t) {
  mc_webhook_t *w = t->w;
  t->tries++;
  t->error[0] = '\0';
  t->state = BUSY;
  if (t->conn) { evhttp_connection_free(t->conn); t->conn = NULL; }   /* the last try's */
  struct bufferevent *bev = NULL;
  if (t->tls) {
    mc_error_t e;
    if (w->tls == NULL && (w->tls = mc_https_ctx(w->ca_file, &e)) == NULL) { fail_now(t, e.msg); return; }
    if ((bev = mc_https_bev(w->base, w->tls, t->host)) == NULL) { fail_now(t, "cannot set up TLS"); return; }
  }
  t->conn = evhttp_connection_base_bufferevent_new(w->base, w->dns, bev, t->host, (unsigned short)t->port);
  if (t->conn == NULL) {
    if (bev) bufferevent_free(bev);
    fail_now(t, "cannot make a connection");
    return;
  }
  struct timeval tv = mc_timeval(w->o.timeout);
  evhttp_connection_set_timeout_tv(t->conn, &tv);
  evhttp_connection_set_retries(t->conn, 0);
  struct evhttp_request *req = evhttp_request_new(on_answer, t);
  if (req == NULL) { fail_now(t, "out of memory"); return; }
  evhttp_request_set_error_cb(req, on_error);
  char stamp[32], sig[80], hex[65], host[300], count[24];
  snprintf(stamp, sizeof stamp, "%lld", (long long)time(NULL));
  if (sign(w, stamp, &t->body, hex) != 0) {
    evhttp_request_free(req);
    fail_now(t, "cannot sign the request");
    return;
  }
  snprintf(sig, sizeof sig, "sha256=%s", hex);
  snprintf(host, sizeof host, "%s:%d", t->host, t->port);
  snprintf(count, sizeof count, "%zu", t->batch.n);
  struct evkeyvalq *hs = evhttp_request_get_output_headers(req);
  evhttp_add_header(hs, "Host", host);
  evhttp_add_header(hs, "Content-Type", "application/json");
  evhttp_add_header(hs, "User-Agent", "mailcast");
  evhttp_add_header(hs, "X-Mailcast-Events", count);
  evhttp_add_header(hs, "X-Mailcast-Timestamp", stamp);
  evhttp_add_header(hs, "X-Mailcast-Signature", sig);
  evbuffer_add(evhttp_request_get_output_buffer(req), t->body.data, t->body.len);
  if (evhttp_make_request(t->conn, req, EVHTTP_REQ_POST, t->path) != 0)   /* frees req */
    fail_now(t, "cannot send the request");
}


/* Reads the next batch of t's events and sends it, when there is one. */
static void feed(target *t) {
  mc_webhook_t *w = t->w;
  mc_error_t e;
  t->body.len = 0;
  t->body.failed = 0;
  if (mc_feed_read(w->feed, t->cursor, w->last_id, t->campaign, w->o.batch, &t->body, &t->batch, &e) != 0) {
    if (!w->feed_failing) fprintf(stderr, "mailcast serve: %s\n", e.msg);
    w->feed_failing = 1;
    return;
  }
  w->feed_failing = 0;
  if (t->batch.n == 0) {   /* only other campaigns' events: skip past them */
    if (t->batch.upto > t->cursor) { t->cursor = t->batch.upto; t->dirty = 1; save_cursor(t); }
    return;
  }
  t->tries = 0;
  send_batch(t);
}


/* After an answer: done with the batch, or wait and try it again. */
static void step(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  target *t = arg;
  mc_webhook_t *w = t->w;
  if (t->state == WAITING) { send_batch(t); return; }
  if (t->state != ANSWERED) return;
  if (t->conn) evhttp_connection_free(t->conn);
  t->conn = NULL;
  if (t->code >= 200 && t->code <= 299) {
    w->ok++;
    w->posted += t->batch.n;
  } else if (t->tries >= w->o.tries) {
    w->failed++;
    fprintf(stderr, "mailcast serve: webhook %s: gave up on events %lld-%lld after %d %s: %s\n",
            t->url, t->batch.first, t->batch.last, t->tries, t->tries == 1 ? "try" : "tries", t->error);
  } else {
    w->retried++;
    double delay = w->o.backoff;
    for (int i = 1; i < t->tries && delay < w->o.backoff_max; i++) delay *= 2;
    if (delay > w->o.backoff_max) delay = w->o.backoff_max;
    t->state = WAITING;
    struct timeval tv = mc_timeval(delay);
    event_add(t->next, &tv);
    return;
  }
  t->cursor = t->batch.upto;
  t->dirty = 1;
  save_cursor(t);
  t->state = IDLE;
  if (t->batch.n == w->o.batch) feed(t);   /* more may be waiting: no need to wait for the poll */
}


/* A receiver of the events after its cursor (made at the newest event
 * when it is new). */
static int add_target(mc_webhook_t *w, const char *url, long long campaign, mc_error_t *e) {
  if (w->ntargets == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 8;
    target **ts = realloc(w->targets, cap * sizeof *ts);
    if (ts == NULL) { mc_error_set(e, "out of memory"); return -1; }
    w->targets = ts;
    w->cap = cap;
  }
  target *t = calloc(1, sizeof *t);
  if (t == NULL) { mc_error_set(e, "out of memory"); return -1; }
  t->w = w;
  t->campaign = campaign;
  t->url = strdup(url);
  t->next = event_new(w->base, -1, 0, step, t);
  if (t->url == NULL || t->next == NULL) { mc_error_set(e, "out of memory"); target_free(t); return -1; }
  if (parse_url(url, t, e) != 0 || (t->cursor = mc_feed_cursor(w->feed, url, campaign, e)) < 0) {
    target_free(t);
    return -1;
  }
  w->targets[w->ntargets++] = t;
  return 0;
}


/* A bad URL in the table is skipped, once; a store too busy to make the
 * receiver's cursor stops the reading, and the URL comes again at the
 * next poll. */
static int on_campaign_hook(void *arg, long long campaign, const char *url) {
  mc_webhook_t *w = arg;
  mc_error_t e;
  if (mc_webhook_check_url(url, &e) == 0 && add_target(w, url, campaign, &e) == 0) return 0;
  fprintf(stderr, "mailcast serve: campaign %lld: %s\n", campaign, e.msg);
  return mc_webhook_check_url(url, &e) == 0 ? -1 : 0;
}


static void on_poll(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  mc_webhook_t *w = arg;
  mc_error_t e;
  if (mc_feed_targets(w->feed, &w->hooks_seen, on_campaign_hook, w, &e) != 0 && !w->feed_failing) {
    fprintf(stderr, "mailcast serve: %s\n", e.msg);
    w->feed_failing = 1;
  }
  long long last = mc_feed_last_id(w->feed, &e);
  if (last >= 0) w->last_id = last;
  w->store_busy = 0;
  for (size_t i = 0; i < w->ntargets; i++) {
    target *t = w->targets[i];
    save_cursor(t);
    if (t->state == IDLE) feed(t);
  }
}


mc_webhook_t *mc_webhook_new(struct event_base *base, const char *path, const char *const *urls,
                             size_t nurls, const mc_webhook_opts_t *o, mc_error_t *e) {
  mc_webhook_t *w = calloc(1, sizeof *w);
  if (w == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  w->base = base;
  w->o = *o;
  if (w->o.timeout <= 0) w->o.timeout = 5;
  if (w->o.poll <= 0) w->o.poll = 0.5;
  if (w->o.batch == 0) w->o.batch = 100;
  if (w->o.tries <= 0) w->o.tries = 10;
  if (w->o.backoff <= 0) w->o.backoff = 1;
  if (w->o.backoff_max < w->o.backoff) w->o.backoff_max = w->o.backoff > 60 ? w->o.backoff : 60;
  w->o.secret = NULL;
  w->poll = event_new(base, -1, EV_PERSIST, on_poll, w);
  if (w->poll == NULL || (o->ca_file && (w->ca_file = strdup(o->ca_file)) == NULL)) {
    mc_error_set(e, "out of memory");
    goto fail;
  }
  if ((w->mac = mc_hmac_sha256_new(o->secret, o->secret_len)) == NULL) {
    mc_error_set(e, "webhooks: cannot set up HMAC-SHA256");
    goto fail;
  }
  /* A CA file that cannot be read is an error now, not at every try. */
  if (w->ca_file && (w->tls = mc_https_ctx(w->ca_file, e)) == NULL) goto fail;
  w->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);   /* NULL: looked up in place */
  if ((w->feed = mc_feed_open(path, e)) == NULL) goto fail;
  for (size_t i = 0; i < nurls; i++)
    if (add_target(w, urls[i], 0, e) != 0) goto fail;
  if (mc_feed_targets(w->feed, &w->hooks_seen, on_campaign_hook, w, e) != 0) goto fail;
  mc_feed_in_loop(w->feed);
  struct timeval every = mc_timeval(w->o.poll);
  event_add(w->poll, &every);
  event_active(w->poll, EV_TIMEOUT, 0);   /* the first read at once */
  return w;
fail:
  mc_webhook_free(w);
  return NULL;
}


void mc_webhook_metrics(const mc_webhook_t *w, struct evbuffer *b) {
  if (w == NULL) return;
  long long lag = 0;
  for (size_t i = 0; i < w->ntargets; i++)
    if (w->last_id - w->targets[i]->cursor > lag) lag = w->last_id - w->targets[i]->cursor;
  evbuffer_add_printf(b, "# HELP mailcast_webhook_posts_total Webhook POSTs of a batch of events by result.\n"
                         "# TYPE mailcast_webhook_posts_total counter\n"
                         "mailcast_webhook_posts_total{result=\"ok\"} %llu\n"
                         "mailcast_webhook_posts_total{result=\"failed\"} %llu\n"
                         "mailcast_webhook_posts_total{result=\"retried\"} %llu\n"
                         "# HELP mailcast_webhook_events_posted_total Events a receiver acknowledged.\n"
                         "# TYPE mailcast_webhook_events_posted_total counter\n"
                         "mailcast_webhook_events_posted_total %llu\n"
                         "# HELP mailcast_webhook_receivers Webhook URLs being fed.\n"
                         "# TYPE mailcast_webhook_receivers gauge\n"
                         "mailcast_webhook_receivers %zu\n"
                         "# HELP mailcast_webhook_lag Events the furthest-behind receiver has still to get.\n"
                         "# TYPE mailcast_webhook_lag gauge\n"
                         "mailcast_webhook_lag %lld\n",
                      w->ok, w->failed, w->retried, w->posted, w->ntargets, lag);
}


void mc_webhook_free(mc_webhook_t *w) {
  if (w == NULL) return;
  w->store_busy = 0;   /* a last chance for every cursor */
  for (size_t i = 0; i < w->ntargets; i++) {
    if (w->feed) save_cursor(w->targets[i]);
    target_free(w->targets[i]);
  }
  free(w->targets);
  if (w->poll) event_free(w->poll);
  if (w->dns) evdns_base_free(w->dns, 0);
  SSL_CTX_free(w->tls);
  mc_feed_close(w->feed);
  free(w->ca_file);
  EVP_MAC_CTX_free(w->mac);
  free(w);
}
