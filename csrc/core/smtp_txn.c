/* The transaction machine: MAIL, RCPT, DATA or BDAT, each recipient's
 * result, the checks made before a byte is sent, and the transaction
 * sent ahead behind another's data (RFC 2920). Apart from
 * smtp_session.c, which owns the connection, the output and the
 * reply queue this machine works through. */
#include "smtp_session_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "addr.h"
#include "buf.h"
#include "printable.h"
#include "smtp_data.h"


void mc_sess_free_rcpt_results(mc_rcpt_result_t *results, size_t n) {
  for (size_t i = 0; i < n; i++) free(results[i].text);
  free(results);
}


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
  if (chunk == NULL && (chunk = bdat_chunk(t, &e)) == NULL) { mc_sess_fail(s, "%s", e.msg); return -1; }
  struct evbuffer *out = mc_sess_output(s);
  size_t before = evbuffer_get_length(out), size = evbuffer_get_length(chunk);
  int rc = evbuffer_add_printf(out, "BDAT %zu LAST\r\n", size) < 0;
  mc_trace_sent(s->trace, s->trace_arg, out, before, MC_TRACE_NO_SECRET);
  mc_trace_size(s->trace, s->trace_arg, size);
  rc = rc || evbuffer_add_buffer(out, chunk) != 0;
  evbuffer_free(chunk);
  s->flushing = 1;
  if (rc != 0 || mc_sess_push_expect(s, X_BDAT) != 0) { mc_sess_fail(s, "out of memory"); return -1; }
  return 0;
}


static int chunking(const mc_session_t *s) {
  return s->route->chunking && (s->ext & MC_EXT_CHUNKING);
}


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
  return mc_sess_send_words(s, X_RCPT, words, 4);
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


int mc_sess_can_take(const mc_session_t *s) {
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
  mc_sess_free_results(s);
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
void mc_sess_fail_txns(mc_session_t *s) {
  for (size_t i = 0; i < s->ntx; i++) set_results_error(s, &s->tx[i]);
  while (s->ntx > 0 && !s->doomed) report_txn(s);
}


void mc_sess_on_txn_reply(mc_session_t *s, expect_t x, mc_reply_t *r) {
  txn_t *t = &s->tx[0];
  switch (x) {
  case X_MAIL:
    t->mail_ok = r->code / 100 == 2;
    if (!t->mail_ok) {
      for (size_t i = 0; i < t->nresults; i++) set_result(&t->results[i], r);
      if (!pipelined(s)) mc_sess_send_line(s, X_RSET, "RSET");
      return;
    }
    if (!pipelined(s)) send_rcpt(s, t, t->rcpt_next++);
    return;
  case X_RCPT: {
    size_t i = t->rcpt_seen++;
    if (i >= t->nresults) { mc_sess_fail(s, "smtp: more RCPT replies than recipients"); return; }
    if (t->mail_ok) {
      set_result(&t->results[i], r);
      if (r->code / 100 == 2) t->accepted++;
    }
    if (pipelined(s)) return;
    if (t->rcpt_next < t->nresults) send_rcpt(s, t, t->rcpt_next++);
    else if (t->accepted && chunking(s)) { if (queue_bdat(s, t->txn, NULL) == 0) data_queued(s, t); }
    else if (t->accepted) mc_sess_send_data_command(s);
    else mc_sess_send_line(s, X_RSET, "RSET");
    return;
  }
  case X_DATA:
    if (r->code == 354) {
      if (t->mail_ok && t->accepted) {
        if (mc_sess_queue_data(s, t->txn) == 0) data_queued(s, t);
      } else {
        /* RFC 2920 3.1: nobody to deliver to, yet the server waits for
         * data: end it at once and forget the transaction. */
        evbuffer_add(mc_sess_output(s), ".\r\n", 3);
        mc_sess_push_expect(s, X_RSET);   /* the reply to the lone "." */
        mc_sess_send_line(s, X_RSET, "RSET");
      }
      return;
    }
    if (r->code / 100 == 2 || r->code / 100 == 3) {
      mc_sess_fail(s, "smtp: unexpected %d reply to DATA", r->code);
      return;
    }
    for (size_t i = 0; i < t->nresults; i++)
      if (t->results[i].code / 100 == 2) set_result(&t->results[i], r);
    mc_sess_send_line(s, X_RSET, "RSET");
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
    mc_sess_fail(s, "smtp: unexpected %s reply in a transaction", mc_sess_expect_name(x));
  }
}


void mc_sess_free_results(mc_session_t *s) {
  mc_sess_free_rcpt_results(s->results, s->nresults);
  s->results = NULL;
  s->nresults = 0;
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
  if (mc_sess_send_words(s, X_MAIL, mail, 4) != 0) return;
  if (!pipelined(s)) return;
  for (size_t i = 0; i < t->nrcpts; i++)
    if (send_rcpt(s, x, i) != 0) return;
  if (!chunking(s)) { mc_sess_send_data_command(s); return; }
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
    mc_sess_free_results(s);
    s->results = x.results;
    s->nresults = x.results ? x.nresults : 0;
    if (cb) cb(s, arg);
    return;
  }
  txn_t *x = &s->tx[0];
  int rc = new_txn(x, t, cb, arg);
  s->ntx = 1;
  if (mc_sess_start_op(s, OP_TXN, NULL, NULL) != 0) return;
  if (rc != 0) { mc_sess_fail(s, "out of memory"); return; }
  char why[sizeof s->err.msg];
  rc = check_txn(s, t, x, why, sizeof why);
  if (rc < 0) { mc_sess_fail(s, "%s", why); return; }
  if (rc > 0) { report_txn(s); return; }
  begin_txn(s, x);
}


void mc_session_transaction(mc_session_t *s, const mc_txn_t *t, mc_session_cb cb, void *arg) {
  mc_sess_enter(s);   /* what it queues is flushed on the way out */
  transaction(s, t, cb, arg);
  mc_sess_leave(s);
}


void mc_session_on_ready(mc_session_t *s, mc_session_cb cb, void *arg) {
  s->ready_cb = cb;
  s->ready_arg = arg;
}


int mc_session_transaction_ahead(mc_session_t *s, const mc_txn_t *t, mc_session_cb cb, void *arg) {
  if (!mc_sess_can_take(s)) return -1;
  txn_t *x = &s->tx[1];
  char why[sizeof s->err.msg];
  mc_error_t e;
  /* Its BDAT chunk is made before anything of it is queued: a message
   * that cannot be written (a file gone) must not fail the transaction
   * in front of it. */
  if (new_txn(x, t, cb, arg) != 0 || check_txn(s, t, x, why, sizeof why) != 0 ||
      (chunking(s) && (x->chunk = bdat_chunk(t, &e)) == NULL)) {
    /* Refused here: it goes the usual way, alone, when the session is free. */
    mc_sess_free_rcpt_results(x->results, x->nresults);
    memset(x, 0, sizeof *x);
    return -1;
  }
  s->ntx = 2;
  mc_sess_enter(s);   /* what it queues is flushed on the way out */
  begin_txn(s, x);
  mc_sess_leave(s);
  return 0;
}
