#include "http_dashboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>

#include "b64.h"
#include "digest.h"
#include "page_child.h"

#define MAX_CACHED 64      /* pages kept */
#define MAX_JOBS 32        /* pages waiting to be made */
#define MAX_WAITERS 256    /* requests waiting for one page */
#define MAX_PATH 200       /* bytes of a dashboard path */
#define COOKIE "mailcast_dashboard"

typedef struct {
  char *path;
  double at;               /* made then (monotonic) */
  int status;
  char *type;
  char *body;
  size_t len;
} page_t;

typedef struct job {
  struct job *next;
  char *path;
  struct evhttp_request **waiting;
  size_t nwaiting, cap;
} job_t;

struct mc_dash {
  struct event_base *base;
  int on;
  char token_hash[MC_SHA256_HEX];    /* of the token */
  char cookie[MC_SHA256_HEX];        /* the cookie's value: a hash the token cannot be read back from */
  char **argv;                       /* the program's arguments, a slot for the path, NULL */
  size_t argc;
  double cache, timeout;
  size_t max_page;
  int quiet;
  page_t pages[MAX_CACHED];
  job_t *jobs, *last;                /* the first is being made */
  size_t njobs;
  mc_page_child_t *child;
  unsigned long long built, failed;
};


static double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static void answer(struct evhttp_request *req, int code, const char *reason, const char *type,
                   const char *body, size_t n) {
  struct evkeyvalq *out = evhttp_request_get_output_headers(req);
  evhttp_add_header(out, "Content-Type", type);
  evhttp_add_header(out, "Cache-Control", "no-store");
  evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
  evhttp_add_header(out, "X-Frame-Options", "DENY");
  evhttp_add_header(out, "Referrer-Policy", "no-referrer");
  struct evbuffer *b = evbuffer_new();
  if (b && n) evbuffer_add(b, body, n);
  evhttp_send_reply(req, code, reason, b);
  if (b) evbuffer_free(b);
}


static void plain(struct evhttp_request *req, int code, const char *reason, const char *body) {
  answer(req, code, reason, "text/plain; charset=utf-8", body, strlen(body));
}


static const char *reason_of(int status) {
  switch (status) {
  case 200: return "OK";
  case 404: return "Not Found";
  case 503: return "Service Unavailable";
  default: return status >= 500 ? "Internal Server Error" : "Error";
  }
}


static void page_clear(page_t *p) {
  free(p->path);
  free(p->type);
  free(p->body);
  memset(p, 0, sizeof *p);
}


static page_t *cached(mc_dash_t *d, const char *path) {
  for (int i = 0; i < MAX_CACHED; i++)
    if (d->pages[i].path && strcmp(d->pages[i].path, path) == 0) return &d->pages[i];
  return NULL;
}


/* The slot for path's page: its own, else a free one, else the oldest. */
static page_t *slot_for(mc_dash_t *d, const char *path) {
  page_t *p = cached(d, path), *oldest = &d->pages[0];
  if (p) return p;
  for (int i = 0; i < MAX_CACHED; i++) {
    if (d->pages[i].path == NULL) return &d->pages[i];
    if (d->pages[i].at < oldest->at) oldest = &d->pages[i];
  }
  return oldest;
}


static void serve_page(const page_t *p, struct evhttp_request *req) {
  answer(req, p->status, reason_of(p->status), p->type, p->body, p->len);
}


/* Keeps what the program wrote ("STATUS TYPE\n" and the body) as path's
 * page; NULL when it is not that shape or memory ran out. */
