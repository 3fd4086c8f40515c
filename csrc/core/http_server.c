#include "http_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "http_conns.h"
#include "smtp_session.h"   /* mc_timeval */

/* The smallest transparent GIF: 1x1, one transparent colour. */
static const unsigned char pixel[43] = {
  'G', 'I', 'F', '8', '9', 'a', 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00,
  0x00, 0x00, 0x00, 0xff, 0xff, 0xff,                     /* two colours */
  0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00,         /* colour 0 is transparent */
  0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
  0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
};

/* What requests were for, as /metrics names them. */
enum { R_OPEN, R_CLICK, R_UNSUB_PAGE, R_UNSUB, R_HEALTHZ, R_METRICS, R_DASHBOARD, R_OTHER, NREQ };
static const char *const req_names[NREQ] = {
  "open", "click", "unsubscribe_page", "unsubscribe", "healthz", "metrics", "dashboard", "other",
};

enum { E_OPENED, E_CLICKED, E_UNSUBSCRIBED, NEV };
static const char *const ev_names[NEV] = {"opened", "clicked", "unsubscribed"};

/* User-Agents of the proxies and scanners that fetch every image or link
 * of a message before (or without) a person looking at it. */
static const char *const machine_agents[] = {
  "GoogleImageProxy", "YahooMailProxy", "BingPreview", "Barracuda", "Mimecast",
  "Proofpoint", "SafeLinks", "Safe Links", "Microsoft Defender", NULL,
};

#define MAX_WAITING (1u << 20)   /* events held while the store refuses them */

struct mc_http {
  mc_http_opts_t o;
  struct event_base *base;
  struct evhttp *http;
  mc_http_conns_t *conns;      /* each connection's deadline, and how many are held */
  struct event *tick;
  int port;
  mc_hit_t *waiting;           /* opens and clicks not yet written */
  size_t nwaiting, cap;
  unsigned long long requests[NREQ], recorded[NEV], machine_opens;
  unsigned long long bad_tokens, unknown, errors, dropped;
  struct evconnlistener *listener;
  struct event *resume;        /* accepting again after a pause (out of descriptors) */
  unsigned long long accept_errors, unwarned;
  double warned;               /* when accept errors were last written to stderr */
  struct mc_http *next;        /* in servers */
};

/* The servers of the process: libevent gives an accept error callback the
 * listener and evhttp's own argument, so the server is found by its
 * listener. The loop is one thread's. */
static struct mc_http *servers;


static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static int is_machine(const char *agent) {
  if (agent == NULL) return 0;
  if (strcmp(agent, "Mozilla/5.0") == 0) return 1;   /* Apple Mail Privacy Protection */
  for (int i = 0; machine_agents[i]; i++)
    if (strcasestr(agent, machine_agents[i])) return 1;
  return 0;
}


static void log_error(const mc_http_t *h, const char *what, const mc_error_t *e) {
  if (!h->o.quiet) fprintf(stderr, "mailcast serve: %s: %s\n", what, e->msg);
}


int mc_http_flush(mc_http_t *h, mc_error_t *e) {
  if (h->nwaiting == 0) return 0;
  /* Counted once the batch is committed: a rolled back one is tried again. */
  unsigned long long opened = 0, clicked = 0, machine = 0, unknown = 0;
  if (mc_store_begin(h->o.store, e) != 0) return -1;
  for (size_t i = 0; i < h->nwaiting; i++) {
    const mc_hit_t *hit = &h->waiting[i];
    int rc = mc_store_hit(h->o.store, hit, e);
    if (rc < 0) {
      mc_error_t ignored;
      mc_store_rollback(h->o.store, &ignored);
      return -1;
    }
    if (rc == 0) { unknown++; continue; }   /* a token for no recipient of its campaign */
    if (strcmp(hit->kind, "opened") == 0) opened++;
    else clicked++;
    if (hit->machine) machine++;
  }
  if (mc_store_commit(h->o.store, e) != 0) return -1;
  h->recorded[E_OPENED] += opened;
  h->recorded[E_CLICKED] += clicked;
  h->machine_opens += machine;
  h->unknown += unknown;
  h->nwaiting = 0;
  return 0;
}


