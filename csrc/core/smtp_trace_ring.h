/* The last lines of a session's transcript, kept in a ring of fixed
 * size: what a recipient that was not delivered keeps of its
 * transaction (the store's transcripts). Lines come from the session's
 * trace callback (smtp_trace.h), so credentials never reach it. */
#ifndef MC_SMTP_TRACE_RING_H
#define MC_SMTP_TRACE_RING_H

#include "buf.h"
#include "smtp_trace.h"

#define MC_RING_LINES 40       /* lines kept */
#define MC_RING_LINE_MAX 200   /* bytes kept of a line; a longer one is cut */

typedef struct {
  char kind;                   /* as mc_trace_head_t's */
  unsigned char len;
  double time;
  char text[MC_RING_LINE_MAX];
} mc_ring_line_t;

typedef struct {
  mc_ring_line_t lines[MC_RING_LINES];
  unsigned long long count;    /* lines ever added: the next one's number */
} mc_trace_ring_t;

void mc_trace_ring_add(mc_trace_ring_t *r, mc_trace_kind_t kind, double time, const char *line, size_t n);

/* Which lines of a ring are one transaction's, by their numbers: the
 * lines it sent (and what happened meanwhile) from `from` until
 * `sent_until`, where the transaction sent ahead behind it began; the
 * replies from `replies_from`, where the one before it had its last
 * reply (with pipelining, the replies come in the order of the
 * transactions, their commands mixed). */
typedef struct {
  unsigned long long from, sent_until, replies_from;
} mc_ring_span_t;

/* Appends to out, as records (mc_trace_record), the lines of span that
 * the ring still holds. */
void mc_trace_ring_copy(const mc_trace_ring_t *r, const mc_ring_span_t *span, mc_buf_t *out);

#endif
