/* fuzz_message: a whole message built from fuzzed parts, written out and
 * read back. The input is an options byte, then fields separated by NUL:
 *
 *   options | subject \0 text \0 html \0 filename \0 to-name \0 x-value \0 data
 *
 * data takes the rest (NULs included). options: bits 0-2 the attachment's
 * encoding (0 auto, 1 7bit, 2 8bit, 3 quoted-printable, 4 base64, else
 * auto), bit 3 allow_8bit for the bodies, bit 4 the part as an inline
 * image (when there is html), bit 5 no attachment at all.
 *
 * The written message must be what SMTP carries (CRLF lines of at most
 * 998 octets, no NUL, exactly mc_msg_size bytes) and our parser must
 * give back the attachment's bytes, the bodies as canonical text and the
 * header values. Values the builder refuses (invalid UTF-8, CR in a
 * header...) are fine: the input is skipped. A violation aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/hdrdecode.h"
#include "core/message.h"
#include "core/mimeparse.h"
#include "core/part.h"

#define MAX_LINE 998
#define NFIELDS 7

enum { F_SUBJECT, F_TEXT, F_HTML, F_FILENAME, F_TONAME, F_XVALUE, F_DATA };

typedef struct {
  const char *s;
  size_t n;
} span_t;

typedef struct {
  char *dst;
  size_t off, cap;
} out_t;


static void fail(const char *why, const char *msg, size_t n) {
  fprintf(stderr, "fuzz_message: %s\n", why);
  if (msg) fprintf(stderr, "message (%zu bytes):\n%.*s\n", n, (int)(n > 20000 ? 20000 : n), msg);
  abort();
}


/* Fields from the input; missing ones are empty, the last keeps NULs. */
static void split(const char *s, size_t n, span_t f[NFIELDS]) {
  for (int k = 0; k < NFIELDS; k++) {
    const char *nul = k + 1 < NFIELDS ? memchr(s, '\0', n) : NULL;
    size_t len = nul ? (size_t)(nul - s) : n;
    f[k] = (span_t){s, len};
    s += nul ? len + 1 : len;
    n -= nul ? len + 1 : len;
  }
}


/* A NUL-terminated copy, as the part options want. */
static char *dup_span(span_t f) {
  char *p = malloc(f.n + 1);
  if (p == NULL) abort();
  memcpy(p, f.s, f.n);
  p[f.n] = '\0';
  return p;
}


static int copy_out(void *ctx, const char *p, size_t n, mc_error_t *e) {
  out_t *o = ctx;
  if (n > o->cap - o->off) { mc_error_set(e, "more than mc_msg_size"); return -1; }
  memcpy(o->dst + o->off, p, n);
  o->off += n;
  return 0;
}


static void check_lines(const char *m, size_t n) {
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    if (m[i] == '\0') fail("NUL in the message", m, n);
    if (m[i] == '\n') fail("LF without CR", m, n);
    if (m[i] != '\r') continue;
    if (i + 1 >= n || m[i + 1] != '\n') fail("CR without LF", m, n);
    if (i - start > MAX_LINE) fail("line longer than 998 octets", m, n);
    i++;
    start = i + 1;
  }
  if (start != n) fail("message does not end with CRLF", m, n);
}


static void canonical(mc_buf_t *out, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\r' || s[i] == '\n') {
      if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') i++;
      mc_buf_add(out, "\r\n", 2);
    } else {
      mc_buf_addc(out, s[i]);
    }
  }
}


static int span_is(span_t f, const char *s) {
  return s && strlen(s) == f.n && memcmp(s, f.s, f.n) == 0;
}


/* The first entity, depth first, that has filename (or, when filename is
 * NULL, that has the type and no filename at all). */
static const mc_entity_t *find(const mc_entity_t *ent, const char *type, span_t *filename) {
  const char *fn = mc_structured_param(&ent->disposition, "filename");
  if (filename ? span_is(*filename, fn) : (fn == NULL && strcmp(ent->type.value, type) == 0))
    return ent;
  for (size_t i = 0; i < ent->nkids; i++) {
    const mc_entity_t *hit = find(ent->kids[i], type, filename);
    if (hit) return hit;
  }
  return NULL;
}


/* A body reads back as its canonical text; a single-part message may
 * have had one CRLF added at its end (SMTP needs it). */
static void check_body(const mc_entity_t *root, const char *type, span_t f, int single,
                       const char *m, size_t n) {
  const mc_entity_t *ent = find(root, type, NULL);
  if (ent == NULL) fail("body part not found", m, n);
  mc_buf_t want = MC_BUF_INIT;
  canonical(&want, f.s, f.n);
  const mc_buf_t *got = &ent->body;
  int same = got->len == want.len && (want.len == 0 || memcmp(got->data, want.data, want.len) == 0);
  int ends = want.len >= 2 && want.data[want.len - 2] == '\r' && want.data[want.len - 1] == '\n';
  if (!same && single && !ends && got->len == want.len + 2 &&
      (want.len == 0 || memcmp(got->data, want.data, want.len) == 0) &&
      memcmp(got->data + want.len, "\r\n", 2) == 0)
    same = 1;
  if (!same) fail(strcmp(type, "text/html") == 0 ? "html body changed" : "text body changed", m, n);
  mc_buf_free(&want);
}