static void flush_or_log(mc_http_t *h) {
  mc_error_t e;
  if (mc_http_flush(h, &e) != 0) {
    h->errors++;
    log_error(h, "writing events", &e);
  }
}


static void on_tick(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  flush_or_log(arg);
}


/* Keeps an open or click for the next batch (written at once when the
 * batch is full). */
static void record(mc_http_t *h, const mc_token_t *t, const char *kind, int machine) {
  if (h->nwaiting == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 1024;
    mc_hit_t *w = cap <= MAX_WAITING ? realloc(h->waiting, cap * sizeof *w) : NULL;
    if (w == NULL) {   /* the store has refused a million: this one is lost, and counted */
      h->dropped++;
      h->errors++;
      return;
    }
    h->waiting = w;
    h->cap = cap;
  }
  h->waiting[h->nwaiting++] = (mc_hit_t){
    .campaign = (long long)t->campaign, .recipient = (long long)t->recipient,
    .link = (long long)t->link, .at = now_seconds(), .kind = kind, .machine = machine,
  };
  /* Once, when the batch fills: after a failed flush the timer tries
   * again, not every request that comes in meanwhile. */
  if (h->nwaiting == h->o.batch) flush_or_log(h);
}


/* Answers with code, a content type and body (n bytes). */
static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
                  const void *body, size_t n) {
  struct evkeyvalq *out = evhttp_request_get_output_headers(req);
  evhttp_add_header(out, "Content-Type", type);
  evhttp_add_header(out, "Cache-Control", "no-store, no-cache, must-revalidate, max-age=0");
  struct evbuffer *b = evbuffer_new();
  if (b && n) evbuffer_add(b, body, n);
  evhttp_send_reply(req, code, reason, b);
  if (b) evbuffer_free(b);
}


static void text(struct evhttp_request *req, int code, const char *reason, const char *body) {
  reply(req, code, reason, "text/plain; charset=utf-8", body, strlen(body));
}


static void not_found(struct evhttp_request *req) {
  text(req, 404, "Not Found", "not found\n");
}


static void metrics(mc_http_t *h, struct evhttp_request *req) {
  struct evbuffer *b = evbuffer_new();
  if (b == NULL) { h->errors++; text(req, 500, "Internal Server Error", "error\n"); return; }
  evbuffer_add_printf(b, "# HELP mailcast_http_requests_total HTTP requests by kind.\n"
                         "# TYPE mailcast_http_requests_total counter\n");
  for (int i = 0; i < NREQ; i++)
    evbuffer_add_printf(b, "mailcast_http_requests_total{kind=\"%s\"} %llu\n", req_names[i], h->requests[i]);
  evbuffer_add_printf(b, "# HELP mailcast_events_recorded_total Events written to the store by kind.\n"
                         "# TYPE mailcast_events_recorded_total counter\n");
  for (int i = 0; i < NEV; i++)
    evbuffer_add_printf(b, "mailcast_events_recorded_total{kind=\"%s\"} %llu\n", ev_names[i], h->recorded[i]);
  evbuffer_add_printf(b, "# HELP mailcast_machine_opens_total Opens by prefetching proxies and scanners.\n"
                         "# TYPE mailcast_machine_opens_total counter\n"
                         "mailcast_machine_opens_total %llu\n"
                         "# HELP mailcast_events_waiting Events not yet written to the store.\n"
                         "# TYPE mailcast_events_waiting gauge\n"
                         "mailcast_events_waiting %zu\n"
                         "# HELP mailcast_http_bad_tokens_total Forged, altered or malformed tokens.\n"
                         "# TYPE mailcast_http_bad_tokens_total counter\n"
                         "mailcast_http_bad_tokens_total %llu\n"
                         "# HELP mailcast_http_unknown_total Good tokens naming no stored link or recipient.\n"
                         "# TYPE mailcast_http_unknown_total counter\n"
                         "mailcast_http_unknown_total %llu\n"
                         "# HELP mailcast_http_errors_total Requests the server failed: store errors, bad stored links.\n"
                         "# TYPE mailcast_http_errors_total counter\n"
                         "mailcast_http_errors_total %llu\n"
                         "# HELP mailcast_http_accept_errors_total Connections that could not be accepted"
                         " (out of descriptors).\n"
                         "# TYPE mailcast_http_accept_errors_total counter\n"
                         "mailcast_http_accept_errors_total %llu\n",
                      h->machine_opens, h->nwaiting, h->bad_tokens, h->unknown, h->errors, h->accept_errors);
  mc_http_conns_stats_t cs = mc_http_conns_stats(h->conns);
  evbuffer_add_printf(b, "# HELP mailcast_http_connections Connections open now.\n"
                         "# TYPE mailcast_http_connections gauge\n"
                         "mailcast_http_connections %zu\n"
                         "# HELP mailcast_http_connections_timed_out_total Connections closed at their deadline"
                         " for a whole request.\n"
                         "# TYPE mailcast_http_connections_timed_out_total counter\n"
                         "mailcast_http_connections_timed_out_total %llu\n"
                         "# HELP mailcast_http_connections_shed_total Connections closed to make room for a new"
                         " one (the one longest without a request).\n"
                         "# TYPE mailcast_http_connections_shed_total counter\n"
                         "mailcast_http_connections_shed_total %llu\n",
                      cs.open, cs.timed_out, cs.shed);
  if (mc_dash_enabled(h->o.dashboard))
    evbuffer_add_printf(b, "# HELP mailcast_dashboard_pages_total Dashboard pages made by their program, by result.\n"
                           "# TYPE mailcast_dashboard_pages_total counter\n"
                           "mailcast_dashboard_pages_total{result=\"made\"} %llu\n"
                           "mailcast_dashboard_pages_total{result=\"failed\"} %llu\n",
                        mc_dash_built(h->o.dashboard), mc_dash_failed(h->o.dashboard));
  mc_webhook_metrics(h->o.webhook, b);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                    "text/plain; version=0.0.4; charset=utf-8");
  evhttp_send_reply(req, 200, "OK", b);
  evbuffer_free(b);
}


