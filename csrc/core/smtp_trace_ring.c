#include "smtp_trace_ring.h"

#include <string.h>

#define CUT_MARK "..."


void mc_trace_ring_add(mc_trace_ring_t *r, mc_trace_kind_t kind, double time, const char *line, size_t n) {
  mc_ring_line_t *l = &r->lines[r->count++ % MC_RING_LINES];
  l->kind = kind == MC_TRACE_CLIENT ? 'C' : kind == MC_TRACE_SERVER ? 'S' : 'I';
  l->time = time;
  if (n > MC_RING_LINE_MAX) {   /* a long reply text: its start says what it is */
    memcpy(l->text, line, MC_RING_LINE_MAX - (sizeof CUT_MARK - 1));
    memcpy(l->text + MC_RING_LINE_MAX - (sizeof CUT_MARK - 1), CUT_MARK, sizeof CUT_MARK - 1);
    n = MC_RING_LINE_MAX;
  } else {
    memcpy(l->text, line, n);
  }
  l->len = (unsigned char)n;
}


void mc_trace_ring_copy(const mc_trace_ring_t *r, const mc_ring_span_t *span, mc_buf_t *out) {
  unsigned long long from = span->from;
  if (r->count > MC_RING_LINES && from < r->count - MC_RING_LINES) from = r->count - MC_RING_LINES;
  for (unsigned long long i = from; i < r->count; i++) {
    const mc_ring_line_t *l = &r->lines[i % MC_RING_LINES];
    if (l->kind == 'S' ? i < span->replies_from : i >= span->sent_until) continue;
    mc_trace_head_t h = {l->kind, l->time, l->len};
    mc_buf_add(out, &h, sizeof h);
    mc_buf_add(out, l->text, l->len);
  }
}
