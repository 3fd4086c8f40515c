#include "smtp_session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "addr.h"
#include "b64.h"
#include "buf.h"
#include "smtp_data.h"
#include "hostname.h"
#include "printable.h"
#include "ssl_error.h"

/* What the reply at the head of the queue answers. */
typedef enum {
  X_GREETING, X_EHLO, X_HELO, X_STARTTLS, X_AUTH, X_MAIL, X_RCPT, X_DATA,
  X_DOT, X_BDAT, X_RSET, X_COMMAND, X_QUIT
} expect_t;

typedef enum { OP_NONE, OP_OPEN, OP_TXN, OP_COMMAND, OP_DATA, OP_QUIT } op_t;

typedef enum { AUTH_NONE, AUTH_PLAIN, AUTH_LOGIN, AUTH_XOAUTH2 } auth_t;

/* One transaction on the session, from its MAIL to its last reply. */
typedef struct {
  const mc_txn_t *txn;
  mc_rcpt_result_t *results;
  size_t nresults;
  size_t rcpt_next;            /* next RCPT to send without pipelining */
  size_t rcpt_seen;            /* RCPT replies received */
  size_t accepted;
  int mail_ok;
  int data_queued;             /* its data and end are written: it sends nothing more */
  struct evbuffer *chunk;      /* its BDAT chunk, made before it is taken ahead */
  mc_session_cb cb;
  void *arg;
} txn_t;

struct mc_session {
  struct event_base *base;
  const mc_route_t *route;
  struct bufferevent *bev;
  struct event *timer;
  mc_reply_parser_t parser;
  expect_t *expect;            /* replies still to come, in order */
  size_t qhead, qlen, qcap;
  op_t op;
  mc_session_cb cb;
  void *arg;
  int failed;
  int failed_by_reply;         /* the failure is the reply in s->reply */
  mc_error_t err;
  mc_reply_t reply;
  unsigned ext;
  size_t size_limit;
  unsigned auth_offered;       /* bit per auth_t */
  auth_t auth_used;
  int auth_step;
  int tls_on;
  int tls_plain;               /* what came where TLS should was plain text */
  char tls_desc[96];
  int flushing;                /* data queued: the end-of-data timer waits for it */
  int direct;                  /* plain TCP: flush() writes, the write event is off */
  struct evbuffer *tls_out;    /* TLS: what is queued, handed to OpenSSL by flush() */
  int read_some;               /* replies came in this callback: see ack_now() */
  const mc_txn_t *txn;          /* OP_DATA's */
  txn_t tx[2];                 /* OP_TXN: the transaction the replies at the
                                  head of the queue answer, and one sent
                                  behind its data (RFC 2920) */
  size_t ntx;
  mc_rcpt_result_t *results;   /* those of the transaction last reported */
  size_t nresults;
  mc_session_cb ready_cb;      /* the session can take a transaction ahead */
  void *ready_arg;
  int ready_due;               /* call ready_cb on the way out */
  size_t ntxn;
  size_t target;               /* index in route->targets */
  int retryable;               /* a failure now moves on to the next target */
  char peer[320];
  int depth;                   /* libevent callbacks of ours on the stack */
  int doomed;                  /* freed from inside one: free on the way out */
  mc_trace_cb trace;           /* the transcript's, or NULL */
  void *trace_arg;
  size_t secret_from;          /* of the line being sent: where credentials start */
};


static void really_free(mc_session_t *s);
static int can_take(const mc_session_t *s);
static void fail_txns(mc_session_t *s);
static void free_results(mc_session_t *s);


static void free_rcpt_results(mc_rcpt_result_t *results, size_t n) {
  for (size_t i = 0; i < n; i++) free(results[i].text);
  free(results);
}


/* Around each libevent callback: an operation's callback may free the
 * session (a pool done with it), which must wait until we are out. */
static void enter(mc_session_t *s) { s->depth++; }


static size_t flush(mc_session_t *s);
static void ack_now(mc_session_t *s);

static void leave(mc_session_t *s) {
  if (--s->depth > 0) return;
  if (s->ready_due && !s->doomed) {
    /* Before the flush: a transaction the owner adds now leaves in the
     * same write as the data ahead of it. */
    s->ready_due = 0;
    s->depth++;
    if (can_take(s)) s->ready_cb(s, s->ready_arg);
    s->depth--;
  }
  if (s->doomed) { really_free(s); return; }
  int read_some = s->read_some;
  s->read_some = 0;
  /* Nothing to write for what was read, and more replies to come: the
   * ACK must not wait for our next write. */
  if (flush(s) == 0 && read_some && s->qlen > 0) ack_now(s);
}


struct timeval mc_timeval(double seconds) {
  if (seconds < 0) seconds = 0;
  time_t whole = (time_t)seconds;
  return (struct timeval){whole, (suseconds_t)((seconds - (double)whole) * 1e6)};
}


void mc_route_init(mc_route_t *r) {
  memset(r, 0, sizeof *r);
  r->port = 25;
  r->tls = MC_TLS_OPPORTUNISTIC;
  r->pipelining = 1;
  r->chunking = 1;
  r->timeouts = (mc_smtp_timeouts_t){
    .connect = 30, .greeting = 300, .ehlo = 300, .tls = 60, .mail = 300, .rcpt = 300,
    .data_init = 120, .data_block = 180, .data_end = 600, .command = 300,
  };
}


static void tls_error(mc_error_t *e, const char *what) {
  mc_error_ssl(e, "tls", what);
}


int mc_route_prepare(mc_route_t *r, mc_error_t *e) {
  if (r->tls == MC_TLS_NONE && !r->implicit_tls) return 0;
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) { tls_error(e, "cannot make a context"); return -1; }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (r->tls == MC_TLS_VERIFY) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = r->ca_file ? SSL_CTX_load_verify_locations(ctx, r->ca_file, NULL)
                        : SSL_CTX_set_default_verify_paths(ctx);
    if (!ok) {
      tls_error(e, r->ca_file ? "cannot load the CA file" : "cannot load the system store");
      SSL_CTX_free(ctx);
      return -1;
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  }
  r->ssl_ctx = ctx;
  return 0;
}


void mc_route_free(mc_route_t *r) {
  free(r->host);
  for (size_t i = 0; i < r->ntargets; i++) {
    free(r->targets[i].address);
    free(r->targets[i].name);
  }
  free(r->targets);
  free(r->server_name);
  free(r->ca_file);
  free(r->helo);
  if (r->password) OPENSSL_cleanse(r->password, strlen(r->password));
  if (r->oauth_token) OPENSSL_cleanse(r->oauth_token, strlen(r->oauth_token));
  free(r->user);
  free(r->password);
  free(r->oauth_token);
  free(r->auth_mechanism);
  if (r->ssl_ctx) SSL_CTX_free(r->ssl_ctx);
  memset(r, 0, sizeof *r);
}


static void on_timeout(evutil_socket_t fd, short what, void *arg);


mc_session_t *mc_session_new(struct event_base *base, const mc_route_t *route) {
  mc_session_t *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->base = base;
  s->route = route;
  s->timer = evtimer_new(base, on_timeout, s);
  if (s->timer == NULL) { free(s); return NULL; }
  s->secret_from = MC_TRACE_NO_SECRET;
  return s;
}


void mc_session_trace(mc_session_t *s, mc_trace_cb cb, void *arg) {
  s->trace = cb;
  s->trace_arg = arg;
}