typedef struct {
  long long campaign;
  char address[1024];
  int found;
} recipient_row;


static int on_recipient(void *arg, const mc_col_t *cols, int n) {
  recipient_row *r = arg;
  long long campaign = -1;
  const char *address = NULL;
  for (int i = 0; i < n; i++) {
    if (strcmp(cols[i].name, "campaign") == 0 && cols[i].type == MC_COL_INT) campaign = cols[i].i;
    if (strcmp(cols[i].name, "address") == 0 && cols[i].type == MC_COL_TEXT) address = cols[i].t;
  }
  if (address && campaign == r->campaign && strlen(address) < sizeof r->address) {
    memcpy(r->address, address, strlen(address) + 1);
    r->found = 1;
  }
  return 1;
}


/* Suppresses the token's recipient and records the event, in one
 * transaction; the event once (a second POST suppresses again, should
 * the address have been taken off the list meanwhile, but is no second
 * unsubscribe): 1, 0 when there is no such recipient, -1. */
static int unsubscribe(mc_http_t *h, const mc_token_t *t, mc_error_t *e) {
  recipient_row r = {.campaign = (long long)t->campaign};
  if (t->recipient == 0) return 0;   /* an aggregate token names no one */
  if (mc_store_recipient(h->o.store, (long long)t->recipient, on_recipient, &r, e) != 0) return -1;
  if (!r.found) return 0;
  double now = now_seconds();
  mc_hit_t hit = {.campaign = r.campaign, .recipient = (long long)t->recipient, .at = now,
                  .kind = "unsubscribed"};
  if (mc_store_begin(h->o.store, e) != 0) return -1;
  int fresh = mc_store_hit(h->o.store, &hit, e);
  if (fresh < 0 || mc_store_suppress(h->o.store, r.address, "unsubscribed", now, 0, e) != 0) {
    mc_error_t ignored;
    mc_store_rollback(h->o.store, &ignored);
    return -1;
  }
  if (mc_store_commit(h->o.store, e) != 0) return -1;
  if (fresh) h->recorded[E_UNSUBSCRIBED]++;
  return 1;
}


static const char page_head[] =
  "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
  "<meta name=\"viewport\" content=\"width=device-width\"><title>Unsubscribe</title></head>\n"
  "<body style=\"font-family: sans-serif; max-width: 30em; margin: 3em auto\">\n";


