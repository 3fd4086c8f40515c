#include "textpart.h"

#include <stdlib.h>
#include <string.h>

#include "part_internal.h"
#include "qp.h"
#include "utf8.h"

/* A middle shorter than this is rendered with the rest: the two pieces
 * it would add to the message cost more than copying it. */
#define MIN_MIDDLE 64

/* A text op's split: bytes [0, head) and [tail, len) are rendered per
 * message; the middle between them is kept here, canonical and in
 * quoted-printable, with its scan. used 0: the op is rendered whole. */
typedef struct {
  int used;
  size_t head, tail;
  mc_buf_t canon, qp;
  scan_t scan;
} middle_t;

struct mc_textplan {
  int refs;
  const char *type;
  size_t nops;
  middle_t *middles;              /* one per op (text ops only used) */
  mc_buf_t heads[MC_ENC_BASE64 + 1];   /* header fields per encoding, made when first needed */
};


/* Where op text s[0, n) has its first and last complete line break end.
 * A CR that ends the op is not one: an LF may follow it in what comes
 * next, and the two are then one break. 0 when it has none. */
static void breaks(const char *s, size_t n, size_t *first, size_t *last) {
  *first = *last = 0;
  for (size_t i = 0; i < n; i++) {
    size_t end;
    if (s[i] == '\n') end = i + 1;
    else if (s[i] == '\r' && i + 1 < n) end = s[i + 1] == '\n' ? i + 2 : i + 1;
    else continue;
    if (*first == 0) *first = end;
    *last = end;
    i = end - 1;
  }
}


static int plan_middle(middle_t *m, const char *s, size_t n) {
  size_t first, last;
  breaks(s, n, &first, &last);
  if (first == 0 || last < first + MIN_MIDDLE) return 0;
  const char *mid = s + first;
  size_t len = last - first;
  if (mc_part_scan(mid, len, &m->scan, &m->canon) != 0) return -1;
  size_t bad;
  if (m->scan.high && !mc_utf8_valid(mid, len, &bad)) {   /* the whole path says where */
    mc_buf_free(&m->canon);
    return 0;
  }
  mc_qp_encode(&m->qp, m->canon.data, m->canon.len, 0);
  if (m->canon.failed || m->qp.failed) return -1;
  m->used = 1;
  m->head = first;
  m->tail = last;
  return 0;
}


mc_textplan_t *mc_textplan_new(const mc_tpl_t *t, const char *type, mc_error_t *e) {
  mc_textplan_t *p = calloc(1, sizeof *p);
  if (p == NULL || (t->nops && (p->middles = calloc(t->nops, sizeof *p->middles)) == NULL)) goto oom;
  p->refs = 1;
  p->type = type;
  p->nops = t->nops;
  for (size_t i = 0; i < t->nops; i++) {
    const mc_tpl_op_t *op = &t->ops[i];
    if (op->kind == MC_TPL_TEXT && plan_middle(&p->middles[i], t->src + op->off, op->len) != 0)
      goto oom;
  }
  return p;
oom:
  mc_textplan_unref(p);
  mc_error_set(e, "out of memory");
  return NULL;
}


void mc_textplan_unref(mc_textplan_t *p) {
  if (p == NULL || --p->refs > 0) return;
  for (size_t i = 0; p->middles && i < p->nops; i++) {
    mc_buf_free(&p->middles[i].canon);
    mc_buf_free(&p->middles[i].qp);
  }
  free(p->middles);
  for (size_t i = 0; i < sizeof p->heads / sizeof p->heads[0]; i++) mc_buf_free(&p->heads[i]);
  free(p);
}


static void release_plan(void *p) { mc_textplan_unref(p); }


void mc_textplan_text(const mc_textplan_t *p, const mc_tpl_t *t, mc_textrender_t *r, size_t i) {
  const mc_tpl_op_t *op = &t->ops[i];
  const middle_t *m = &p->middles[i];
  const char *s = t->src + op->off;
  if (!m->used) {
    mc_buf_add(&r->raw, s, op->len);
    return;
  }
  mc_buf_add(&r->raw, s, m->head);
  if (r->nmarks == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 16;
    size_t *marks = realloc(r->marks, 2 * cap * sizeof *marks);
    if (marks == NULL) { r->failed = 1; return; }
    r->marks = marks;
    r->cap = cap;
  }
  r->marks[2 * r->nmarks] = r->raw.len;
  r->marks[2 * r->nmarks + 1] = i;
  r->nmarks++;
  mc_buf_add(&r->raw, s + m->tail, op->len - m->tail);
}


void mc_textplan_full(const mc_textplan_t *p, const mc_tpl_t *t, const mc_textrender_t *r,
                      mc_buf_t *out) {
  size_t from = 0;
  for (size_t k = 0; k < r->nmarks; k++) {
    size_t at = r->marks[2 * k], i = r->marks[2 * k + 1];
    const middle_t *m = &p->middles[i];
    if (at > from) mc_buf_add(out, r->raw.data + from, at - from);
    mc_buf_add(out, t->src + t->ops[i].off + m->head, m->tail - m->head);
    from = at;
  }
  if (r->raw.len > from) mc_buf_add(out, r->raw.data + from, r->raw.len - from);
}