/* The name of the server being talked to, for messages and TLS. */
static const char *host_name(const mc_session_t *s) {
  const mc_route_t *r = s->route;
  if (r->ntargets) return r->targets[s->target].name ? r->targets[s->target].name : r->targets[s->target].address;
  return r->host;
}


static const char *host_address(const mc_session_t *s) {
  const mc_route_t *r = s->route;
  return r->ntargets ? r->targets[s->target].address : r->host;
}


/* The port of the current target. */
static int target_port(const mc_session_t *s) {
  const mc_route_t *r = s->route;
  return r->ntargets && r->targets[s->target].port ? r->targets[s->target].port : r->port;
}


static void connect_target(mc_session_t *s);


/* ---- completing operations ---- */

static void set_results_error(const mc_session_t *s, txn_t *x) {
  for (size_t i = 0; i < x->nresults; i++) {
    mc_rcpt_result_t *r = &x->results[i];
    if (r->sent) continue;
    /* Whatever the server said before the failure stands, unless it had
     * accepted the recipient: then the data never got its 250. */
    if (r->code == 0 || (r->code / 100 == 2)) {
      r->code = 0;
      r->enhanced[0] = '\0';
      free(r->text);
      r->text = strdup(s->err.msg);
    }
  }
}


static void finish(mc_session_t *s) {
  evtimer_del(s->timer);
  s->op = OP_NONE;
  mc_session_cb cb = s->cb;
  s->cb = NULL;
  if (cb) cb(s, s->arg);   /* may start the next operation or free s */
}


static void drop_connection(mc_session_t *s) {
  if (s->bev) {
    bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
    /* The socket is closed by the loop when it next turns (libevent
     * finalizes a freed bufferevent there); the server hears us go now. */
    evutil_socket_t fd = bufferevent_getfd(s->bev);
    if (fd >= 0) shutdown(fd, SHUT_RDWR);
    bufferevent_free(s->bev);
    s->bev = NULL;
  }
  if (s->tls_out) {
    evbuffer_free(s->tls_out);
    s->tls_out = NULL;
  }
  s->qlen = 0;
  mc_reply_parser_reset(&s->parser);
}


static void fail(mc_session_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ends the operation with the session broken. The reply is cleared: the
 * failure was not the server's answer (fail_with_reply sets its own). */
static void fail(mc_session_t *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->err.msg, sizeof s->err.msg, fmt, ap);
  va_end(ap);
  if (s->op == OP_OPEN && s->retryable && s->target + 1 < s->route->ntargets) {
    /* RFC 5321 5.1: on to the next MX host. s->err keeps why. */
    s->target++;
    s->failed_by_reply = 0;
    drop_connection(s);
    connect_target(s);
    return;
  }
  if (!s->failed_by_reply) mc_reply_free(&s->reply);
  s->failed_by_reply = 0;
  s->failed = 1;
  drop_connection(s);
  if (s->op == OP_TXN) fail_txns(s);
  else finish(s);
}


/* Ends an operation whose server said no in a way that leaves the
 * connection unusable (a refused greeting, a failed TLS negotiation). */
static void fail_with_reply(mc_session_t *s, const char *what, mc_reply_t *r) {
  if (r != &s->reply) {
    mc_reply_free(&s->reply);
    s->reply = *r;
    memset(r, 0, sizeof *r);
  }
  s->failed_by_reply = 1;
  fail(s, "smtp: %s: %d %s%s%.300s", what, s->reply.code, s->reply.enhanced,
       s->reply.enhanced[0] ? " " : "", s->reply.text.data ? s->reply.text.data : "");
}


/* ---- sending ---- */

static double timeout_for(const mc_session_t *s, expect_t x) {
  const mc_smtp_timeouts_t *t = &s->route->timeouts;
  switch (x) {
  case X_GREETING: return t->greeting;
  case X_EHLO: case X_HELO: return t->ehlo;
  case X_STARTTLS: return t->tls;
  case X_MAIL: return t->mail;
  case X_RCPT: return t->rcpt;
  case X_DATA: return t->data_init;
  case X_DOT: case X_BDAT: return t->data_end;
  default: return t->command;
  }
}


static const char *expect_name(expect_t x) {
  static const char *const names[] = {
    "greeting", "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA",
    "end of data", "BDAT", "RSET", "command", "QUIT",
  };
  return names[x];
}


static void arm(mc_session_t *s) {
  evtimer_del(s->timer);
  if (s->qlen == 0 || s->flushing) return;
  struct timeval tv = mc_timeval(timeout_for(s, s->expect[s->qhead]));
  evtimer_add(s->timer, &tv);
}


/* All the data is handed to the kernel: the end-of-data timer starts. */
static void sent(mc_session_t *s) {
  if (s->flushing) {
    s->flushing = 0;
    arm(s);
  }
}


/* Where commands and data are queued until flush(). */
static struct evbuffer *output(mc_session_t *s) {
  return s->tls_out ? s->tls_out : bufferevent_get_output(s->bev);
}


/* A pipelined group up to this size becomes one SSL_write: a few full
 * TLS records, not one per command line and data piece. */
#define TLS_GROUP_MAX (4 * 16384)

/* TLS: the bufferevent makes one record of each piece it is given, at
 * once (the STARTTLS filter) or at the next write event, so what a
 * callback queued is handed over whole, in one contiguous piece. A
 * record per command costs both sides a record each, and a server that
 * reads a record at a time (Postfix) then answers each command in a
 * write of its own. */
static size_t hand_to_tls(mc_session_t *s) {
  size_t n = evbuffer_get_length(s->tls_out);
  if (n == 0 || s->bev == NULL) return 0;
  evbuffer_pullup(s->tls_out, n <= TLS_GROUP_MAX ? (ev_ssize_t)n : 16384);
  /* Out of memory: it stays queued, and the reply's timeout ends it. */
  if (evbuffer_add_buffer(bufferevent_get_output(s->bev), s->tls_out) != 0) return 0;
  return n;
}


/* What the session queued is written when the outermost callback or
 * call of ours returns; the number of bytes handed on comes back.
 * Plain TCP: straight to the socket, with the bufferevent's write event
 * left off. The event is armed only when the kernel does not take it
 * all (the bufferevent then writes the rest, or reports the error);
 * arming and disarming EPOLLOUT for every write cost two epoll_ctl
 * calls a write, four a message. */
static size_t flush(mc_session_t *s) {
  if (s->tls_out) return hand_to_tls(s);
  if (!s->direct || s->bev == NULL) return 0;
  struct evbuffer *out = bufferevent_get_output(s->bev);
  size_t queued = evbuffer_get_length(out);
  if (queued == 0) return 0;
  /* With the write event on, the bufferevent is writing: it keeps order. */
  int writing = (bufferevent_get_enabled(s->bev) & EV_WRITE) != 0;
  if (!writing) {
    struct evbuffer_iovec vec[64];
    struct iovec iov[64];
    int n = evbuffer_peek(out, -1, NULL, vec, 64);
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) iov[i] = (struct iovec){vec[i].iov_base, vec[i].iov_len};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t written = sendmsg(bufferevent_getfd(s->bev), &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (written > 0) evbuffer_drain(out, (size_t)written);
  }
  if (evbuffer_get_length(out) == 0) sent(s);
  else if (!writing) bufferevent_enable(s->bev, EV_WRITE);
  return queued;
}