static void unsubscribe_page(struct evhttp_request *req, const char *token) {
  struct evbuffer *b = evbuffer_new();
  if (b == NULL) { text(req, 500, "Internal Server Error", "error\n"); return; }
  /* The token is URL-safe base64 (checked): nothing in it needs escaping. */
  evbuffer_add_printf(b, "%s<h1>Unsubscribe</h1>\n<p>Stop receiving these messages?</p>\n"
                         "<form method=\"post\" action=\"/u/%s\">\n"
                         "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\n"
                         "<button type=\"submit\">Unsubscribe</button>\n</form>\n</body></html>\n",
                      page_head, token);
  struct evkeyvalq *out = evhttp_request_get_output_headers(req);
  evhttp_add_header(out, "Content-Type", "text/html; charset=utf-8");
  evhttp_add_header(out, "Cache-Control", "no-store");
  evhttp_send_reply(req, 200, "OK", b);
  evbuffer_free(b);
}


static void unsubscribed_page(struct evhttp_request *req) {
  static const char tail[] = "<h1>Unsubscribed</h1>\n<p>You will not receive these messages any more.</p>\n"
                             "</body></html>\n";
  char body[sizeof page_head + sizeof tail];
  snprintf(body, sizeof body, "%s%s", page_head, tail);
  reply(req, 200, "OK", "text/html; charset=utf-8", body, strlen(body));
}


/* Reads tok (what follows the route's prefix) into *t when it is a good
 * token of the route's kind: 0, or -1 (counted). */
static int check_token(mc_http_t *h, const char *tok, mc_token_kind_t kind, mc_token_t *t) {
  size_t n = strlen(tok);
  mc_error_t e;
  if (n == 0 || n >= MC_TOKEN_MAX || mc_token_check(h->o.key, tok, n, t, &e) != 0 || t->kind != kind ||
      t->campaign > (uint64_t)MC_TOKEN_ID_MAX || t->recipient > (uint64_t)MC_TOKEN_ID_MAX) {
    h->bad_tokens++;
    return -1;
  }
  return 0;
}


static void on_open(mc_http_t *h, struct evhttp_request *req, const char *tok) {
  mc_token_t t;
  if (check_token(h, tok, MC_TOKEN_OPEN, &t) != 0) { not_found(req); return; }
  const char *agent = evhttp_find_header(evhttp_request_get_input_headers(req), "User-Agent");
  record(h, &t, "opened", is_machine(agent));
  reply(req, 200, "OK", "image/gif", pixel, sizeof pixel);
}


/* url as a Location header may carry it: a space, a quote, a control
 * or non-ASCII byte and the others RFC 3986 does not allow written %XX
 * (a '%' already there is kept: the link may be encoded). NULL when out
 * of memory; the caller frees it. */
static char *location_of(const char *url) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(url);
  char *out = malloc(3 * n + 1);
  if (out == NULL) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c > 0x20 && c < 0x7f && !strchr("\"<>\\^`{|}", c)) { out[k++] = (char)c; continue; }
    out[k++] = '%';
    out[k++] = hex[c >> 4];
    out[k++] = hex[c & 15];
  }
  out[k] = '\0';
  return out;
}


static void on_click(mc_http_t *h, struct evhttp_request *req, const char *tok) {
  mc_token_t t;
  if (check_token(h, tok, MC_TOKEN_CLICK, &t) != 0) { not_found(req); return; }
  char *url = NULL;
  mc_error_t e;
  int rc = mc_store_link_for(h->o.store, (long long)t.campaign, (long long)t.recipient, (long long)t.link, &url, &e);
  if (rc < 0) {
    h->errors++;
    log_error(h, "link", &e);
    text(req, 500, "Internal Server Error", "error\n");
    return;
  }
  if (rc == 0) { h->unknown++; not_found(req); return; }
  /* Always the stored link, never anything from the request. */
  struct evkeyvalq *out = evhttp_request_get_output_headers(req);
  char *location = location_of(url);
  free(url);
  if (location == NULL || evhttp_add_header(out, "Location", location) != 0) {
    h->errors++;
    free(location);
    text(req, 500, "Internal Server Error", "bad stored link\n");
    return;
  }
  free(location);
  record(h, &t, "clicked", 0);
  reply(req, 302, "Found", "text/plain; charset=utf-8", "", 0);
}