/* An unstructured field reads back as the trimmed value. */
static void check_field(const mc_entity_t *root, const char *name, span_t f,
                        const char *m, size_t n) {
  const char *v = mc_entity_field(root, name);
  if (v == NULL) fail("header field missing", m, n);
  mc_buf_t d = MC_BUF_INIT;
  mc_hdr_decode(&d, v, strlen(v));
  const char *t = f.s;
  size_t tn = f.n;
  while (tn > 0 && (*t == ' ' || *t == '\t')) { t++; tn--; }
  while (tn > 0 && (t[tn - 1] == ' ' || t[tn - 1] == '\t')) tn--;
  if (d.len != tn || (tn && memcmp(d.data, t, tn) != 0)) {
    fprintf(stderr, "%s read back as: %.*s\n", name, (int)d.len, d.data ? d.data : "");
    fail("header value changed", m, n);
  }
  mc_buf_free(&d);
}


static void check_message(const mc_msg_t *msg, span_t f[NFIELDS], int attach, int single) {
  size_t size = mc_msg_size(msg);
  out_t o = {malloc(size ? size : 1), 0, size};
  if (o.dst == NULL) abort();
  mc_error_t e;
  if (mc_msg_write(msg, copy_out, &o, &e) != 0) fail(e.msg, NULL, 0);
  if (o.off != size) fail("fewer bytes written than mc_msg_size", o.dst, o.off);
  check_lines(o.dst, size);

  mc_entity_t *root = mc_mime_parse(o.dst, size, &e);
  if (root == NULL) fail(e.msg, o.dst, size);
  check_field(root, "Subject", f[F_SUBJECT], o.dst, size);
  if (f[F_XVALUE].n) check_field(root, "X-Fuzz", f[F_XVALUE], o.dst, size);
  if (f[F_TEXT].n) check_body(root, "text/plain", f[F_TEXT], single, o.dst, size);
  if (f[F_HTML].n) check_body(root, "text/html", f[F_HTML], single, o.dst, size);
  if (attach) {
    span_t fn = f[F_FILENAME].n ? f[F_FILENAME] : (span_t){"data.bin", 8};
    const mc_entity_t *ent = find(root, NULL, &fn);
    if (ent == NULL) fail("no part carries the attachment's filename", o.dst, size);
    span_t d = f[F_DATA];
    if (ent->body.len != d.n || (d.n && memcmp(ent->body.data, d.s, d.n) != 0))
      fail("attachment bytes changed", o.dst, size);
  }
  mc_entity_free(root);
  free(o.dst);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  unsigned opts = data[0];
  span_t f[NFIELDS];
  split((const char *)data + 1, size - 1, f);

  static const mc_encoding_t encodings[8] = {
    MC_ENC_AUTO, MC_ENC_7BIT, MC_ENC_8BIT, MC_ENC_QP, MC_ENC_BASE64,
    MC_ENC_AUTO, MC_ENC_AUTO, MC_ENC_AUTO,
  };
  int allow_8bit = (opts >> 3) & 1;
  int as_inline = (opts >> 4) & 1 && f[F_HTML].n > 0;
  int attach = !((opts >> 5) & 1);

  mc_msg_spec_t spec;
  memset(&spec, 0, sizeof spec);
  mc_part_t *att = NULL;
  mc_msg_t *msg = NULL;
  char *filename = NULL;
  mc_error_t e;
  mc_field_t xfield = {"X-Fuzz", f[F_XVALUE].s, f[F_XVALUE].n};

  if (mc_addr_add(&spec.from, NULL, 0, "a@example.com", 13, &e) != 0) fail(e.msg, NULL, 0);
  /* An invalid display name is refused here, as the binding would. */
  if (mc_addr_add(&spec.to, f[F_TONAME].n ? f[F_TONAME].s : NULL, f[F_TONAME].n,
                  "b@example.com", 13, &e) != 0)
    goto done;
  spec.subject = f[F_SUBJECT].s;
  spec.subject_len = f[F_SUBJECT].n;
  spec.message_id = "<fuzz.1@example.com>";
  spec.date_time = 1700000000;
  if (f[F_XVALUE].n) { spec.fields = &xfield; spec.nfields = 1; }
  if (f[F_TEXT].n) {
    mc_part_opts_t o = {.content_type = "text/plain", .body = 1, .allow_8bit = allow_8bit};
    if ((spec.text = mc_part_new(&o, f[F_TEXT].s, f[F_TEXT].n, &e)) == NULL) goto done;
  }
  if (f[F_HTML].n) {
    mc_part_opts_t o = {.content_type = "text/html", .body = 1, .allow_8bit = allow_8bit};
    if ((spec.html = mc_part_new(&o, f[F_HTML].s, f[F_HTML].n, &e)) == NULL) goto done;
  }
  if (attach) {
    filename = f[F_FILENAME].n ? dup_span(f[F_FILENAME]) : NULL;
    mc_part_opts_t o = {
      .filename = filename ? filename : "data.bin",
      .encoding = encodings[opts & 7],
      .disposition = as_inline ? "inline" : NULL,
      .content_id = as_inline ? "img1@example.com" : NULL,
    };
    if ((att = mc_part_new(&o, f[F_DATA].s, f[F_DATA].n, &e)) == NULL) goto done;
    if (as_inline) { spec.inline_parts = &att; spec.ninline = 1; }
    else { spec.attachments = &att; spec.nattachments = 1; }
  }
  msg = mc_msg_build(&spec, &e);
  if (msg == NULL) goto done;
  int single = !attach && !(spec.text && spec.html);
  check_message(msg, f, attach, single);

done:
  mc_msg_free(msg);
  mc_part_unref(att);
  mc_part_unref(spec.text);
  mc_part_unref(spec.html);
  mc_addrlist_free(&spec.from);
  mc_addrlist_free(&spec.to);
  free(filename);
  return 0;
}