/* ACKs what was read now rather than up to 40 ms later (Linux's delayed
 * ACK). A server that writes its replies without TCP_NODELAY holds a
 * second write until the first is acknowledged (Nagle), and Postfix's
 * smtpd writes what it has whenever its 4 KB input buffer runs dry: the
 * replies to MAIL and RCPT while it reads a BDAT chunk, the rest after
 * it. With nothing of ours to carry the ACK, each message then waited
 * for the delayed ACK. The kernel turns quick ACKs off again by itself,
 * so this is done after each read that leaves us waiting. */
static void ack_now(mc_session_t *s) {
#ifdef TCP_QUICKACK
  evutil_socket_t fd = s->bev ? bufferevent_getfd(s->bev) : -1;
  int one = 1;
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#else
  (void)s;
#endif
}


static int push_expect(mc_session_t *s, expect_t x) {
  if (s->qhead + s->qlen == s->qcap) {
    if (s->qhead > 0) {
      memmove(s->expect, s->expect + s->qhead, s->qlen * sizeof *s->expect);
      s->qhead = 0;
    } else {
      size_t cap = s->qcap ? s->qcap * 2 : 16;
      expect_t *q = realloc(s->expect, cap * sizeof *q);
      if (q == NULL) return -1;
      s->expect = q;
      s->qcap = cap;
    }
  }
  s->expect[s->qhead + s->qlen++] = x;
  if (s->qlen == 1) arm(s);
  return 0;
}


/* Queues "line CRLF" and the reply it expects; the write happens when
 * the loop runs, so commands queued together leave in one packet. */
static int send_line(mc_session_t *s, expect_t x, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int send_line(mc_session_t *s, expect_t x, const char *fmt, ...) {
  struct evbuffer *out = output(s);
  size_t before = evbuffer_get_length(out);
  va_list ap;
  va_start(ap, fmt);
  int rc = evbuffer_add_vprintf(out, fmt, ap);
  va_end(ap);
  if (rc < 0 || evbuffer_add(out, "\r\n", 2) != 0 || push_expect(s, x) != 0) {
    fail(s, "out of memory");
    return -1;
  }
  mc_trace_sent(s->trace, s->trace_arg, out, before, s->secret_from);
  return 0;
}


/* send_line for a command made of pieces (MAIL, RCPT, DATA, once per
 * message each): joined as they are, without a format to parse. */
static int send_words(mc_session_t *s, expect_t x, const char *const *words, size_t n) {
  struct evbuffer *out = output(s);
  size_t before = evbuffer_get_length(out);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) rc = evbuffer_add(out, words[i], strlen(words[i]));
  if (rc != 0 || evbuffer_add(out, "\r\n", 2) != 0 || push_expect(s, x) != 0) {
    fail(s, "out of memory");
    return -1;
  }
  mc_trace_sent(s->trace, s->trace_arg, out, before, MC_TRACE_NO_SECRET);
  return 0;
}


static int send_data_command(mc_session_t *s) {
  return send_words(s, X_DATA, (const char *[]){"DATA"}, 1);
}


static int queue_data(mc_session_t *s, const mc_txn_t *t) {
  struct evbuffer *out = output(s);
  size_t before = evbuffer_get_length(out);
  mc_error_t e;
  if (mc_smtp_write_data(t, out, 1, &e) != 0) { fail(s, "%s", e.msg); return -1; }
  mc_trace_size(s->trace, s->trace_arg, evbuffer_get_length(out) - before);
  before = evbuffer_get_length(out);
  /* The end of the data goes with its last bytes: no small write of its
   * own to wait on Nagle and delayed ACKs. */
  evbuffer_add(out, ".\r\n", 3);
  mc_trace_sent(s->trace, s->trace_arg, out, before, MC_TRACE_NO_SECRET);
  s->flushing = 1;
  if (push_expect(s, X_DOT) != 0) { fail(s, "out of memory"); return -1; }
  return 0;
}


/* The whole message as one BDAT LAST chunk (RFC 3030): no 354 to wait
 * for, so with PIPELINING the transaction is a single write. */
