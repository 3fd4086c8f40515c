#include "smtp_data.h"

#include <string.h>

#include <event2/buffer.h>


/* Dot-stuffing (RFC 5321 4.5.2) and CRLF line breaks, across the pieces
 * a message is written in. */
typedef struct {
  struct evbuffer *out;
  int bol;          /* at the beginning of a line */
  int pending_cr;   /* a CR ended the last piece */
  int dots;         /* stuff dots (DATA); BDAT sends lines as they are */
} stuffer_t;


/* Whole CRLF lines that need no stuffing stay in one run and go out in
 * one evbuffer_add; only a leading dot or a bare CR or LF breaks it. */
static int stuff(void *ctx, const char *p, size_t n, mc_error_t *e) {
  stuffer_t *st = ctx;
  struct evbuffer *out = st->out;
  size_t i = 0, run = 0;   /* p[run..i) is copied as it is */
  (void)e;
  if (st->pending_cr) {
    evbuffer_add(out, "\r\n", 2);
    st->pending_cr = 0;
    st->bol = 1;
    if (n > 0 && p[0] == '\n') i = run = 1;
  }
  while (i < n) {
    if (st->bol && p[i] == '.' && st->dots) {
      evbuffer_add(out, p + run, i - run);
      evbuffer_add(out, ".", 1);
      run = i;
    }
    const char *nl = memchr(p + i, '\n', n - i);
    size_t j = nl ? (size_t)(nl - p) : n;
    size_t end = nl && j > i && p[j - 1] == '\r' ? j - 1 : j;   /* the line without CRLF */
    const char *cr = end > i ? memchr(p + i, '\r', end - i) : NULL;
    if (cr == NULL && nl && end < j) {   /* a CRLF line */
      i = j + 1;
      st->bol = 1;
      continue;
    }
    if (cr == NULL && nl == NULL) {      /* the rest, without a line break */
      st->bol = 0;
      i = n;
      break;
    }
    size_t k = cr ? (size_t)(cr - p) : j;   /* a bare CR or LF */
    evbuffer_add(out, p + run, k - run);
    if (p[k] == '\r' && k + 1 == n) {   /* CRLF may straddle two pieces */
      st->pending_cr = 1;
      st->bol = 0;
      return 0;
    }
    evbuffer_add(out, "\r\n", 2);
    st->bol = 1;
    i = run = k + 1 + (p[k] == '\r' && k + 1 < n && p[k + 1] == '\n');
  }
  evbuffer_add(out, p + run, i - run);
  return 0;
}


/* A built message is CRLF lines throughout, ending with one (message.h;
 * fuzz_message checks it): only a dot at the start of a line needs a
 * second one, and the rest goes in whole runs. */
static int stuff_canonical(void *ctx, const char *p, size_t n, mc_error_t *e) {
  stuffer_t *st = ctx;
  (void)e;
  if (n == 0) return 0;
  if (st->bol && p[0] == '.' && st->dots) evbuffer_add(st->out, ".", 1);
  size_t run = 0;   /* p[run..) not yet copied */
  const char *q = p, *end = p + n;
  while (st->dots && (q = memchr(q, '\n', (size_t)(end - q))) != NULL && ++q < end) {
    if (*q != '.') continue;
    size_t dot = (size_t)(q - p);
    evbuffer_add(st->out, p + run, dot - run);
    evbuffer_add(st->out, ".", 1);
    run = dot;
  }
  evbuffer_add(st->out, p + run, n - run);
  st->bol = p[n - 1] == '\n';
  return 0;
}


int mc_smtp_write_data(const mc_txn_t *t, struct evbuffer *out, int dots, mc_error_t *e) {
  stuffer_t st = {out, 1, 0, dots};
  if (t->msg) {
    if (mc_msg_write(t->msg, stuff_canonical, &st, e) != 0) return -1;
  } else {
    stuff(&st, t->raw, t->raw_len, e);
  }
  if (st.pending_cr) stuff(&st, "", 0, e);
  if (!st.bol) evbuffer_add(out, "\r\n", 2);
  return 0;
}