/* Whether a POST's body is RFC 8058's one-click "List-Unsubscribe=One-Click"
 * (as a form sends it, URL-encoded or as multipart/form-data): a POST
 * with anything else (a link checker, a crawler) unsubscribes no one. */
static int one_click(struct evhttp_request *req) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t n = evbuffer_get_length(in);
  const char *body = n ? (const char *)evbuffer_pullup(in, (ev_ssize_t)n) : NULL;
  if (body == NULL) return 0;
  static const char field[] = "List-Unsubscribe=One-Click", part[] = "name=\"List-Unsubscribe\"";
  if (memmem(body, n, field, sizeof field - 1)) return 1;
  const char *name = memmem(body, n, part, sizeof part - 1);
  return name && memmem(name, n - (size_t)(name - body), "One-Click", 9) != NULL;
}


static void on_unsubscribe(mc_http_t *h, struct evhttp_request *req, const char *tok, int post) {
  mc_token_t t;
  if (check_token(h, tok, MC_TOKEN_UNSUBSCRIBE, &t) != 0) { not_found(req); return; }
  if (!post) { unsubscribe_page(req, tok); return; }
  if (!one_click(req)) {
    text(req, 400, "Bad Request", "a one-click unsubscribe POSTs List-Unsubscribe=One-Click (RFC 8058)\n");
    return;
  }
  mc_error_t e;
  int rc = unsubscribe(h, &t, &e);
  if (rc < 0) {
    h->errors++;
    log_error(h, "unsubscribe", &e);
    text(req, 500, "Internal Server Error", "error, please try again\n");
    return;
  }
  if (rc == 0) { h->unknown++; not_found(req); return; }
  unsubscribed_page(req);
}


static void handle(struct evhttp_request *req, void *arg) {
  mc_http_t *h = arg;
  mc_http_conns_request_done(h->conns, req);   /* its deadline starts again, for the next request */
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
  const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
  enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
  int get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD, post = cmd == EVHTTP_REQ_POST;
  if (path == NULL) path = "";
  if (strcmp(path, "/healthz") == 0 && get) {
    h->requests[R_HEALTHZ]++;
    text(req, 200, "OK", "ok\n");
  } else if (strcmp(path, "/metrics") == 0 && get) {
    h->requests[R_METRICS]++;
    metrics(h, req);
  } else if (strncmp(path, "/o/", 3) == 0 && get) {
    h->requests[R_OPEN]++;
    on_open(h, req, path + 3);
  } else if (strncmp(path, "/c/", 3) == 0 && get) {
    h->requests[R_CLICK]++;
    on_click(h, req, path + 3);
  } else if ((strcmp(path, "/dashboard") == 0 || strncmp(path, "/dashboard/", 11) == 0) && get) {
    h->requests[R_DASHBOARD]++;
    mc_dash_handle(h->o.dashboard, req, path);
  } else if (strncmp(path, "/u/", 3) == 0 && (get || post)) {
    h->requests[post ? R_UNSUB : R_UNSUB_PAGE]++;
    on_unsubscribe(h, req, path + 3, post);
  } else {
    /* A scanner's paths are counted apart (kind="other"), not as errors:
     * the errors are what an operator must look into. */
    h->requests[R_OTHER]++;
    if (get || post) not_found(req);
    else text(req, 405, "Method Not Allowed", "method not allowed\n");
  }
}


/* As many descriptors as the hard limit allows: the usual soft limit of
 * 1024 is spent by a thousand clients holding connections open, and then
 * no one, /healthz included, gets an answer. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 65536 : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);   /* failing, the limit stays as it was */
}


/* A connection could not be accepted (out of descriptors, or memory): the
 * listening socket stays readable, so accepting again at once would spin
 * and write the error for every try. Accepting pauses for half a second,
 * which lets the idle timeout close connections meanwhile, and the error
 * is written at most every 10 s, with how often it came. */