static struct evbuffer *bdat_chunk(const mc_txn_t *t, mc_error_t *e) {
  struct evbuffer *chunk = evbuffer_new();
  if (chunk == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  if (mc_smtp_write_data(t, chunk, 0, e) != 0) { evbuffer_free(chunk); return NULL; }
  return chunk;
}


/* chunk: made already (it is the queue's now), or NULL to make it here. */
static int queue_bdat(mc_session_t *s, const mc_txn_t *t, struct evbuffer *chunk) {
  mc_error_t e;
  if (chunk == NULL && (chunk = bdat_chunk(t, &e)) == NULL) { fail(s, "%s", e.msg); return -1; }
  struct evbuffer *out = output(s);
  size_t before = evbuffer_get_length(out), size = evbuffer_get_length(chunk);
  int rc = evbuffer_add_printf(out, "BDAT %zu LAST\r\n", size) < 0;
  mc_trace_sent(s->trace, s->trace_arg, out, before, MC_TRACE_NO_SECRET);
  mc_trace_size(s->trace, s->trace_arg, size);
  rc = rc || evbuffer_add_buffer(out, chunk) != 0;
  evbuffer_free(chunk);
  s->flushing = 1;
  if (rc != 0 || push_expect(s, X_BDAT) != 0) { fail(s, "out of memory"); return -1; }
  return 0;
}


static int chunking(const mc_session_t *s) {
  return s->route->chunking && (s->ext & MC_EXT_CHUNKING);
}


/* ---- opening ---- */

static void parse_ehlo(mc_session_t *s, const mc_reply_t *r) {
  static const struct { const char *kw; unsigned bit; } kws[] = {
    {"PIPELINING", MC_EXT_PIPELINING}, {"SIZE", MC_EXT_SIZE}, {"8BITMIME", MC_EXT_8BITMIME},
    {"SMTPUTF8", MC_EXT_SMTPUTF8}, {"ENHANCEDSTATUSCODES", MC_EXT_ENHANCED},
    {"DSN", MC_EXT_DSN}, {"STARTTLS", MC_EXT_STARTTLS}, {"AUTH", MC_EXT_AUTH},
    {"CHUNKING", MC_EXT_CHUNKING},
  };
  s->ext = 0;
  s->size_limit = 0;
  s->auth_offered = 0;
  const char *p = r->text.data ? r->text.data : "";
  const char *end = p + r->text.len;
  const char *line = memchr(p, '\n', (size_t)(end - p));   /* skip the greeting line */
  while (line && line < end) {
    line++;
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    size_t n = eol ? (size_t)(eol - line) : (size_t)(end - line);
    size_t kwlen = 0;
    while (kwlen < n && line[kwlen] != ' ' && line[kwlen] != '=') kwlen++;
    for (size_t k = 0; k < sizeof kws / sizeof kws[0]; k++) {
      if (strlen(kws[k].kw) == kwlen && strncasecmp(line, kws[k].kw, kwlen) == 0)
        s->ext |= kws[k].bit;
    }
    if (kwlen == 4 && strncasecmp(line, "SIZE", 4) == 0 && kwlen < n)
      s->size_limit = (size_t)strtoull(line + kwlen + 1, NULL, 10);
    if (kwlen == 4 && (strncasecmp(line, "AUTH", 4) == 0)) {
      for (size_t i = kwlen; i < n;) {
        while (i < n && (line[i] == ' ' || line[i] == '=')) i++;
        size_t w = i;
        while (i < n && line[i] != ' ') i++;
        if (i - w == 5 && strncasecmp(line + w, "PLAIN", 5) == 0) s->auth_offered |= 1u << AUTH_PLAIN;
        if (i - w == 5 && strncasecmp(line + w, "LOGIN", 5) == 0) s->auth_offered |= 1u << AUTH_LOGIN;
        if (i - w == 7 && strncasecmp(line + w, "XOAUTH2", 7) == 0) s->auth_offered |= 1u << AUTH_XOAUTH2;
      }
    }
    line = eol;
  }
}


static void send_b64(mc_session_t *s, expect_t x, const char *prefix, const char *data, size_t n) {
  char *enc = malloc(mc_b64_encoded_len(n, 0) + 1);
  if (enc == NULL) { fail(s, "out of memory"); return; }
  size_t len = mc_b64_encode(enc, (const unsigned char *)data, n, 0);
  enc[len] = '\0';
  s->secret_from = strlen(prefix);   /* the transcript shows the mechanism, not the secret */
  send_line(s, x, "%s%s", prefix, enc);
  s->secret_from = MC_TRACE_NO_SECRET;
  OPENSSL_cleanse(enc, len);
  free(enc);
}


static void start_auth(mc_session_t *s) {
  const mc_route_t *r = s->route;
  if (r->user == NULL) { finish(s); return; }
  if (!s->tls_on && !r->allow_plaintext_auth) {
    fail(s, "auth: refusing to send credentials without TLS (set allow_plaintext_auth to allow it)");
    return;
  }
  if (!(s->ext & MC_EXT_AUTH)) { fail(s, "auth: the server does not offer AUTH"); return; }
  char buf[1024];
  const char *want = r->auth_mechanism;
  if (want && !(s->auth_offered & (1u << (strcasecmp(want, "PLAIN") == 0 ? AUTH_PLAIN
                                          : strcasecmp(want, "LOGIN") == 0 ? AUTH_LOGIN
                                          : AUTH_XOAUTH2)))) {
    fail(s, "auth: the server does not offer %s", want);
    return;
  }
  if (r->oauth_token) {
    if (!(s->auth_offered & (1u << AUTH_XOAUTH2))) { fail(s, "auth: the server does not offer XOAUTH2"); return; }
    int n = snprintf(buf, sizeof buf, "user=%s\001auth=Bearer %s\001\001", r->user, r->oauth_token);
    if (n < 0 || (size_t)n >= sizeof buf) { fail(s, "auth: token too long"); return; }
    s->auth_used = AUTH_XOAUTH2;
    send_b64(s, X_AUTH, "AUTH XOAUTH2 ", buf, (size_t)n);
  } else if ((s->auth_offered & (1u << AUTH_PLAIN)) && !(want && strcasecmp(want, "LOGIN") == 0)) {
    const char *pw = r->password ? r->password : "";
    int n = snprintf(buf, sizeof buf, "%c%s%c%s", 0, r->user, 0, pw);
    if (n < 0 || (size_t)n >= sizeof buf) { fail(s, "auth: credentials too long"); return; }
    s->auth_used = AUTH_PLAIN;
    send_b64(s, X_AUTH, "AUTH PLAIN ", buf, (size_t)n);
  } else if (s->auth_offered & (1u << AUTH_LOGIN)) {
    s->auth_used = AUTH_LOGIN;
    send_line(s, X_AUTH, "AUTH LOGIN");
  } else {
    fail(s, "auth: no mechanism in common (PLAIN, LOGIN, XOAUTH2)");
    return;
  }
  OPENSSL_cleanse(buf, sizeof buf);
  s->auth_step = 0;
}


static void on_auth_reply(mc_session_t *s, mc_reply_t *r) {
  const mc_route_t *rt = s->route;
  if (r->code == 235) { finish(s); return; }
  if (r->code == 334 && s->auth_used == AUTH_LOGIN && s->auth_step < 2) {
    const char *v = s->auth_step++ == 0 ? rt->user : (rt->password ? rt->password : "");
    send_b64(s, X_AUTH, "", v, strlen(v));
    return;
  }
  if (r->code == 334 && s->auth_used == AUTH_XOAUTH2) {
    send_line(s, X_AUTH, "%s", "");   /* the error details come next */
    return;
  }
  fail_with_reply(s, "auth: refused", r);
}


static void start_tls(mc_session_t *s);


/* After EHLO (or HELO): TLS first if the policy wants it, then AUTH. */
static void after_hello(mc_session_t *s) {
  const mc_route_t *r = s->route;
  if (!s->tls_on && r->tls != MC_TLS_NONE) {
    if (s->ext & MC_EXT_STARTTLS) {
      send_line(s, X_STARTTLS, "STARTTLS");
      return;
    }
    if (r->tls != MC_TLS_OPPORTUNISTIC) {
      fail(s, "tls: the server does not offer STARTTLS");
      return;
    }
  }
  start_auth(s);
}


/* Our name in EHLO and HELO: the route's, else the machine's fully
 * qualified name, else the address literal of our end of the connection
 * (RFC 5321 4.1.4); "localhost" would tell the server nothing, and
 * strict servers refuse it. */
static const char *helo_name(const mc_session_t *s, char *buf, size_t size) {
  if (s->route->helo) return s->route->helo;
  const char *fqdn = mc_host_fqdn();
  if (fqdn) return fqdn;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  evutil_socket_t fd = s->bev ? bufferevent_getfd(s->bev) : -1;
  if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
      mc_host_address_literal(&ss, buf, size) == 0)
    return buf;
  return "localhost";
}


static void send_hello(mc_session_t *s, expect_t x) {
  char literal[64];
  send_line(s, x, "%s %s", x == X_HELO ? "HELO" : "EHLO", helo_name(s, literal, sizeof literal));
}


static void on_open_reply(mc_session_t *s, expect_t x, mc_reply_t *r) {
  switch (x) {
  case X_GREETING:
    if (r->code / 100 == 5) s->retryable = 0;   /* a refusal, not a passing trouble */
    if (r->code / 100 != 2) { fail_with_reply(s, "greeting", r); return; }
    s->retryable = 0;
    send_hello(s, X_EHLO);
    return;
  case X_EHLO:
    if (r->code / 100 == 2) { parse_ehlo(s, r); after_hello(s); return; }
    if (r->code / 100 == 5) {   /* not ESMTP: HELO, and no extensions */
      send_hello(s, X_HELO);
      return;
    }
    fail_with_reply(s, "EHLO", r);
    return;
  case X_HELO:
    if (r->code / 100 != 2) { fail_with_reply(s, "HELO", r); return; }
    s->ext = 0;
    after_hello(s);
    return;
  case X_STARTTLS:
    if (r->code == 220) { start_tls(s); return; }
    if (s->route->tls == MC_TLS_OPPORTUNISTIC) { start_auth(s); return; }
    fail_with_reply(s, "tls: STARTTLS refused", r);
    return;
  case X_AUTH:
    on_auth_reply(s, r);
    return;
  default:
    fail(s, "smtp: unexpected %s reply while opening", expect_name(x));
  }
}


/* ---- transactions ---- */

static void set_result(mc_rcpt_result_t *res, const mc_reply_t *r) {
  res->code = r->code;
  memcpy(res->enhanced, r->enhanced, sizeof res->enhanced);
  free(res->text);
  res->text = strdup(r->text.data ? r->text.data : "");
}


/* RFC 3461 4: xtext, "+XX" for "+", "=" and anything outside 33..126. */
static void xtext(char *out, size_t size, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t k = 0;
  for (; *s && k + 4 < size; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 33 || c > 126 || c == '+' || c == '=') {
      out[k++] = '+';
      out[k++] = hex[c >> 4];
      out[k++] = hex[c & 15];
    } else {
      out[k++] = (char)c;
    }
  }
  out[k] = '\0';
}


