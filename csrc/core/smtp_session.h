/* One SMTP client connection on libevent: greeting, EHLO (HELO when the
 * server is not ESMTP), STARTTLS or implicit TLS, AUTH, and transactions
 * with PIPELINING (RFC 2920) when the server offers it. Every operation
 * is asynchronous and ends in one callback; each reply is kept with its
 * code, enhanced code and text. */
#ifndef MC_SMTP_SESSION_H
#define MC_SMTP_SESSION_H

#include <stddef.h>

#include "error.h"
#include "message.h"
#include "smtp_reply.h"
#include "smtp_trace.h"

struct event_base;
typedef struct ssl_ctx_st SSL_CTX;

typedef enum {
  MC_TLS_NONE,           /* never */
  MC_TLS_OPPORTUNISTIC,  /* STARTTLS when offered, certificate not checked */
  MC_TLS_REQUIRED,       /* STARTTLS or fail, certificate not checked */
  MC_TLS_VERIFY          /* STARTTLS or fail, certificate and name checked */
} mc_tls_policy_t;

struct timeval;

/* Seconds as a timeval, fractions kept (tests use short timeouts). */
struct timeval mc_timeval(double seconds);

/* Seconds to wait (RFC 5321 4.5.3.2 gives the defaults). */
typedef struct {
  double connect, greeting, ehlo, tls, mail, rcpt, data_init, data_block,
      data_end, command;
} mc_smtp_timeouts_t;

/* One server to try: its address (or a name to resolve) and the name
 * TLS checks (the MX host name). */
typedef struct {
  char *address;
  char *name;
  int port;          /* 0: the route's */
} mc_target_t;

typedef struct {
  char *host;              /* name or address to connect to */
  mc_target_t *targets;    /* tried in order instead of host (MX hosts):
                              the next on a failed connection, a 4xx
                              greeting or a failed TLS negotiation */
  size_t ntargets;
  int port;
  int implicit_tls;        /* TLS from the first byte (port 465) */
  mc_tls_policy_t tls;
  char *server_name;       /* SNI and the name to verify; NULL: host */
  char *ca_file;           /* NULL: the system store */
  char *helo;              /* our name in EHLO */
  char *user, *password;   /* AUTH PLAIN or LOGIN */
  char *oauth_token;       /* AUTH XOAUTH2 (with user) */
  char *auth_mechanism;    /* "PLAIN", "LOGIN" or "XOAUTH2"; NULL: the best offered */
  int allow_plaintext_auth;
  int pipelining;          /* use PIPELINING when offered */
  int chunking;            /* use BDAT (RFC 3030) when CHUNKING is offered */
  size_t max_message;      /* refuse bigger messages locally; 0: no limit */
  mc_smtp_timeouts_t timeouts;
  SSL_CTX *ssl_ctx;        /* made by mc_route_prepare */
} mc_route_t;

/* Fills the defaults; the caller sets what it wants afterwards. */
void mc_route_init(mc_route_t *r);

/* Makes the TLS context the route needs; 0 or -1 with e. */
int mc_route_prepare(mc_route_t *r, mc_error_t *e);

/* Frees what the route owns (its strings and TLS context). */
void mc_route_free(mc_route_t *r);

/* Frees a list of n targets and their strings (NULL is fine). */
void mc_targets_free(mc_target_t *t, size_t n);

/* EHLO keywords the session understood. */
enum {
  MC_EXT_PIPELINING = 1 << 0,
  MC_EXT_SIZE = 1 << 1,
  MC_EXT_8BITMIME = 1 << 2,
  MC_EXT_SMTPUTF8 = 1 << 3,
  MC_EXT_ENHANCED = 1 << 4,
  MC_EXT_DSN = 1 << 5,
  MC_EXT_STARTTLS = 1 << 6,
  MC_EXT_AUTH = 1 << 7,
  MC_EXT_CHUNKING = 1 << 8,
};

/* The outcome for one recipient of a transaction. */
typedef struct {
  int code;              /* the server's reply; 0 when none came */
  char enhanced[16];
  char *text;            /* reply text, or why there was no reply */
  int sent;              /* 1 only after a 2xx to the end of data */
} mc_rcpt_result_t;