static void on_accept_error(struct evconnlistener *lev, void *arg) {
  (void)arg;   /* evhttp's */
  int err = EVUTIL_SOCKET_ERROR();
  mc_http_t *h = servers;
  while (h && h->listener != lev) h = h->next;
  if (h == NULL) return;
  h->accept_errors++;
  h->unwarned++;
  evconnlistener_disable(lev);
  struct timeval pause = {0, 500000};
  event_add(h->resume, &pause);
  double now = now_seconds();
  if (h->o.quiet || now - h->warned < 10) return;
  fprintf(stderr, "mailcast serve: cannot accept connections: %s (%llu time%s since the last message);"
          " accepting again in 0.5 s\n", evutil_socket_error_to_string(err), h->unwarned, h->unwarned == 1 ? "" : "s");
  h->warned = now;
  h->unwarned = 0;
}


static void on_resume(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  evconnlistener_enable(((mc_http_t *)arg)->listener);
}


mc_http_t *mc_http_new(struct event_base *base, const char *host, int port,
                       const mc_http_opts_t *o, mc_error_t *e) {
  mc_http_t *h = calloc(1, sizeof *h);
  if (h == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  h->o = *o;
  if (h->o.timeout <= 0) h->o.timeout = 10;
  if (h->o.max_body == 0) h->o.max_body = 4096;
  if (h->o.max_headers == 0) h->o.max_headers = 8192;
  if (h->o.flush_interval <= 0) h->o.flush_interval = 0.1;
  if (h->o.batch == 0) h->o.batch = 1000;
  h->base = base;
  h->http = evhttp_new(base);
  if (h->http == NULL) { mc_error_set(e, "serve: cannot make the HTTP server"); goto fail; }
  struct timeval tv = mc_timeval(h->o.timeout);
  evhttp_set_timeout_tv(h->http, &tv);
  evhttp_set_max_body_size(h->http, (ev_ssize_t)h->o.max_body);
  evhttp_set_max_headers_size(h->http, (ev_ssize_t)h->o.max_headers);
  evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
  evhttp_set_gencb(h->http, handle, h);
  raise_fd_limit();
  /* The timeout is evhttp's for idle time; here it is also the whole
   * request's deadline, which a client sending a byte at a time meets. */
  h->conns = mc_http_conns_new(base, h->http, h->o.timeout, h->o.max_connections, e);
  if (h->conns == NULL) goto fail;
  struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
  if (bound == NULL) { mc_error_set(e, "serve: cannot listen on %s:%d", host, port); goto fail; }
  h->listener = evhttp_bound_socket_get_listener(bound);   /* evhttp's: freed with it */
  h->resume = evtimer_new(base, on_resume, h);
  if (h->resume == NULL) { mc_error_set(e, "serve: cannot make the accept timer"); goto fail; }
  evconnlistener_set_error_cb(h->listener, on_accept_error);
  h->next = servers;
  servers = h;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len) != 0) {
    mc_error_set(e, "serve: cannot read the port");
    goto fail;
  }
  h->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  h->tick = event_new(base, -1, EV_PERSIST, on_tick, h);
  if (h->tick == NULL) { mc_error_set(e, "serve: cannot make the batch timer"); goto fail; }
  struct timeval every = mc_timeval(h->o.flush_interval);
  event_add(h->tick, &every);
  return h;
fail:
  mc_http_free(h);
  return NULL;
}


int mc_http_port(const mc_http_t *h) { return h->port; }


unsigned long long mc_http_recorded(const mc_http_t *h) {
  unsigned long long n = 0;
  for (int i = 0; i < NEV; i++) n += h->recorded[i];
  return n;
}


void mc_http_free(mc_http_t *h) {
  if (h == NULL) return;
  for (mc_http_t **p = &servers; *p; p = &(*p)->next)
    if (*p == h) { *p = h->next; break; }
  if (h->http) evhttp_free(h->http);   /* no request can come after this */
  mc_http_conns_free(h->conns);         /* (after: evhttp_free closes the connections) */
  if (h->o.store) flush_or_log(h);
  if (h->tick) event_free(h->tick);
  if (h->resume) event_free(h->resume);
  free(h->waiting);
  free(h);
}
