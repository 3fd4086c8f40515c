/* Shared by smtp_session.c and the files it is split into (smtp_open.c:
 * connecting and the handshake; smtp_txn.c: the transaction machine);
 * not part of the core's API. The session's state lives here so each
 * part reads it directly; a function one part calls in another carries
 * the mc_sess_ prefix, the rest stay static in their file. */
#ifndef MC_SMTP_SESSION_INTERNAL_H
#define MC_SMTP_SESSION_INTERNAL_H

#include <stddef.h>

#include "smtp_session.h"

struct bufferevent;
struct evbuffer;
struct event;

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

/* smtp_session.c: the session's lifetime, its output and its replies */

/* Around each public call and libevent callback: a session freed inside
 * is freed, and what was queued is written, on the way out of the
 * outermost. */
void mc_sess_enter(mc_session_t *s);
void mc_sess_leave(mc_session_t *s);

/* Starts an operation: 0, or -1 when the session is not connected (the
 * operation has failed then). */
int mc_sess_start_op(mc_session_t *s, op_t op, mc_session_cb cb, void *arg);

/* Ends the operation: its callback is told (it may start the next one or
 * free s). */
void mc_sess_finish(mc_session_t *s);

/* Ends the operation with the session broken; while opening, a passing
 * failure moves on to the next target instead. */
void mc_sess_fail(mc_session_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same for a server's answer that leaves the connection unusable:
 * r becomes the session's reply. */
void mc_sess_fail_with_reply(mc_session_t *s, const char *what, mc_reply_t *r);

/* Closes the connection; the replies still expected are forgotten. */
void mc_sess_drop_connection(mc_session_t *s);

/* The current target's name (for messages and TLS) and port. */
const char *mc_sess_host_name(const mc_session_t *s);
int mc_sess_target_port(const mc_session_t *s);

/* What x is, for messages ("EHLO", "end of data"). */
const char *mc_sess_expect_name(expect_t x);

/* Where commands and data are queued until they are written. */
struct evbuffer *mc_sess_output(mc_session_t *s);

/* One more reply to wait for: 0, or -1 when memory runs out. */
int mc_sess_push_expect(mc_session_t *s, expect_t x);

/* Queue a command (or the data and its end) with the reply it expects:
 * 0, or -1 with the session failed. */
int mc_sess_send_line(mc_session_t *s, expect_t x, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int mc_sess_send_words(mc_session_t *s, expect_t x, const char *const *words, size_t n);
int mc_sess_send_data_command(mc_session_t *s);
int mc_sess_queue_data(mc_session_t *s, const mc_txn_t *t);

/* The callbacks of every bufferevent the session makes (plain or TLS). */
void mc_sess_on_read(struct bufferevent *bev, void *arg);
void mc_sess_on_write(struct bufferevent *bev, void *arg);
void mc_sess_on_event(struct bufferevent *bev, short what, void *arg);


/* smtp_open.c: connecting, the greeting, EHLO, STARTTLS and AUTH */

/* Connects to the current target; mc_sess_fail() moves on to the next. */
void mc_sess_connect_target(mc_session_t *s);

/* Sends EHLO or HELO (x says which) with our name. */
void mc_sess_send_hello(mc_session_t *s, expect_t x);

/* A reply while opening: the greeting, EHLO or HELO, STARTTLS, AUTH. */
void mc_sess_on_open_reply(mc_session_t *s, expect_t x, mc_reply_t *r);

/* TLS is up: the session keeps its version and cipher. */
void mc_sess_describe_tls(mc_session_t *s);

/* Fails the session with why TLS failed, in words. */
void mc_sess_tls_failure(mc_session_t *s, const char *what);


/* smtp_txn.c: transactions and their results */

/* 1 when a transaction can be sent ahead, behind the data of the one in
 * progress. */
int mc_sess_can_take(const mc_session_t *s);

/* A reply to the transaction at the head. */
void mc_sess_on_txn_reply(mc_session_t *s, expect_t x, mc_reply_t *r);

/* The session failed: every transaction on it ends, in order. */
void mc_sess_fail_txns(mc_session_t *s);

/* Frees the results of the transaction last reported. */
void mc_sess_free_results(mc_session_t *s);
void mc_sess_free_rcpt_results(mc_rcpt_result_t *results, size_t n);

#endif