/* A transaction to run: the envelope and where the data comes from. */
typedef struct {
  const char *from;      /* reverse-path, may be "" (bounces) */
  const char *const *rcpts;
  size_t nrcpts;
  const mc_msg_t *msg;   /* the data: a built message ... */
  const char *raw;       /* ... or bytes (line breaks made CRLF on the way) */
  size_t raw_len;
  int eight_bit;         /* BODY=8BITMIME */
  const char *dsn_ret;   /* "FULL"/"HDRS"; NULL: none */
  const char *dsn_envid;
  const char *dsn_notify;  /* e.g. "FAILURE,DELAY" for every recipient */
  int dsn_orcpt;           /* ORCPT=rfc822;<recipient> on every RCPT */
} mc_txn_t;

typedef struct mc_session mc_session_t;

/* Called when an operation ends; the session tells how it went. */
typedef void (*mc_session_cb)(mc_session_t *s, void *arg);

mc_session_t *mc_session_new(struct event_base *base, const mc_route_t *route);

/* Tells cb every line of the session and what happens to its
 * connection (smtp_trace.h), from now on; NULL stops it. */
void mc_session_trace(mc_session_t *s, mc_trace_cb cb, void *arg);

/* Connects and goes through greeting, EHLO, TLS and AUTH. */
void mc_session_open(mc_session_t *s, mc_session_cb cb, void *arg);

/* Runs a whole transaction (pipelined when offered); results per
 * recipient. One at a time: the next goes in cb, or ahead (below). */
void mc_session_transaction(mc_session_t *s, const mc_txn_t *t, mc_session_cb cb, void *arg);

/* cb is called (when the outermost call or callback of the session
 * returns) each time the data of the transaction in progress has been
 * written and the server offers PIPELINING: the session can then take
 * the next transaction ahead, sent behind that data without waiting for
 * its reply (RFC 2920 3.1). */
void mc_session_on_ready(mc_session_t *s, mc_session_cb cb, void *arg);

/* Queues t behind the transaction in progress, as above: 0, or -1 when
 * the session cannot take it now (none in progress, its data not yet
 * written, one already ahead, no PIPELINING) or t would be refused
 * before sending (a bad address, too big): the caller keeps t and runs
 * it the usual way. The outcomes come in order: the first transaction's
 * callback, then t's. When the session fails, both get the failure;
 * freeing the session in the first callback forgets t (not called). */
int mc_session_transaction_ahead(mc_session_t *s, const mc_txn_t *t, mc_session_cb cb, void *arg);

/* Sends one command line (no CRLF) and waits for its reply. kind names
 * the timeout: "MAIL", "RCPT", "QUIT", ... */
void mc_session_command(mc_session_t *s, const char *line, mc_session_cb cb, void *arg);

/* DATA, then the data of t (msg or raw), then the end: the final reply. */
void mc_session_data(mc_session_t *s, const mc_txn_t *t, mc_session_cb cb, void *arg);

/* Sends QUIT, waits for its reply (briefly), and closes. */
void mc_session_quit(mc_session_t *s, mc_session_cb cb, void *arg);

/* How the last operation went: 0 when it completed (the reply may still
 * be a 4xx or 5xx), -1 when the session failed (e says why; it is then
 * unusable and its pending recipients have code 0). */
int mc_session_status(const mc_session_t *s, const mc_error_t **e);

/* The last reply (code 0 when none). */
const mc_reply_t *mc_session_reply(const mc_session_t *s);

/* Results of the transaction last reported, one per recipient. */
const mc_rcpt_result_t *mc_session_results(const mc_session_t *s, size_t *n);

/* What the server offered and what was negotiated. */
unsigned mc_session_extensions(const mc_session_t *s);
size_t mc_session_size_limit(const mc_session_t *s);
const char *mc_session_tls(const mc_session_t *s);   /* "TLSv1.3 CIPHER" or NULL */
const char *mc_session_auth(const mc_session_t *s);  /* mechanism used or NULL */
int mc_session_usable(const mc_session_t *s);
const char *mc_session_peer(const mc_session_t *s);  /* "name [address]" of the server in use */
size_t mc_session_transactions(const mc_session_t *s);

void mc_session_free(mc_session_t *s);

#endif