static int send_rcpt(mc_session_t *s, txn_t *x, size_t i) {
  const mc_txn_t *t = x->txn;
  char params[MC_ADDR_MAX * 3 + 64] = "";
  if (s->ext & MC_EXT_DSN) {
    size_t n = 0;
    if (t->dsn_notify) n += (size_t)snprintf(params, sizeof params, " NOTIFY=%s", t->dsn_notify);
    if (t->dsn_orcpt && n < sizeof params) {
      char enc[MC_ADDR_MAX * 3 + 1];
      xtext(enc, sizeof enc, t->rcpts[i]);
      snprintf(params + n, sizeof params - n, " ORCPT=rfc822;%s", enc);
    }
  }
  const char *words[] = {"RCPT TO:<", t->rcpts[i], ">", params};
  return send_words(s, X_RCPT, words, 4);
}


static int pipelined(const mc_session_t *s) {
  return s->route->pipelining && (s->ext & MC_EXT_PIPELINING);
}


/* The data of x is written, with its end: it sends nothing more, so the
 * next transaction may follow it at once (RFC 2920 3.1 lets the message
 * content open a group of commands). */
static void data_queued(mc_session_t *s, txn_t *x) {
  x->data_queued = 1;
  if (s->ready_cb) s->ready_due = 1;
}


static int can_take(const mc_session_t *s) {
  return s->op == OP_TXN && s->ntx == 1 && s->tx[0].data_queued && pipelined(s) &&
         mc_session_usable(s);
}


/* The transaction at the head has its outcome: its results become the
 * session's (mc_session_results) and its callback is told. */
static void report_txn(mc_session_t *s) {
  txn_t done = s->tx[0];
  s->tx[0] = s->tx[1];
  memset(&s->tx[1], 0, sizeof s->tx[1]);
  s->ntx--;
  free_results(s);
  s->results = done.results;
  s->nresults = done.nresults;
  if (done.chunk) evbuffer_free(done.chunk);
  if (s->ntx == 0) {
    evtimer_del(s->timer);
    s->op = OP_NONE;
  } else if (s->tx[0].data_queued && s->ready_cb) {
    s->ready_due = 1;   /* its data went out behind ours: room for one more */
  }
  if (done.cb) done.cb(s, done.arg);   /* may start the next transaction or free s */
}


/* Every transaction on the failed session ends, in order. A callback
 * that frees the session stops the rest: their owner takes them back. */
static void fail_txns(mc_session_t *s) {
  for (size_t i = 0; i < s->ntx; i++) set_results_error(s, &s->tx[i]);
  while (s->ntx > 0 && !s->doomed) report_txn(s);
}


static void on_txn_reply(mc_session_t *s, expect_t x, mc_reply_t *r) {
  txn_t *t = &s->tx[0];
  switch (x) {
  case X_MAIL:
    t->mail_ok = r->code / 100 == 2;
    if (!t->mail_ok) {
      for (size_t i = 0; i < t->nresults; i++) set_result(&t->results[i], r);
      if (!pipelined(s)) send_line(s, X_RSET, "RSET");
      return;
    }
    if (!pipelined(s)) send_rcpt(s, t, t->rcpt_next++);
    return;
  case X_RCPT: {
    size_t i = t->rcpt_seen++;
    if (i >= t->nresults) { fail(s, "smtp: more RCPT replies than recipients"); return; }
    if (t->mail_ok) {
      set_result(&t->results[i], r);
      if (r->code / 100 == 2) t->accepted++;
    }
    if (pipelined(s)) return;
    if (t->rcpt_next < t->nresults) send_rcpt(s, t, t->rcpt_next++);
    else if (t->accepted && chunking(s)) { if (queue_bdat(s, t->txn, NULL) == 0) data_queued(s, t); }
    else if (t->accepted) send_data_command(s);
    else send_line(s, X_RSET, "RSET");
    return;
  }
  case X_DATA:
    if (r->code == 354) {
      if (t->mail_ok && t->accepted) {
        if (queue_data(s, t->txn) == 0) data_queued(s, t);
      } else {
        /* RFC 2920 3.1: nobody to deliver to, yet the server waits for
         * data: end it at once and forget the transaction. */
        evbuffer_add(output(s), ".\r\n", 3);
        push_expect(s, X_RSET);   /* the reply to the lone "." */
        send_line(s, X_RSET, "RSET");
      }
      return;
    }
    if (r->code / 100 == 2 || r->code / 100 == 3) {
      fail(s, "smtp: unexpected %d reply to DATA", r->code);
      return;
    }
    for (size_t i = 0; i < t->nresults; i++)
      if (t->results[i].code / 100 == 2) set_result(&t->results[i], r);
    send_line(s, X_RSET, "RSET");
    return;
  case X_DOT:
  case X_BDAT:   /* what the end of data would say; refused recipients keep their reply */
    for (size_t i = 0; i < t->nresults; i++) {
      mc_rcpt_result_t *res = &t->results[i];
      if (res->code / 100 != 2) continue;
      set_result(res, r);
      res->sent = r->code / 100 == 2;
    }
    s->ntxn++;
    report_txn(s);
    return;
  case X_RSET:
    /* Only a transaction that wrote no data says RSET: none is behind it. */
    if (s->qlen == 0) { s->ntxn++; report_txn(s); }
    return;
  default:
    fail(s, "smtp: unexpected %s reply in a transaction", expect_name(x));
  }
}


static void free_results(mc_session_t *s) {
  free_rcpt_results(s->results, s->nresults);
  s->results = NULL;
  s->nresults = 0;
}


static int start_op(mc_session_t *s, op_t op, mc_session_cb cb, void *arg) {
  s->op = op;
  s->cb = cb;
  s->arg = arg;
  s->failed = 0;
  s->err.msg[0] = '\0';
  mc_reply_free(&s->reply);
  if (op != OP_OPEN && s->bev == NULL) {
    fail(s, "closed: the session is not connected");
    return -1;
  }
  return 0;
}


/* A transaction with a recipient address that is no address (CR LF in
 * it, a list "a@x, b@y", no '@'): no server can take it, now or later,
 * so it fails as a server refusing the syntax would (553 5.1.3), and is
 * not retried. The valid recipients of the same transaction are not
 * sent either: they are told why, with no reply (a retry may send them
 * on their own). 1 when there was one. */
static int check_rcpts(const mc_txn_t *t, txn_t *x) {
  mc_error_t e;
  size_t bad = 0;
  for (size_t i = 0; i < t->nrcpts; i++) {
    if (mc_addr_check(t->rcpts[i], strlen(t->rcpts[i]), &e) == 0) continue;
    char shown[420], text[700];
    mc_printable(shown, sizeof shown, t->rcpts[i], strlen(t->rcpts[i]), 100);
    snprintf(text, sizeof text, "invalid recipient address <%s>: %.200s", shown, e.msg);
    x->results[i].code = 553;
    strcpy(x->results[i].enhanced, "5.1.3");
    free(x->results[i].text);
    x->results[i].text = strdup(text);
    bad++;
  }
  if (bad == 0) return 0;
  for (size_t i = 0; i < t->nrcpts; i++) {
    if (x->results[i].code) continue;
    free(x->results[i].text);
    x->results[i].text = strdup("not sent: another recipient of its transaction has an invalid address");
  }
  return 1;
}


