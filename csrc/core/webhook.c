#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAX_TRIES 5

typedef struct {
  char *host, *path;
  int port;
} target;

typedef struct delivery delivery;
struct delivery {
  mc_webhook_t *w;
  delivery *prev, *next;        /* the queue, oldest first */
  size_t url;
  char kind[16];
  char *body;
  int tries;
  struct event *timer;          /* the next try */
  struct evhttp_connection *conn;   /* the last try's, freed outside its callbacks */
  int busy;                     /* a try is under way */
};

struct mc_webhook {
  struct event_base *base;
  target *urls;
  size_t nurls, max_queue, queued;
  unsigned char *secret;
  size_t secret_len;
  double timeout;
  delivery *head, *tail;
  delivery *done;               /* answered, waiting for the reaper (singly linked) */
  struct event *reaper;
  unsigned long long ok, failed, dropped;
};


static void unlink_delivery(delivery *d) {
  mc_webhook_t *w = d->w;
  if (d->prev) d->prev->next = d->next; else w->head = d->next;
  if (d->next) d->next->prev = d->prev; else w->tail = d->prev;
  w->queued--;
}


/* Frees d; a try under way is cancelled (its callback never runs). */
static void delivery_free(delivery *d) {
  unlink_delivery(d);
  if (d->conn) evhttp_connection_free(d->conn);
  if (d->timer) event_free(d->timer);
  free(d->body);
  free(d);
}


static void schedule(delivery *d, double delay) {
  struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (double)(time_t)delay) * 1e6)};
  event_add(d->timer, &tv);
}


static void reap(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  mc_webhook_t *w = arg;
  while (w->done) {
    delivery *d = w->done;
    w->done = d->next;
    if (d->conn) evhttp_connection_free(d->conn);
    if (d->timer) event_free(d->timer);
    free(d->body);
    free(d);
  }
}


/* Inside the connection's callback: d leaves the queue now, and is
 * freed (with its connection) from the loop a moment later. */
static void retire(delivery *d) {
  mc_webhook_t *w = d->w;
  unlink_delivery(d);
  d->next = w->done;
  w->done = d;
  event_active(w->reaper, EV_TIMEOUT, 0);
}


static void on_answer(struct evhttp_request *req, void *arg) {
  delivery *d = arg;
  mc_webhook_t *w = d->w;
  int code = req ? evhttp_request_get_response_code(req) : 0;
  d->busy = 0;
  if (code >= 200 && code < 300) {
    w->ok++;
    retire(d);
  } else if (d->tries >= MAX_TRIES) {
    w->failed++;
    retire(d);
  } else {
    schedule(d, (double)(1 << (d->tries - 1)));
  }
}


static void sign(const mc_webhook_t *w, const char *stamp, const char *body, char hex[65]) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  size_t n = strlen(stamp) + 1 + strlen(body);
  char *data = malloc(n + 1);
  hex[0] = '\0';
  if (data == NULL) return;
  snprintf(data, n + 1, "%s.%s", stamp, body);
  if (HMAC(EVP_sha256(), w->secret, (int)w->secret_len, (unsigned char *)data, n, mac, &len) != NULL)
    for (unsigned i = 0; i < len && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
  free(data);
}


static int fail_try(delivery *d) {
  if (d->tries >= MAX_TRIES) {
    d->w->failed++;
    delivery_free(d);
    return -1;
  }
  schedule(d, (double)(1 << (d->tries - 1)));
  return -1;
}


static void try_send(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  delivery *d = arg;
  mc_webhook_t *w = d->w;
  const target *t = &w->urls[d->url];
  d->tries++;
  if (d->conn) evhttp_connection_free(d->conn);   /* the last try's */
  d->conn = evhttp_connection_base_new(w->base, NULL, t->host, (unsigned short)t->port);
  if (d->conn == NULL) { fail_try(d); return; }
  evhttp_connection_set_timeout(d->conn, (int)(w->timeout + 0.5));
  evhttp_connection_set_retries(d->conn, 0);
  struct evhttp_request *req = evhttp_request_new(on_answer, d);
  if (req == NULL) goto fail;
  char stamp[32], sig[80], hex[65];
  snprintf(stamp, sizeof stamp, "%lld", (long long)time(NULL));
  sign(w, stamp, d->body, hex);
  snprintf(sig, sizeof sig, "sha256=%s", hex);
  struct evkeyvalq *hs = evhttp_request_get_output_headers(req);
  char host[300];
  snprintf(host, sizeof host, "%s:%d", t->host, t->port);
  evhttp_add_header(hs, "Host", host);
  evhttp_add_header(hs, "Content-Type", "application/json");
  evhttp_add_header(hs, "User-Agent", "mailcast");
  evhttp_add_header(hs, "X-Mailcast-Event", d->kind);
  evhttp_add_header(hs, "X-Mailcast-Timestamp", stamp);
  evhttp_add_header(hs, "X-Mailcast-Signature", sig);
  evbuffer_add(evhttp_request_get_output_buffer(req), d->body, strlen(d->body));
  if (evhttp_make_request(d->conn, req, EVHTTP_REQ_POST, t->path) != 0) goto fail;   /* frees req */
  d->busy = 1;
  return;
fail:
  evhttp_connection_free(d->conn);
  d->conn = NULL;
  fail_try(d);
}