static page_t *keep(mc_dash_t *d, const char *path, const char *out, size_t len) {
  const char *nl = memchr(out, '\n', len < 300 ? len : 300);
  if (nl == NULL) return NULL;
  char head[300];
  memcpy(head, out, (size_t)(nl - out));
  head[nl - out] = '\0';
  char *type;
  long status = strtol(head, &type, 10);
  if (status < 200 || status > 599 || *type != ' ' || type[1] == '\0') return NULL;
  type++;
  for (const char *t = type; *t; t++)
    if ((unsigned char)*t < 0x20 || (unsigned char)*t == 0x7f) return NULL;   /* a header value */
  page_t fresh = {0};
  size_t body_len = len - (size_t)(nl + 1 - out);
  fresh.path = strdup(path);
  fresh.type = strdup(type);
  fresh.body = malloc(body_len ? body_len : 1);
  if (fresh.path == NULL || fresh.type == NULL || fresh.body == NULL) { page_clear(&fresh); return NULL; }
  memcpy(fresh.body, nl + 1, body_len);
  fresh.len = body_len;
  fresh.status = (int)status;
  fresh.at = now_mono();
  page_t *p = slot_for(d, path);
  page_clear(p);
  *p = fresh;
  return p;
}


static void job_free(job_t *j) {
  free(j->path);
  free(j->waiting);
  free(j);
}


static void start_next(mc_dash_t *d);


/* The page program of the first job is done: every request waiting for
 * it gets its answer, and the next job starts. */
static void on_made(void *arg, int ok, const char *out, size_t len, const char *why) {
  mc_dash_t *d = arg;
  job_t *j = d->jobs;
  page_t *p = ok ? keep(d, j->path, out, len) : NULL;
  mc_page_child_free(d->child);   /* out was its: not used after this */
  d->child = NULL;
  if (p) d->built++;
  else {
    d->failed++;
    if (!d->quiet)
      fprintf(stderr, "mailcast serve: dashboard page %s: %s\n", j->path, ok ? "not a page" : why);
  }
  for (size_t i = 0; i < j->nwaiting; i++) {
    if (p) serve_page(p, j->waiting[i]);
    else plain(j->waiting[i], 503, "Service Unavailable", "the dashboard could not make this page now\n");
  }
  d->jobs = j->next;
  if (d->jobs == NULL) d->last = NULL;
  d->njobs--;
  job_free(j);
  start_next(d);
}


/* Starts the first job's page program unless one runs already. */
static void start_next(mc_dash_t *d) {
  if (d->jobs == NULL || d->child) return;
  d->argv[d->argc] = d->jobs->path;
  mc_error_t e;
  d->child = mc_page_child_run(d->base, d->argv, d->timeout, d->max_page, on_made, d, &e);
  d->argv[d->argc] = NULL;
  if (d->child == NULL) on_made(d, 0, "", 0, e.msg);   /* answers its requests and tries the next job */
}


static void busy(struct evhttp_request *req) {
  plain(req, 503, "Service Unavailable", "the dashboard is busy, try again\n");
}


/* The job making path's page, or a new one at the end of the queue
 * (NULL when the queue is full or memory ran out). */
static job_t *job_for(mc_dash_t *d, const char *path) {
  for (job_t *j = d->jobs; j; j = j->next)
    if (strcmp(j->path, path) == 0) return j;
  if (d->njobs >= MAX_JOBS) return NULL;
  job_t *j = calloc(1, sizeof *j);
  if (j == NULL || (j->path = strdup(path)) == NULL
      || (j->waiting = malloc(4 * sizeof *j->waiting)) == NULL) {
    if (j) free(j->path);
    free(j);
    return NULL;
  }
  j->cap = 4;
  if (d->last) d->last->next = j; else d->jobs = j;
  d->last = j;
  d->njobs++;
  return j;
}


/* req waits for path's page: a job never has no request waiting. */
static void wait_for(mc_dash_t *d, struct evhttp_request *req, const char *path) {
  job_t *j = job_for(d, path);
  if (j == NULL) { busy(req); return; }
  if (j->nwaiting == j->cap) {
    size_t cap = j->cap * 2;
    struct evhttp_request **w = cap <= MAX_WAITERS ? realloc(j->waiting, cap * sizeof *w) : NULL;
    if (w == NULL) { busy(req); return; }   /* (j has its waiting requests already) */
    j->waiting = w;
    j->cap = cap;
  }
  j->waiting[j->nwaiting++] = req;
  start_next(d);
}