/* What can be told of t before a byte is sent: 0 to go on, 1 when it is
 * too big or has an invalid recipient (x's results say so, as the server
 * would), -1 when it cannot be sent (why says it). */
static int check_txn(const mc_session_t *s, const mc_txn_t *t, txn_t *x, char *why, size_t n) {
  mc_error_t e;
  if (t->nrcpts == 0) { snprintf(why, n, "smtp: a transaction needs a recipient"); return -1; }
  if (t->from[0] && mc_addr_check(t->from, strlen(t->from), &e) != 0) {
    char shown[101];   /* as much of it as the message had room for */
    mc_printable(shown, sizeof shown, t->from, strlen(t->from), 100);
    snprintf(why, n, "smtp: bad sender <%s>: %.300s", shown, e.msg);
    return -1;
  }
  if (check_rcpts(t, x)) return 1;
  size_t size = t->msg ? mc_msg_size(t->msg) : t->raw_len;
  size_t limit = s->size_limit;
  if (s->route->max_message && (!limit || s->route->max_message < limit)) limit = s->route->max_message;
  if (limit && size > limit) {
    for (size_t i = 0; i < x->nresults; i++) {
      x->results[i].code = 552;
      strcpy(x->results[i].enhanced, "5.3.4");
      char text[128];
      snprintf(text, sizeof text, "message of %zu bytes exceeds the limit of %zu", size, limit);
      x->results[i].text = strdup(text);
    }
    return 1;
  }
  return 0;
}


/* A new transaction record for t, results allocated: 0 or -1. */
static int new_txn(txn_t *x, const mc_txn_t *t, mc_session_cb cb, void *arg) {
  memset(x, 0, sizeof *x);
  x->txn = t;
  x->cb = cb;
  x->arg = arg;
  x->results = calloc(t->nrcpts ? t->nrcpts : 1, sizeof *x->results);
  if (x->results == NULL) return -1;
  x->nresults = t->nrcpts;
  return 0;
}


/* MAIL, and with PIPELINING every RCPT and the DATA (or the whole
 * message as BDAT) behind it. */
static void begin_txn(mc_session_t *s, txn_t *x) {
  const mc_txn_t *t = x->txn;
  size_t size = t->msg ? mc_msg_size(t->msg) : t->raw_len;
  char params[256] = "";
  size_t pl = 0;
  if (s->ext & MC_EXT_SIZE) {   /* once a message: digits, not a printf */
    char digits[24];
    digits[23] = '\0';
    pl = (size_t)(stpcpy(stpcpy(params, " SIZE="), mc_decimal(digits + 23, size)) - params);
  }
  if (t->eight_bit && (s->ext & MC_EXT_8BITMIME))
    pl += (size_t)snprintf(params + pl, sizeof params - pl, " BODY=8BITMIME");
  if (s->ext & MC_EXT_DSN) {
    if (t->dsn_ret) pl += (size_t)snprintf(params + pl, sizeof params - pl, " RET=%s", t->dsn_ret);
    if (t->dsn_envid && pl < sizeof params)
      snprintf(params + pl, sizeof params - pl, " ENVID=%s", t->dsn_envid);
  }
  /* A failed send has failed the session (and reported x): stop. */
  const char *mail[] = {"MAIL FROM:<", t->from, ">", params};
  if (send_words(s, X_MAIL, mail, 4) != 0) return;
  if (!pipelined(s)) return;
  for (size_t i = 0; i < t->nrcpts; i++)
    if (send_rcpt(s, x, i) != 0) return;
  if (!chunking(s)) { send_data_command(s); return; }
  struct evbuffer *chunk = x->chunk;
  x->chunk = NULL;
  if (queue_bdat(s, t, chunk) == 0) data_queued(s, x);
}


static void transaction(mc_session_t *s, const mc_txn_t *t, mc_session_cb cb, void *arg) {
  if (s->ntx > 0) {
    /* One at a time (or one ahead): this one is told so at once, and the
     * transactions on the session go on. */
    txn_t x;
    if (new_txn(&x, t, cb, arg) == 0)
      for (size_t i = 0; i < x.nresults; i++) x.results[i].text = strdup("smtp: a transaction is already in progress");
    free_results(s);
    s->results = x.results;
    s->nresults = x.results ? x.nresults : 0;
    if (cb) cb(s, arg);
    return;
  }
  txn_t *x = &s->tx[0];
  int rc = new_txn(x, t, cb, arg);
  s->ntx = 1;
  if (start_op(s, OP_TXN, NULL, NULL) != 0) return;
  if (rc != 0) { fail(s, "out of memory"); return; }
  char why[sizeof s->err.msg];
  rc = check_txn(s, t, x, why, sizeof why);
  if (rc < 0) { fail(s, "%s", why); return; }
  if (rc > 0) { report_txn(s); return; }
  begin_txn(s, x);
}


void mc_session_transaction(mc_session_t *s, const mc_txn_t *t, mc_session_cb cb, void *arg) {
  enter(s);   /* what it queues is flushed on the way out */
  transaction(s, t, cb, arg);
  leave(s);
}


void mc_session_on_ready(mc_session_t *s, mc_session_cb cb, void *arg) {
  s->ready_cb = cb;
  s->ready_arg = arg;
}


int mc_session_transaction_ahead(mc_session_t *s, const mc_txn_t *t, mc_session_cb cb, void *arg) {
  if (!can_take(s)) return -1;
  txn_t *x = &s->tx[1];
  char why[sizeof s->err.msg];
  mc_error_t e;
  /* Its BDAT chunk is made before anything of it is queued: a message
   * that cannot be written (a file gone) must not fail the transaction
   * in front of it. */
  if (new_txn(x, t, cb, arg) != 0 || check_txn(s, t, x, why, sizeof why) != 0 ||
      (chunking(s) && (x->chunk = bdat_chunk(t, &e)) == NULL)) {
    /* Refused here: it goes the usual way, alone, when the session is free. */
    free_rcpt_results(x->results, x->nresults);
    memset(x, 0, sizeof *x);
    return -1;
  }
  s->ntx = 2;
  enter(s);   /* what it queues is flushed on the way out */
  begin_txn(s, x);
  leave(s);
  return 0;
}


static void command(mc_session_t *s, const char *line, mc_session_cb cb, void *arg) {
  if (start_op(s, OP_COMMAND, cb, arg) != 0) return;
  if (strpbrk(line, "\r\n")) { fail(s, "smtp: a command cannot contain CR or LF"); return; }
  expect_t x = X_COMMAND;
  if (strncasecmp(line, "MAIL", 4) == 0) x = X_MAIL;
  else if (strncasecmp(line, "RCPT", 4) == 0) x = X_RCPT;
  send_line(s, x, "%s", line);
}


void mc_session_command(mc_session_t *s, const char *line, mc_session_cb cb, void *arg) {
  enter(s);   /* what it queues is flushed on the way out */
  command(s, line, cb, arg);
  leave(s);
}


static void data(mc_session_t *s, const mc_txn_t *t, mc_session_cb cb, void *arg) {
  if (start_op(s, OP_DATA, cb, arg) != 0) return;
  s->txn = t;
  send_data_command(s);
}


void mc_session_data(mc_session_t *s, const mc_txn_t *t, mc_session_cb cb, void *arg) {
  enter(s);   /* what it queues is flushed on the way out */
  data(s, t, cb, arg);
  leave(s);
}