/* http://HOST[:PORT][/PATH] */
static int parse_url(const char *url, target *t, mc_error_t *e) {
  if (strncmp(url, "http://", 7) != 0) {
    mc_error_set(e, "webhook: only http:// URLs (use a local relay for https): '%s'", url);
    return -1;
  }
  const char *h = url + 7, *slash = strchr(h, '/');
  size_t hl = slash ? (size_t)(slash - h) : strlen(h);
  const char *colon = memchr(h, ':', hl);
  size_t namel = colon ? (size_t)(colon - h) : hl;
  t->port = colon ? atoi(colon + 1) : 80;
  if (namel == 0 || t->port <= 0 || t->port > 65535) {
    mc_error_set(e, "webhook: bad URL '%s'", url);
    return -1;
  }
  t->host = strndup(h, namel);
  t->path = strdup(slash ? slash : "/");
  if (t->host == NULL || t->path == NULL) { mc_error_set(e, "out of memory"); return -1; }
  return 0;
}


mc_webhook_t *mc_webhook_new(struct event_base *base, const char *const *urls, size_t nurls,
                             const void *secret, size_t secret_len, double timeout,
                             size_t max_queue, mc_error_t *e) {
  mc_webhook_t *w = calloc(1, sizeof *w);
  if (w == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  w->base = base;
  w->timeout = timeout > 0 ? timeout : 5;
  w->max_queue = max_queue ? max_queue : 10000;
  w->urls = calloc(nurls ? nurls : 1, sizeof *w->urls);
  w->secret = malloc(secret_len ? secret_len : 1);
  w->reaper = event_new(base, -1, 0, reap, w);
  if (w->urls == NULL || w->secret == NULL || w->reaper == NULL) { mc_error_set(e, "out of memory"); goto fail; }
  memcpy(w->secret, secret, secret_len);
  w->secret_len = secret_len;
  for (size_t i = 0; i < nurls; i++) {
    w->nurls = i + 1;
    if (parse_url(urls[i], &w->urls[i], e) != 0) goto fail;
  }
  return w;
fail:
  mc_webhook_free(w);
  return NULL;
}


/* Appends s to out as a JSON string. */
static void json_string(struct evbuffer *out, const char *s) {
  evbuffer_add(out, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') evbuffer_add_printf(out, "\\%c", c);
    else if (c < 0x20) evbuffer_add_printf(out, "\\u%04x", c);
    else evbuffer_add(out, s, 1);
  }
  evbuffer_add(out, "\"", 1);
}


static char *event_json(const char *kind, long long campaign, long long recipient,
                        const char *address, unsigned link, int machine, double at) {
  struct evbuffer *b = evbuffer_new();
  if (b == NULL) return NULL;
  evbuffer_add_printf(b, "{\"event\":\"%s\",\"campaign\":%lld,\"recipient\":%lld,\"address\":",
                      kind, campaign, recipient);
  if (address) json_string(b, address); else evbuffer_add_printf(b, "null");
  evbuffer_add_printf(b, ",\"link\":%u,\"machine\":%s,\"time\":%.3f}", link,
                      machine ? "true" : "false", at);
  size_t n = evbuffer_get_length(b);
  char *s = malloc(n + 1);
  if (s) {
    evbuffer_remove(b, s, n);
    s[n] = '\0';
  }
  evbuffer_free(b);
  return s;
}


static void enqueue(mc_webhook_t *w, size_t url, const char *kind, const char *body) {
  while (w->queued >= w->max_queue) {   /* the oldest waiting one goes */
    delivery *old = w->head;
    while (old && old->busy) old = old->next;
    if (old == NULL) break;
    w->dropped++;
    delivery_free(old);
  }
  if (w->queued >= w->max_queue) { w->dropped++; return; }
  delivery *d = calloc(1, sizeof *d);
  if (d == NULL) { w->dropped++; return; }
  d->w = w;
  d->url = url;
  snprintf(d->kind, sizeof d->kind, "%s", kind);
  d->body = strdup(body);
  d->timer = event_new(w->base, -1, 0, try_send, d);
  d->prev = w->tail;
  if (w->tail) w->tail->next = d; else w->head = d;
  w->tail = d;
  w->queued++;
  if (d->body == NULL || d->timer == NULL) {
    w->dropped++;
    delivery_free(d);
    return;
  }
  schedule(d, 0);   /* from the loop, after the answer to the request */
}


void mc_webhook_event(mc_webhook_t *w, const char *kind, long long campaign,
                      long long recipient, const char *address, unsigned link,
                      int machine, double at) {
  if (w == NULL || w->nurls == 0) return;
  char *body = event_json(kind, campaign, recipient, address, link, machine, at);
  if (body == NULL) { w->dropped += w->nurls; return; }
  for (size_t i = 0; i < w->nurls; i++) enqueue(w, i, kind, body);
  free(body);
}


void mc_webhook_stats(const mc_webhook_t *w, mc_webhook_stats_t *s) {
  s->ok = w ? w->ok : 0;
  s->failed = w ? w->failed : 0;
  s->dropped = w ? w->dropped : 0;
  s->queued = w ? w->queued : 0;
}


void mc_webhook_free(mc_webhook_t *w) {
  if (w == NULL) return;
  while (w->head) delivery_free(w->head);
  reap(-1, 0, w);
  if (w->reaper) event_free(w->reaper);
  for (size_t i = 0; i < w->nurls; i++) {
    free(w->urls[i].host);
    free(w->urls[i].path);
  }
  free(w->urls);
  free(w->secret);
  free(w);
}