/* The header fields for enc, as mc_part_new writes them for a body. */
static const mc_buf_t *head_for(mc_textplan_t *p, mc_encoding_t enc) {
  mc_buf_t *h = &p->heads[enc];
  if (h->len == 0) {
    mc_part_t scratch = {0};
    mc_part_opts_t o = {.content_type = p->type, .body = 1};
    mc_error_t e;
    scratch.encoding = enc;
    if (mc_part_write_head(&scratch, &o, p->type, &e) != 0) {
      mc_buf_free(&scratch.head);
      return NULL;
    }
    *h = scratch.head;
  }
  return h;
}


/* Appends a piece to p; an empty one is left out. */
static void piece(mc_part_t *p, const char *ext, size_t off, size_t len) {
  if (len) p->pieces[p->npieces++] = (mc_piece_t){ext, off, len};
}


/* The counts of a and b together, for text split after a line break. */
static void add_scan(scan_t *a, const scan_t *b) {
  a->high += b->high;
  a->nul += b->nul;
  a->bare_eol += b->bare_eol;
  a->escapes += b->escapes;
  a->boundary_like |= b->boundary_like;
  if (b->longest > a->longest) a->longest = b->longest;
}


mc_part_t *mc_textplan_part(mc_textplan_t *p, mc_textrender_t *r, int allow_8bit) {
  if (r->failed || r->raw.failed || (r->raw.len == 0 && r->nmarks == 0)) return NULL;
  size_t nspans = r->nmarks + 1;
  if (nspans > r->ends_cap) {
    size_t *ends = realloc(r->ends, nspans * sizeof *ends);
    if (ends == NULL) return NULL;
    r->ends = ends;
    r->ends_cap = nspans;
  }
  /* Each span of own bytes made canonical into canon (its end there in
   * ends), scanned, and its counts added to the middles'. A span starts
   * a line and ends one. */
  mc_buf_t *canon = &r->canon;
  canon->len = 0;
  if (canon->failed) mc_buf_free(canon);
  scan_t all = {0};
  size_t from = 0, n = 0;
  for (size_t k = 0; k < nspans; k++) {
    size_t to = k < r->nmarks ? r->marks[2 * k] : r->raw.len;
    const char *s = r->raw.data ? r->raw.data + from : "";
    scan_t sc;
    size_t bad;
    if (mc_part_scan(s, to - from, &sc, canon) != 0) return NULL;
    if (sc.high && !mc_utf8_valid(s, to - from, &bad)) return NULL;
    r->ends[k] = canon->len;
    add_scan(&all, &sc);
    if (k < r->nmarks) {
      const middle_t *m = &p->middles[r->marks[2 * k + 1]];
      add_scan(&all, &m->scan);
      n += m->canon.len;
    }
    from = to;
  }
  n += canon->len;
  mc_part_opts_t o = {.content_type = p->type, .body = 1, .allow_8bit = allow_8bit};
  mc_error_t e;
  int crlf;
  mc_encoding_t enc = mc_part_choose(&o, p->type, &all, NULL, n, &crlf, &e);
  if (enc != MC_ENC_7BIT && enc != MC_ENC_8BIT && enc != MC_ENC_QP) return NULL;
  const mc_buf_t *head = head_for(p, enc);
  if (head == NULL) return NULL;
  mc_part_t *part = calloc(1, sizeof *part + 2 * nspans * sizeof *part->pieces);
  if (part == NULL) return NULL;
  part->refs = 1;
  part->encoding = enc;
  part->body_type = p->type;
  part->pieces = (mc_piece_t *)(part + 1);
  mc_buf_add(&part->head, head->data, head->len);
  int qp = enc == MC_ENC_QP;
  /* The own bytes of the body, each span's then the middle after it:
   * the canonical text itself, or its quoted-printable. */
  if (canon->len) {
    /* what mc_qp_encode reserves, for all the spans at once */
    if (qp) mc_buf_reserve(&part->body, 3 * canon->len + (canon->len / 24 + nspans) * 3);
    else mc_buf_add(&part->body, canon->data, canon->len);
  }
  from = 0;
  for (size_t k = 0; k < nspans; k++) {
    size_t off = from, len = r->ends[k] - from;
    if (qp && len) {
      off = part->body.len;
      mc_qp_encode(&part->body, canon->data + from, len, 0);
      len = part->body.len - off;
    }
    piece(part, NULL, off, len);
    if (k < r->nmarks) {
      const middle_t *m = &p->middles[r->marks[2 * k + 1]];
      const mc_buf_t *b = qp ? &m->qp : &m->canon;
      piece(part, b->data, 0, b->len);
    }
    from = r->ends[k];
  }
  if (part->head.failed || part->body.failed) {
    mc_part_unref(part);
    return NULL;
  }
  p->refs++;
  part->keep = p;
  part->release = release_plan;
  return part;
}


void mc_textrender_reset(mc_textrender_t *r) {
  r->raw.len = 0;
  r->nmarks = 0;
  if (r->raw.failed || r->failed) {   /* out of memory last time: start afresh */
    mc_textrender_free(r);
  }
}


void mc_textrender_free(mc_textrender_t *r) {
  mc_buf_free(&r->raw);
  mc_buf_free(&r->canon);
  free(r->ends);
  free(r->marks);
  memset(r, 0, sizeof *r);
}