static void quit(mc_session_t *s, mc_session_cb cb, void *arg) {
  if (s->bev == NULL) {   /* already gone: nothing to say goodbye to */
    s->cb = cb;
    s->arg = arg;
    finish(s);
    return;
  }
  if (start_op(s, OP_QUIT, cb, arg) != 0) return;
  send_line(s, X_QUIT, "QUIT");
}


void mc_session_quit(mc_session_t *s, mc_session_cb cb, void *arg) {
  enter(s);   /* what it queues is flushed on the way out */
  quit(s, cb, arg);
  leave(s);
}


/* ---- the connection ---- */

static void dispatch(mc_session_t *s, mc_reply_t *r) {
  if (s->qlen == 0) {
    fail(s, "smtp: a reply nobody asked for: %d %.200s", r->code, r->text.data ? r->text.data : "");
    return;
  }
  expect_t x = s->expect[s->qhead++];
  s->qlen--;
  arm(s);
  mc_reply_free(&s->reply);
  s->reply = *r;
  memset(r, 0, sizeof *r);
  r = &s->reply;
  switch (s->op) {
  case OP_OPEN: on_open_reply(s, x, r); return;
  case OP_TXN: on_txn_reply(s, x, r); return;
  case OP_COMMAND: finish(s); return;
  case OP_DATA:
    if (x == X_DATA && r->code == 354) { queue_data(s, s->txn); return; }
    finish(s);
    return;
  case OP_QUIT:
    drop_connection(s);
    finish(s);
    return;
  case OP_NONE:
    fail(s, "smtp: a reply nobody asked for: %d", r->code);
    return;
  }
}


static void read_replies(mc_session_t *s, struct bufferevent *bev) {
  struct evbuffer *in = bufferevent_get_input(bev);
  while (s->bev == bev && !s->doomed) {
    size_t eol_len = 0;
    struct evbuffer_ptr at = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
    if (at.pos < 0) {
      size_t have = evbuffer_get_length(in);
      char head[4];
      /* What can already be seen not to be a reply fails now, not at
       * the timeout: "DDD" and a space or hyphen start every line. */
      ev_ssize_t got = evbuffer_copyout(in, head, have < 4 ? have : 4);
      size_t n = got > 0 ? (size_t)got : 0;
      int ok = 1;
      for (size_t i = 0; i < n && i < 3; i++) ok &= head[i] >= '0' && head[i] <= '9';
      if (n == 4) ok &= head[3] == ' ' || head[3] == '-';
      if (!ok) {
        fail(s, "smtp: not an SMTP reply (%zu bytes without a reply code)", have);
      } else if (have > MC_REPLY_MAX_LINE) {
        fail(s, "smtp: reply line longer than %d bytes", MC_REPLY_MAX_LINE);
      }
      return;
    }
    if ((size_t)at.pos > MC_REPLY_MAX_LINE) {
      fail(s, "smtp: reply line longer than %d bytes", MC_REPLY_MAX_LINE);
      return;
    }
    char line[MC_REPLY_MAX_LINE + 1];
    evbuffer_remove(in, line, (size_t)at.pos);
    evbuffer_drain(in, eol_len);
    if (s->trace) s->trace(MC_TRACE_SERVER, line, (size_t)at.pos, s->trace_arg);
    mc_reply_t r = {0};
    mc_error_t e;
    int rc = mc_reply_feed(&s->parser, line, (size_t)at.pos, &r, &e);
    if (rc < 0) { fail(s, "%s", e.msg); return; }
    if (rc == 1) {
      dispatch(s, &r);
      mc_reply_free(&r);
    }
  }
}


static void on_read(struct bufferevent *bev, void *arg) {
  mc_session_t *s = arg;
  enter(s);
  s->read_some = 1;
  read_replies(s, bev);
  leave(s);
}