/* Authentication --------------------------------------------------------- */

/* Whether s (n bytes) is the token: their hashes compared in constant time. */
static int is_token(const mc_dash_t *d, const char *s, size_t n) {
  char h[MC_SHA256_HEX];
  mc_error_t e;
  if (mc_sha256_hex(s, n, h, &e) != 0) return 0;
  return CRYPTO_memcmp(h, d->token_hash, MC_SHA256_HEX - 1) == 0;
}


static int basic_ok(const mc_dash_t *d, const char *v) {
  size_t n = strlen(v);
  if (n > 1024) return 0;
  unsigned char plain_text[1024];
  size_t bad, len = mc_b64_decode(plain_text, v, n, 1, &bad);
  if (len == (size_t)-1) return 0;
  const unsigned char *colon = memchr(plain_text, ':', len);
  if (colon == NULL) return 0;
  size_t at = (size_t)(colon + 1 - plain_text);
  int ok = is_token(d, (const char *)colon + 1, len - at);
  OPENSSL_cleanse(plain_text, sizeof plain_text);
  return ok;
}


static int header_ok(const mc_dash_t *d, const char *auth) {
  if (auth == NULL) return 0;
  if (strncasecmp(auth, "Bearer ", 7) == 0) return is_token(d, auth + 7, strlen(auth + 7));
  if (strncasecmp(auth, "Basic ", 6) == 0) return basic_ok(d, auth + 6);
  return 0;
}


/* The value of the dashboard's cookie in a Cookie header, when it has
 * the right length. */
static int cookie_ok(const mc_dash_t *d, const char *cookies) {
  static const char name[] = COOKIE "=";
  for (const char *c = cookies; c && *c;) {
    while (*c == ' ' || *c == ';') c++;
    if (strncmp(c, name, sizeof name - 1) == 0) {
      const char *v = c + sizeof name - 1;
      size_t n = strcspn(v, "; ");
      if (n == MC_SHA256_HEX - 1 && CRYPTO_memcmp(v, d->cookie, n) == 0) return 1;
    }
    c = strchr(c, ';');
  }
  return 0;
}


static void refuse(struct evhttp_request *req) {
  evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                    "Basic realm=\"mailcast dashboard\", charset=\"UTF-8\"");
  plain(req, 401, "Unauthorized",
        "the dashboard needs its token: as a bearer token, as the password of HTTP Basic,"
        " or once as ?token=\n");
}


/* ?token=T: a good one sets the cookie and sends the browser to the page
 * without it (so it is not kept in history or logs). 1 when answered. */
static int token_in_query(mc_dash_t *d, struct evhttp_request *req, const char *path) {
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
  const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
  if (query == NULL) return 0;
  struct evkeyvalq q;
  int parsed = evhttp_parse_query_str(query, &q) == 0;   /* (it starts q, even when it fails) */
  const char *t = parsed ? evhttp_find_header(&q, "token") : NULL;
  int good = t && is_token(d, t, strlen(t)), given = t != NULL;
  evhttp_clear_headers(&q);   /* (t was q's) */
  if (!given) return 0;
  if (!good) { refuse(req); return 1; }
  char cookie[160];
  snprintf(cookie, sizeof cookie, COOKIE "=%s; Path=/dashboard; HttpOnly; SameSite=Strict", d->cookie);
  struct evkeyvalq *out = evhttp_request_get_output_headers(req);
  evhttp_add_header(out, "Set-Cookie", cookie);
  evhttp_add_header(out, "Location", path);   /* checked: only safe characters */
  plain(req, 303, "See Other", "signed in\n");
  return 1;
}


/* A path the page program may be given: the dashboard's, short, of
 * letters, digits and - _ . / only. */
