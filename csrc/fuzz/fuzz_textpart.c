/* fuzz_textpart: a template rendered into a body part through its plan
 * (core/textpart.h) must give the bytes mc_part_new gives for the whole
 * rendering: the same header fields and the same body. The input is a
 * flag byte (bit 0: text/html, bit 1: allow 8bit), the template up to
 * the first 0x01 byte, then the values its variables take in turn, each
 * ended by 0x01. Sections are rendered once, whatever their variable. A
 * plan that gives no part must leave a body mc_part_new refuses, sends
 * as base64, or that is empty. A violation aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/part.h"
#include "core/template.h"
#include "core/textpart.h"

static void fail(const char *why) {
  fprintf(stderr, "fuzz_textpart: %s\n", why);
  abort();
}


/* The part's body, whole or in pieces, into out. */
static void body_of(const mc_part_t *p, mc_buf_t *out) {
  if (!p->pieces) {
    mc_buf_add(out, p->body.data, p->body.len);
    return;
  }
  for (size_t i = 0; i < p->npieces; i++) {
    const mc_piece_t *q = &p->pieces[i];
    mc_buf_add(out, q->ext ? q->ext : p->body.data + q->off, q->len);
  }
}


static int same(const mc_buf_t *a, const mc_buf_t *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int html = data[0] & 1, allow_8bit = (data[0] >> 1) & 1;
  const char *s = (const char *)data + 1;
  size_t n = size - 1;
  const char *sep = memchr(s, 1, n);
  size_t tn = sep ? (size_t)(sep - s) : n;
  mc_error_t e;
  mc_tpl_t *t = mc_tpl_compile(s, tn, "f", &e);
  if (t == NULL) return 0;
  const char *type = html ? "text/html" : "text/plain";
  mc_textplan_t *plan = mc_textplan_new(t, type, &e);
  if (plan == NULL) fail("no plan");

  mc_textrender_t r = {0};
  mc_buf_t plain = MC_BUF_INIT, full = MC_BUF_INIT, got = MC_BUF_INIT;
  const char *v = sep ? sep + 1 : s + n, *end = s + n;
  for (size_t i = 0; i < t->nops; i++) {
    const mc_tpl_op_t *op = &t->ops[i];
    if (op->kind == MC_TPL_TEXT) {
      mc_textplan_text(plan, t, &r, i);
      mc_buf_add(&plain, t->src + op->off, op->len);
    } else if (op->kind == MC_TPL_VAR) {
      const char *ve = v < end ? memchr(v, 1, (size_t)(end - v)) : NULL;
      size_t vn = ve ? (size_t)(ve - v) : (size_t)(end - v);
      mc_buf_add(&r.raw, v, vn);
      mc_buf_add(&plain, v, vn);
      v = ve ? ve + 1 : end;
    }
  }
  mc_textplan_full(plan, t, &r, &full);
  if (!same(&full, &plain)) fail("the whole rendering is not what was rendered");

  mc_part_opts_t o = {.content_type = type, .body = 1, .allow_8bit = allow_8bit};
  mc_part_t *want = mc_part_new(&o, plain.data ? plain.data : "", plain.len, &e);
  mc_part_t *part = mc_textplan_part(plan, &r, allow_8bit);
  if (part) {
    if (want == NULL) fail("a part where mc_part_new refuses the text");
    if (part->encoding != want->encoding) fail("another encoding");
    if (!same(&part->head, &want->head)) fail("other header fields");
    body_of(part, &got);
    if (!same(&got, &want->body)) fail("another body");
    if (mc_part_size(part) != mc_part_size(want)) fail("another size");
    if (mc_part_ends_crlf(part) != mc_part_ends_crlf(want)) fail("another ending");
  } else if (want && want->encoding != MC_ENC_BASE64 && plain.len > 0) {
    fail("no part for a body mc_part_new makes");
  }
  mc_part_unref(part);
  mc_part_unref(want);
  mc_textplan_unref(plan);   /* the part held it: freed last by whichever goes last */
  mc_textrender_free(&r);
  mc_buf_free(&plain);
  mc_buf_free(&full);
  mc_buf_free(&got);
  mc_tpl_free(t);
  return 0;
}