static void on_write(struct bufferevent *bev, void *arg) {
  mc_session_t *s = arg;
  if (s->direct && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
    bufferevent_disable(bev, EV_WRITE);   /* the rest is written: flush() writes again */
  sent(s);
}


static void describe_tls(mc_session_t *s) {
  SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
  if (ssl == NULL) return;
  s->tls_on = 1;
  snprintf(s->tls_desc, sizeof s->tls_desc, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}


static void tls_failure(mc_session_t *s, const char *what) {
  SSL *ssl = s->bev ? bufferevent_openssl_get_ssl(s->bev) : NULL;
  long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  unsigned long code = s->bev ? bufferevent_get_openssl_error(s->bev) : 0;
  char buf[256] = "handshake failed";
  if (s->tls_plain)   /* OpenSSL's own words for it say nothing of use */
    snprintf(buf, sizeof buf, "%s", s->route->implicit_tls
             ? "the server does not speak TLS on this port (it answered in plain text)"
             : "the server did not start TLS (it answered STARTTLS, then went on in plain text)");
  else if (verify != X509_V_OK && s->route->tls == MC_TLS_VERIFY)
    snprintf(buf, sizeof buf, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
  else if (code)
    ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  fail(s, "tls: %s: %s", what, buf);
}


static void handle_event(mc_session_t *s, short what);


static void on_event(struct bufferevent *bev, short what, void *arg) {
  mc_session_t *s = arg;
  (void)bev;
  enter(s);
  handle_event(s, what);
  leave(s);
}


static void handle_event(mc_session_t *s, short what) {
  if (what & BEV_EVENT_CONNECTED) {
    evutil_socket_t fd = bufferevent_getfd(s->bev);
    int one = 1;
    if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bufferevent_openssl_get_ssl(s->bev)) {
      describe_tls(s);
      mc_trace_tls(s->trace, s->trace_arg, bufferevent_openssl_get_ssl(s->bev));
    } else {
      mc_trace_info(s->trace, s->trace_arg, "connected");
      if (fd >= 0 && evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
        bufferevent_disable(s->bev, EV_WRITE);   /* connected: flush() writes from now on */
        s->direct = 1;
      }
    }
    if (s->op == OP_OPEN && s->ext == 0 && s->tls_on && !s->route->implicit_tls) {
      s->retryable = 0;
      send_hello(s, X_EHLO);
      return;   /* STARTTLS done: EHLO again (RFC 3207 4.2) */
    }
    evtimer_del(s->timer);
    push_expect(s, X_GREETING);
    return;
  }
  if (what & BEV_EVENT_TIMEOUT) {
    fail(s, "timeout: sending data to %s:%d", host_name(s), target_port(s));
    return;
  }
  int err = EVUTIL_SOCKET_ERROR();
  if (bufferevent_openssl_get_ssl(s->bev) && (what & BEV_EVENT_ERROR) &&
      bufferevent_get_openssl_error(s->bev)) {
    tls_failure(s, s->tls_on ? "connection" : "negotiation");
    return;
  }
  if (s->op == OP_QUIT) {   /* closing after QUIT is what we asked for */
    drop_connection(s);
    finish(s);
    return;
  }
  /* host:port: "127.0.0.1: Connection refused" did not say which server */
  if (what & BEV_EVENT_EOF) fail(s, "closed: %s:%d closed the connection", host_name(s), target_port(s));
  else fail(s, "closed: %s:%d: %s", host_name(s), target_port(s),
            err ? evutil_socket_error_to_string(err) : "connection error");
}


static void on_timeout(evutil_socket_t fd, short what, void *arg) {
  mc_session_t *s = arg;
  (void)fd;
  (void)what;
  enter(s);
  if (s->qlen == 0) {
    fail(s, "timeout: %s %s:%d", s->bev && bufferevent_openssl_get_ssl(s->bev) ? "negotiating TLS with" : "connecting to",
         host_name(s), target_port(s));
  } else {
    expect_t x = s->expect[s->qhead];
    fail(s, "timeout: no reply to %s from %s after %g s", expect_name(x), host_name(s),
         timeout_for(s, x));
  }
  leave(s);
}


/* OpenSSL shows each record header it reads, before it judges it: one
 * no TLS peer writes (a content type outside 20..24, a major version
 * other than 3) is plain text, such as an SMTP reply from a server that
 * said 220 to STARTTLS and did not start TLS. */
static void on_tls_message(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
                           void *arg) {
  mc_session_t *s = arg;
  const unsigned char *h = buf;
  (void)version;
  (void)ssl;
  if (write_p || type != SSL3_RT_HEADER || len < 2 || s->tls_on) return;
  if (h[0] < 20 || h[0] > 24 || h[1] != 3) s->tls_plain = 1;
}


static SSL *new_ssl(mc_session_t *s) {
  const mc_route_t *r = s->route;
  SSL *ssl = SSL_new(r->ssl_ctx);
  if (ssl == NULL) return NULL;
  SSL_set_msg_callback(ssl, on_tls_message);
  SSL_set_msg_callback_arg(ssl, s);
  const char *name = r->server_name ? r->server_name : host_name(s);
  unsigned char ip[16];
  int is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
  if (!is_ip) SSL_set_tlsext_host_name(ssl, name);
  if (r->tls == MC_TLS_VERIFY) {
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(param, name);
    else SSL_set1_host(ssl, name);
  }
  return ssl;
}


static void start_tls(mc_session_t *s) {
  if (s->route->ssl_ctx == NULL) { fail(s, "tls: the route has no TLS context"); return; }
  if (s->direct) {   /* the TLS filter writes through the plain bufferevent */
    bufferevent_enable(s->bev, EV_WRITE);
    s->direct = 0;
  }
  if (s->tls_out == NULL && (s->tls_out = evbuffer_new()) == NULL) { fail(s, "out of memory"); return; }
  SSL *ssl = new_ssl(s);
  if (ssl == NULL) { fail(s, "tls: cannot make a session"); return; }
  struct bufferevent *tls = bufferevent_openssl_filter_new(
      s->base, s->bev, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  if (tls == NULL) { SSL_free(ssl); fail(s, "tls: cannot start"); return; }
  s->bev = tls;   /* the filter owns the plain one now */
  s->ext = 0;
  s->retryable = 1;   /* a failed negotiation moves on to the next host */
  struct timeval block = mc_timeval(s->route->timeouts.data_block);
  bufferevent_set_timeouts(tls, NULL, &block);
  bufferevent_setcb(tls, on_read, on_write, on_event, s);
  bufferevent_enable(tls, EV_READ | EV_WRITE);
  struct timeval tv = mc_timeval(s->route->timeouts.tls);
  evtimer_add(s->timer, &tv);
}


static void open_session(mc_session_t *s, mc_session_cb cb, void *arg) {
  drop_connection(s);
  start_op(s, OP_OPEN, cb, arg);
  s->target = 0;
  connect_target(s);
}


void mc_session_open(mc_session_t *s, mc_session_cb cb, void *arg) {
  enter(s);   /* what it queues is flushed on the way out */
  open_session(s, cb, arg);
  leave(s);
}


/* Connects to the current target; fail() moves on to the next one. */
static void connect_target(mc_session_t *s) {
  const mc_route_t *r = s->route;
  s->ext = 0;
  s->direct = 0;
  s->tls_on = 0;
  s->tls_plain = 0;
  s->tls_desc[0] = '\0';
  s->auth_used = AUTH_NONE;
  s->ntxn = 0;
  s->retryable = 1;
  mc_reply_free(&s->reply);
  const char *address = host_address(s);
  snprintf(s->peer, sizeof s->peer, "%s [%s]", host_name(s), address);
  int port_number = target_port(s);
  char port[16];
  snprintf(port, sizeof port, "%d", port_number);
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  int gai = getaddrinfo(address, port, &hints, &ai);
  if (gai != 0) { fail(s, "dns: %s: %s", address, gai_strerror(gai)); return; }
  int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
  if (r->implicit_tls) {
    SSL *ssl = r->ssl_ctx ? new_ssl(s) : NULL;
    if (ssl) s->bev = bufferevent_openssl_socket_new(s->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, opts);
    if (ssl && s->bev == NULL) SSL_free(ssl);
  } else {
    s->bev = bufferevent_socket_new(s->base, -1, opts);
  }
  if (s->bev == NULL) { freeaddrinfo(ai); fail(s, "closed: cannot make a socket"); return; }
  if (r->implicit_tls && (s->tls_out = evbuffer_new()) == NULL) {
    freeaddrinfo(ai);
    fail(s, "out of memory");
    return;
  }
  bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
  bufferevent_enable(s->bev, EV_READ | EV_WRITE);
  struct timeval block = mc_timeval(r->timeouts.data_block);
  bufferevent_set_timeouts(s->bev, NULL, &block);
  struct timeval tv = mc_timeval(r->timeouts.connect);
  evtimer_add(s->timer, &tv);
  mc_trace_info(s->trace, s->trace_arg, "connecting to %s port %d", s->peer, port_number);
  int rc = bufferevent_socket_connect(s->bev, ai->ai_addr, (int)ai->ai_addrlen);
  freeaddrinfo(ai);
  if (rc != 0) fail(s, "closed: cannot connect to %s:%d", s->peer, port_number);
}


/* ---- accessors ---- */

int mc_session_status(const mc_session_t *s, const mc_error_t **e) {
  if (e) *e = &s->err;
  return s->failed ? -1 : 0;
}


const mc_reply_t *mc_session_reply(const mc_session_t *s) { return &s->reply; }


const mc_rcpt_result_t *mc_session_results(const mc_session_t *s, size_t *n) {
  *n = s->nresults;
  return s->results;
}


unsigned mc_session_extensions(const mc_session_t *s) { return s->ext; }
size_t mc_session_size_limit(const mc_session_t *s) { return s->size_limit; }
const char *mc_session_tls(const mc_session_t *s) { return s->tls_on ? s->tls_desc : NULL; }
int mc_session_usable(const mc_session_t *s) { return s->bev != NULL && !s->failed; }
const char *mc_session_peer(const mc_session_t *s) { return s->peer; }
size_t mc_session_transactions(const mc_session_t *s) { return s->ntxn; }


const char *mc_session_auth(const mc_session_t *s) {
  static const char *const names[] = {NULL, "PLAIN", "LOGIN", "XOAUTH2"};
  return names[s->auth_used];
}


void mc_session_free(mc_session_t *s) {
  if (s == NULL) return;
  if (s->depth > 0) {   /* inside one of its callbacks: see leave() */
    s->doomed = 1;
    s->cb = NULL;
    for (size_t i = 0; i < s->ntx; i++) s->tx[i].cb = NULL;
    return;
  }
  really_free(s);
}


static void really_free(mc_session_t *s) {
  drop_connection(s);
  event_free(s->timer);
  free_results(s);
  for (size_t i = 0; i < s->ntx; i++) {
    free_rcpt_results(s->tx[i].results, s->tx[i].nresults);
    if (s->tx[i].chunk) evbuffer_free(s->tx[i].chunk);
  }
  free(s->expect);
  mc_reply_free(&s->reply);
  free(s);
}