static int good_path(const char *path) {
  size_t n = strlen(path);
  if (n > MAX_PATH || strstr(path, "..")) return 0;
  return strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") == n;
}


void mc_dash_handle(mc_dash_t *d, struct evhttp_request *req, const char *path) {
  if (d == NULL || !d->on) {
    plain(req, 404, "Not Found",
          "the dashboard is off: start mailcast serve with --dashboard-token or MAILCAST_DASHBOARD_TOKEN\n");
    return;
  }
  if (!good_path(path)) { plain(req, 404, "Not Found", "not found\n"); return; }
  if (token_in_query(d, req, path)) return;
  struct evkeyvalq *in = evhttp_request_get_input_headers(req);
  if (!header_ok(d, evhttp_find_header(in, "Authorization")) && !cookie_ok(d, evhttp_find_header(in, "Cookie"))) {
    refuse(req);
    return;
  }
  page_t *p = cached(d, path);
  if (p && now_mono() - p->at < d->cache) { serve_page(p, req); return; }
  wait_for(d, req, path);
}


/* Setting up -------------------------------------------------------------- */

mc_dash_t *mc_dash_new(struct event_base *base, const mc_dash_opts_t *o, mc_error_t *e) {
  mc_dash_t *d = calloc(1, sizeof *d);
  if (d == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  d->base = base;
  d->cache = o->cache > 0 ? o->cache : 2;
  d->timeout = o->timeout > 0 ? o->timeout : 30;
  d->max_page = o->max_page ? o->max_page : 32u << 20;
  d->quiet = o->quiet;
  d->on = o->token != NULL && o->token_len > 0;
  if (!d->on) return d;
  if (o->argv == NULL || o->argv[0] == NULL) {
    mc_error_set(e, "serve: the dashboard needs a page program");
    goto fail;
  }
  if (mc_sha256_hex(o->token, o->token_len, d->token_hash, e) != 0) goto fail;
  static const char salt[] = "mailcast dashboard cookie\n";
  size_t n = sizeof salt - 1 + o->token_len;
  char *salted = malloc(n);
  if (salted == NULL) { mc_error_set(e, "out of memory"); goto fail; }
  memcpy(salted, salt, sizeof salt - 1);
  memcpy(salted + sizeof salt - 1, o->token, o->token_len);
  int rc = mc_sha256_hex(salted, n, d->cookie, e);
  OPENSSL_cleanse(salted, n);
  free(salted);
  if (rc != 0) goto fail;
  while (o->argv[d->argc]) d->argc++;
  d->argv = calloc(d->argc + 2, sizeof *d->argv);   /* and the path, and NULL */
  if (d->argv == NULL) { mc_error_set(e, "out of memory"); goto fail; }
  for (size_t i = 0; i < d->argc; i++)
    if ((d->argv[i] = strdup(o->argv[i])) == NULL) { mc_error_set(e, "out of memory"); goto fail; }
  return d;
fail:
  mc_dash_free(d);
  return NULL;
}


int mc_dash_enabled(const mc_dash_t *d) { return d && d->on; }

unsigned long long mc_dash_built(const mc_dash_t *d) { return d ? d->built : 0; }

unsigned long long mc_dash_failed(const mc_dash_t *d) { return d ? d->failed : 0; }


void mc_dash_free(mc_dash_t *d) {
  if (d == NULL) return;
  mc_page_child_free(d->child);
  while (d->jobs) {
    job_t *j = d->jobs;
    d->jobs = j->next;
    job_free(j);
  }
  for (int i = 0; i < MAX_CACHED; i++) page_clear(&d->pages[i]);
  if (d->argv)
    for (size_t i = 0; i < d->argc; i++) free(d->argv[i]);
  free(d->argv);
  OPENSSL_cleanse(d->token_hash, sizeof d->token_hash);
  OPENSSL_cleanse(d->cookie, sizeof d->cookie);
  free(d);
}
