/* The session object and its lifetime, the output and when it is
 * written, the queue of replies expected, reading and dispatching
 * replies, events and timeouts, the accessors and the public entry
 * points. Opening is in smtp_open.c, transactions in smtp_txn.c, routes
 * in smtp_route.c; smtp_session_internal.h holds what they share. */
#include "smtp_session_internal.h"

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

#include "smtp_data.h"


static void really_free(mc_session_t *s);


/* Around each libevent callback: an operation's callback may free the
 * session (a pool done with it), which must wait until we are out. */
void mc_sess_enter(mc_session_t *s) { s->depth++; }


static size_t flush(mc_session_t *s);
static void ack_now(mc_session_t *s);

void mc_sess_leave(mc_session_t *s) {
  if (--s->depth > 0) return;
  if (s->ready_due && !s->doomed) {
    /* Before the flush: a transaction the owner adds now leaves in the
     * same write as the data ahead of it. */
    s->ready_due = 0;
    s->depth++;
    if (mc_sess_can_take(s)) s->ready_cb(s, s->ready_arg);
    s->depth--;
  }
  if (s->doomed) { really_free(s); return; }
  int read_some = s->read_some;
  s->read_some = 0;
  /* Nothing to write for what was read, and more replies to come: the
   * ACK must not wait for our next write. */
  if (flush(s) == 0 && read_some && s->qlen > 0) ack_now(s);
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
const char *mc_sess_host_name(const mc_session_t *s) {
  const mc_route_t *r = s->route;
  if (r->ntargets) return r->targets[s->target].name ? r->targets[s->target].name : r->targets[s->target].address;
  return r->host;
}


/* The port of the current target. */
int mc_sess_target_port(const mc_session_t *s) {
  const mc_route_t *r = s->route;
  return r->ntargets && r->targets[s->target].port ? r->targets[s->target].port : r->port;
}


/* ---- completing operations ---- */

void mc_sess_finish(mc_session_t *s) {
  evtimer_del(s->timer);
  s->op = OP_NONE;
  mc_session_cb cb = s->cb;
  s->cb = NULL;
  if (cb) cb(s, s->arg);   /* may start the next operation or free s */
}


void mc_sess_drop_connection(mc_session_t *s) {
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


/* Ends the operation with the session broken. The reply is cleared: the
 * failure was not the server's answer (mc_sess_fail_with_reply sets its
 * own). */
void mc_sess_fail(mc_session_t *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->err.msg, sizeof s->err.msg, fmt, ap);
  va_end(ap);
  if (s->op == OP_OPEN && s->retryable && s->target + 1 < s->route->ntargets) {
    /* RFC 5321 5.1: on to the next MX host. s->err keeps why. */
    s->target++;
    s->failed_by_reply = 0;
    mc_sess_drop_connection(s);
    mc_sess_connect_target(s);
    return;
  }
  if (!s->failed_by_reply) mc_reply_free(&s->reply);
  s->failed_by_reply = 0;
  s->failed = 1;
  mc_sess_drop_connection(s);
  if (s->op == OP_TXN) mc_sess_fail_txns(s);
  else mc_sess_finish(s);
}


/* Ends an operation whose server said no in a way that leaves the
 * connection unusable (a refused greeting, a failed TLS negotiation). */
void mc_sess_fail_with_reply(mc_session_t *s, const char *what, mc_reply_t *r) {
  if (r != &s->reply) {
    mc_reply_free(&s->reply);
    s->reply = *r;
    memset(r, 0, sizeof *r);
  }
  s->failed_by_reply = 1;
  mc_sess_fail(s, "smtp: %s: %d %s%s%.300s", what, s->reply.code, s->reply.enhanced,
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


const char *mc_sess_expect_name(expect_t x) {
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
struct evbuffer *mc_sess_output(mc_session_t *s) {
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


int mc_sess_push_expect(mc_session_t *s, expect_t x) {
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
int mc_sess_send_line(mc_session_t *s, expect_t x, const char *fmt, ...) {
  struct evbuffer *out = mc_sess_output(s);
  size_t before = evbuffer_get_length(out);
  va_list ap;
  va_start(ap, fmt);
  int rc = evbuffer_add_vprintf(out, fmt, ap);
  va_end(ap);
  if (rc < 0 || evbuffer_add(out, "\r\n", 2) != 0 || mc_sess_push_expect(s, x) != 0) {
    mc_sess_fail(s, "out of memory");
    return -1;
  }
  mc_trace_sent(s->trace, s->trace_arg, out, before, s->secret_from);
  return 0;
}


/* mc_sess_send_line for a command made of pieces (MAIL, RCPT, DATA, once
 * per message each): joined as they are, without a format to parse. */
int mc_sess_send_words(mc_session_t *s, expect_t x, const char *const *words, size_t n) {
  struct evbuffer *out = mc_sess_output(s);
  size_t before = evbuffer_get_length(out);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) rc = evbuffer_add(out, words[i], strlen(words[i]));
  if (rc != 0 || evbuffer_add(out, "\r\n", 2) != 0 || mc_sess_push_expect(s, x) != 0) {
    mc_sess_fail(s, "out of memory");
    return -1;
  }
  mc_trace_sent(s->trace, s->trace_arg, out, before, MC_TRACE_NO_SECRET);
  return 0;
}


int mc_sess_send_data_command(mc_session_t *s) {
  return mc_sess_send_words(s, X_DATA, (const char *[]){"DATA"}, 1);
}


int mc_sess_queue_data(mc_session_t *s, const mc_txn_t *t) {
  struct evbuffer *out = mc_sess_output(s);
  size_t before = evbuffer_get_length(out);
  mc_error_t e;
  if (mc_smtp_write_data(t, out, 1, &e) != 0) { mc_sess_fail(s, "%s", e.msg); return -1; }
  mc_trace_size(s->trace, s->trace_arg, evbuffer_get_length(out) - before);
  before = evbuffer_get_length(out);
  /* The end of the data goes with its last bytes: no small write of its
   * own to wait on Nagle and delayed ACKs. */
  evbuffer_add(out, ".\r\n", 3);
  mc_trace_sent(s->trace, s->trace_arg, out, before, MC_TRACE_NO_SECRET);
  s->flushing = 1;
  if (mc_sess_push_expect(s, X_DOT) != 0) { mc_sess_fail(s, "out of memory"); return -1; }
  return 0;
}


/* ---- operations ---- */

int mc_sess_start_op(mc_session_t *s, op_t op, mc_session_cb cb, void *arg) {
  s->op = op;
  s->cb = cb;
  s->arg = arg;
  s->failed = 0;
  s->err.msg[0] = '\0';
  mc_reply_free(&s->reply);
  if (op != OP_OPEN && s->bev == NULL) {
    mc_sess_fail(s, "closed: the session is not connected");
    return -1;
  }
  return 0;
}


static void command(mc_session_t *s, const char *line, mc_session_cb cb, void *arg) {
  if (mc_sess_start_op(s, OP_COMMAND, cb, arg) != 0) return;
  if (strpbrk(line, "\r\n")) { mc_sess_fail(s, "smtp: a command cannot contain CR or LF"); return; }
  expect_t x = X_COMMAND;
  if (strncasecmp(line, "MAIL", 4) == 0) x = X_MAIL;
  else if (strncasecmp(line, "RCPT", 4) == 0) x = X_RCPT;
  mc_sess_send_line(s, x, "%s", line);
}


void mc_session_command(mc_session_t *s, const char *line, mc_session_cb cb, void *arg) {
  mc_sess_enter(s);   /* what it queues is flushed on the way out */
  command(s, line, cb, arg);
  mc_sess_leave(s);
}


static void data(mc_session_t *s, const mc_txn_t *t, mc_session_cb cb, void *arg) {
  if (mc_sess_start_op(s, OP_DATA, cb, arg) != 0) return;
  s->txn = t;
  mc_sess_send_data_command(s);
}


void mc_session_data(mc_session_t *s, const mc_txn_t *t, mc_session_cb cb, void *arg) {
  mc_sess_enter(s);   /* what it queues is flushed on the way out */
  data(s, t, cb, arg);
  mc_sess_leave(s);
}


static void quit(mc_session_t *s, mc_session_cb cb, void *arg) {
  if (s->bev == NULL) {   /* already gone: nothing to say goodbye to */
    s->cb = cb;
    s->arg = arg;
    mc_sess_finish(s);
    return;
  }
  if (mc_sess_start_op(s, OP_QUIT, cb, arg) != 0) return;
  mc_sess_send_line(s, X_QUIT, "QUIT");
}


void mc_session_quit(mc_session_t *s, mc_session_cb cb, void *arg) {
  mc_sess_enter(s);   /* what it queues is flushed on the way out */
  quit(s, cb, arg);
  mc_sess_leave(s);
}


/* ---- the connection ---- */

static void dispatch(mc_session_t *s, mc_reply_t *r) {
  if (s->qlen == 0) {
    mc_sess_fail(s, "smtp: a reply nobody asked for: %d %.200s", r->code, r->text.data ? r->text.data : "");
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
  case OP_OPEN: mc_sess_on_open_reply(s, x, r); return;
  case OP_TXN: mc_sess_on_txn_reply(s, x, r); return;
  case OP_COMMAND: mc_sess_finish(s); return;
  case OP_DATA:
    if (x == X_DATA && r->code == 354) { mc_sess_queue_data(s, s->txn); return; }
    mc_sess_finish(s);
    return;
  case OP_QUIT:
    mc_sess_drop_connection(s);
    mc_sess_finish(s);
    return;
  case OP_NONE:
    mc_sess_fail(s, "smtp: a reply nobody asked for: %d", r->code);
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
        mc_sess_fail(s, "smtp: not an SMTP reply (%zu bytes without a reply code)", have);
      } else if (have > MC_REPLY_MAX_LINE) {
        mc_sess_fail(s, "smtp: reply line longer than %d bytes", MC_REPLY_MAX_LINE);
      }
      return;
    }
    if ((size_t)at.pos > MC_REPLY_MAX_LINE) {
      mc_sess_fail(s, "smtp: reply line longer than %d bytes", MC_REPLY_MAX_LINE);
      return;
    }
    char line[MC_REPLY_MAX_LINE + 1];
    evbuffer_remove(in, line, (size_t)at.pos);
    evbuffer_drain(in, eol_len);
    if (s->trace) s->trace(MC_TRACE_SERVER, line, (size_t)at.pos, s->trace_arg);
    mc_reply_t r = {0};
    mc_error_t e;
    int rc = mc_reply_feed(&s->parser, line, (size_t)at.pos, &r, &e);
    if (rc < 0) { mc_sess_fail(s, "%s", e.msg); return; }
    if (rc == 1) {
      dispatch(s, &r);
      mc_reply_free(&r);
    }
  }
}


void mc_sess_on_read(struct bufferevent *bev, void *arg) {
  mc_session_t *s = arg;
  mc_sess_enter(s);
  s->read_some = 1;
  read_replies(s, bev);
  mc_sess_leave(s);
}


void mc_sess_on_write(struct bufferevent *bev, void *arg) {
  mc_session_t *s = arg;
  if (s->direct && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
    bufferevent_disable(bev, EV_WRITE);   /* the rest is written: flush() writes again */
  sent(s);
}


static void handle_event(mc_session_t *s, short what);


void mc_sess_on_event(struct bufferevent *bev, short what, void *arg) {
  mc_session_t *s = arg;
  (void)bev;
  mc_sess_enter(s);
  handle_event(s, what);
  mc_sess_leave(s);
}


static void handle_event(mc_session_t *s, short what) {
  if (what & BEV_EVENT_CONNECTED) {
    evutil_socket_t fd = bufferevent_getfd(s->bev);
    int one = 1;
    if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bufferevent_openssl_get_ssl(s->bev)) {
      mc_sess_describe_tls(s);
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
      mc_sess_send_hello(s, X_EHLO);
      return;   /* STARTTLS done: EHLO again (RFC 3207 4.2) */
    }
    evtimer_del(s->timer);
    mc_sess_push_expect(s, X_GREETING);
    return;
  }
  if (what & BEV_EVENT_TIMEOUT) {
    mc_sess_fail(s, "timeout: sending data to %s:%d", mc_sess_host_name(s), mc_sess_target_port(s));
    return;
  }
  int err = EVUTIL_SOCKET_ERROR();
  if (bufferevent_openssl_get_ssl(s->bev) && (what & BEV_EVENT_ERROR) &&
      bufferevent_get_openssl_error(s->bev)) {
    mc_sess_tls_failure(s, s->tls_on ? "connection" : "negotiation");
    return;
  }
  if (s->op == OP_QUIT) {   /* closing after QUIT is what we asked for */
    mc_sess_drop_connection(s);
    mc_sess_finish(s);
    return;
  }
  /* host:port: "127.0.0.1: Connection refused" did not say which server */
  if (what & BEV_EVENT_EOF)
    mc_sess_fail(s, "closed: %s:%d closed the connection", mc_sess_host_name(s), mc_sess_target_port(s));
  else mc_sess_fail(s, "closed: %s:%d: %s", mc_sess_host_name(s), mc_sess_target_port(s),
                    err ? evutil_socket_error_to_string(err) : "connection error");
}


static void on_timeout(evutil_socket_t fd, short what, void *arg) {
  mc_session_t *s = arg;
  (void)fd;
  (void)what;
  mc_sess_enter(s);
  if (s->qlen == 0) {
    mc_sess_fail(s, "timeout: %s %s:%d",
                 s->bev && bufferevent_openssl_get_ssl(s->bev) ? "negotiating TLS with" : "connecting to",
                 mc_sess_host_name(s), mc_sess_target_port(s));
  } else {
    expect_t x = s->expect[s->qhead];
    mc_sess_fail(s, "timeout: no reply to %s from %s after %g s", mc_sess_expect_name(x),
                 mc_sess_host_name(s), timeout_for(s, x));
  }
  mc_sess_leave(s);
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
  if (s->depth > 0) {   /* inside one of its callbacks: see mc_sess_leave() */
    s->doomed = 1;
    s->cb = NULL;
    for (size_t i = 0; i < s->ntx; i++) s->tx[i].cb = NULL;
    return;
  }
  really_free(s);
}


static void really_free(mc_session_t *s) {
  mc_sess_drop_connection(s);
  event_free(s->timer);
  mc_sess_free_results(s);
  for (size_t i = 0; i < s->ntx; i++) {
    mc_sess_free_rcpt_results(s->tx[i].results, s->tx[i].nresults);
    if (s->tx[i].chunk) evbuffer_free(s->tx[i].chunk);
  }
  free(s->expect);
  mc_reply_free(&s->reply);
  free(s);
}
