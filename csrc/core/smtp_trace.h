/* The transcript of an SMTP session, as `mailcast test` shows it: each
 * line the client sends and the server answers, and what happens to the
 * connection (connected, TLS negotiated with which certificate), told to
 * a callback as it happens. Credentials never reach it: the part of an
 * AUTH line after its mechanism is replaced, and the message data is
 * told as its size. */
#ifndef MC_SMTP_TRACE_H
#define MC_SMTP_TRACE_H

#include <stddef.h>

#include "buf.h"

struct evbuffer;
typedef struct ssl_st SSL;

typedef enum {
  MC_TRACE_CLIENT,   /* a line the client sent (without its CRLF) */
  MC_TRACE_SERVER,   /* a line of a reply */
  MC_TRACE_INFO      /* what happened: connecting, TLS, the data's size */
} mc_trace_kind_t;

/* line is n bytes, not NUL-terminated, valid only during the call. */
typedef void (*mc_trace_cb)(mc_trace_kind_t kind, const char *line, size_t n, void *arg);

#define MC_TRACE_NO_SECRET ((size_t)-1)
#define MC_TRACE_HIDDEN "<credentials hidden>"

/* Tells cb the lines added to out from byte from on (CRLF-ended; the
 * bytes of a line past secret_from are replaced by MC_TRACE_HIDDEN,
 * MC_TRACE_NO_SECRET keeps them). */
void mc_trace_sent(mc_trace_cb cb, void *arg, struct evbuffer *out, size_t from, size_t secret_from);

/* Tells cb a line made from a printf format. */
void mc_trace_info(mc_trace_cb cb, void *arg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Tells cb "(the message: SIZE bytes)": what stands for the data, once
 * per message (without a printf: campaigns keep transcripts of every
 * transaction, smtp_trace_ring.h). */
void mc_trace_size(mc_trace_cb cb, void *arg, size_t size);

/* Tells cb about the TLS of ssl: version, cipher, the server's
 * certificate (subject, issuer, expiry) and whether it verified. */
void mc_trace_tls(mc_trace_cb cb, void *arg, SSL *ssl);

/* The records a transcript is kept as, one after another in a buffer:
 * a head, then the line's bytes. kind is 'C', 'S' or 'I'; time is the
 * wall-clock time in seconds. */
typedef struct {
  char kind;
  double time;
  size_t len;
} mc_trace_head_t;

/* The wall-clock time a record carries. */
double mc_trace_now(void);

/* Appends a record to b (a failure sticks to b, as mc_buf_add's). */
void mc_trace_record(mc_buf_t *b, mc_trace_kind_t kind, double time, const char *line, size_t n);

/* The record at *at of the n bytes of data: 1 with its head and line
 * (*at moved past it), 0 at the end or at a record cut short. */
int mc_trace_next(const char *data, size_t n, size_t *at, mc_trace_head_t *h, const char **line);

#endif
