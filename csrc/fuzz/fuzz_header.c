/* fuzz_header: the header readers on arbitrary bytes, and the writers on
 * every value a caller may give them (valid UTF-8 without CR, LF or NUL,
 * what mc_hdr_check_value lets through). What the writers produce must be
 * a well-formed field (RFC 5322 2.1.1 and 2.2.3) that reads back as the
 * value it was made from; a violation aborts so libFuzzer reports it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/hdr.h"
#include "core/hdrdecode.h"
#include "core/utf8.h"

#define MAX_LINE 998      /* RFC 5322 2.1.1, without the CRLF */
#define MAX_FILENAME 255  /* longest value part.c passes to the param writers */

static volatile unsigned char sink;


static void touch(const void *p, size_t n) {
  const unsigned char *u = p;
  unsigned char acc = 0;
  for (size_t i = 0; i < n; i++) acc ^= u[i];
  sink ^= acc;
}


/* Prints what failed with the field as written, then aborts. */
static void fail(const char *what, const char *why, const mc_buf_t *field) {
  fprintf(stderr, "fuzz_header: %s: %s\n", what, why);
  if (field) fprintf(stderr, "field (%zu bytes): %.*s\n", field->len, (int)field->len, field->data);
  abort();
}


/* The readers on raw bytes: only memory errors matter here. */
static void read_raw(const char *s, size_t n) {
  mc_buf_t out = MC_BUF_INIT;
  mc_hdr_decode(&out, s, n);
  if (out.failed) fail("mc_hdr_decode", "out of memory", NULL);
  touch(out.data, out.len);
  mc_buf_free(&out);

  mc_structured_t st;
  if (mc_structured_parse(&st, s, n) == 0) {
    touch(st.value, strlen(st.value) + 1);
    for (size_t i = 0; i < st.nparams; i++) {
      touch(st.params[i].name, strlen(st.params[i].name) + 1);
      touch(st.params[i].value, strlen(st.params[i].value) + 1);
    }
    mc_structured_free(&st);
  }

  /* "charset NUL bytes": a failed conversion must leave out as it was. */
  const char *nul = memchr(s, '\0', n);
  if (nul) {
    size_t clen = (size_t)(nul - s);
    mc_buf_t conv = MC_BUF_INIT;
    mc_buf_add(&conv, "x", 1);
    if (mc_charset_to_utf8(&conv, s, clen, nul + 1, n - clen - 1) != 0 && conv.len != 1)
      fail("mc_charset_to_utf8", "failed but changed its output", NULL);
    touch(conv.data, conv.len);
    mc_buf_free(&conv);
  }
}


/* What the writers accept (their callers check with mc_hdr_check_value). */
static int header_text(const char *s, size_t n) {
  return memchr(s, '\r', n) == NULL && memchr(s, '\n', n) == NULL &&
         memchr(s, '\0', n) == NULL && mc_utf8_valid(s, n, NULL);
}


/* A written field: lines end in CRLF and nothing else, none is longer
 * than 998 octets, every line after the first starts with white space
 * (else it would read as a new field) and holds more than white space
 * (RFC 5322 3.2.2 forbids such lines in new messages). */
static void check_lines(const char *what, const mc_buf_t *f) {
  const char *s = f->data;
  size_t n = f->len;
  if (f->failed) fail(what, "out of memory", NULL);
  if (n < 2 || s[n - 2] != '\r' || s[n - 1] != '\n') fail(what, "field does not end in CRLF", f);
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\n') fail(what, "LF without CR", f);
    if (s[i] == '\0') fail(what, "NUL in field", f);
    if (s[i] != '\r') continue;
    if (i + 1 >= n || s[i + 1] != '\n') fail(what, "CR without LF", f);
    if (i - start > MAX_LINE) fail(what, "line longer than 998 octets", f);
    if (start > 0) {
      if (s[start] != ' ' && s[start] != '\t') fail(what, "continuation line without white space", f);
      size_t k = start;
      while (k < i && (s[k] == ' ' || s[k] == '\t')) k++;
      if (k == i) fail(what, "line of white space only", f);
    }
    i++;
    start = i + 1;
  }
}


/* The field unfolded (every CRLF removed), with "name:" and the single
 * space the writers put after it stripped. */
static void unfold_value(const char *what, const mc_buf_t *f, const char *name, mc_buf_t *out) {
  size_t nl = strlen(name);
  if (f->len < nl + 2 || memcmp(f->data, name, nl) != 0 || f->data[nl] != ':')
    fail(what, "field does not start with its name", f);
  mc_buf_t u = MC_BUF_INIT;
  for (size_t i = nl + 1; i < f->len; i++) {
    if (f->data[i] == '\r' && i + 1 < f->len && f->data[i + 1] == '\n') { i++; continue; }
    mc_buf_addc(&u, f->data[i]);
  }
  if (u.failed) fail(what, "out of memory", NULL);
  if (u.len == 0 || u.data[0] != ' ') fail(what, "no space after the colon", f);
  mc_buf_add(out, u.data + 1, u.len - 1);
  mc_buf_free(&u);
}


static void trim(const char **s, size_t *n) {
  while (*n > 0 && (**s == ' ' || **s == '\t')) { (*s)++; (*n)--; }
  while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}


static void expect_same(const char *what, const char *got, size_t gn,
                        const char *want, size_t wn, const mc_buf_t *f) {
  if (gn == wn && memcmp(got, want, wn) == 0) return;
  fprintf(stderr, "fuzz_header: %s: read back %zu bytes: %.*s\n", what, gn, (int)gn, got);
  fprintf(stderr, "fuzz_header: %s: expected %zu bytes: %.*s\n", what, wn, (int)wn, want);
  fail(what, "value does not read back", f);
}


/* Field names of several lengths, so the first line starts at several
 * columns; the input's length picks one. */
static const char *const names[] = {"Subject", "To", "X-Mailcast-Campaign-Reference-Tag"};


static void check_unstructured(const char *s, size_t n) {
  const char *name = names[n % 3];
  mc_buf_t f = MC_BUF_INIT, v = MC_BUF_INIT, d = MC_BUF_INIT;
  mc_hdr_t h;
  mc_hdr_begin(&h, &f, name);
  mc_hdr_unstructured(&h, s, n);
  mc_hdr_end(&h);
  check_lines("mc_hdr_unstructured", &f);
  unfold_value("mc_hdr_unstructured", &f, name, &v);
  mc_hdr_decode(&d, v.data ? v.data : "", v.len);
  const char *t = s;
  size_t tn = n;
  trim(&t, &tn);
  expect_same("mc_hdr_unstructured", d.data ? d.data : "", d.len, t, tn, &f);
  mc_buf_free(&f);
  mc_buf_free(&v);
  mc_buf_free(&d);
}


/* A display name reads back through its quoted-string, or through its
 * encoded-words; either way as the trimmed text. */
static void check_phrase(const char *s, size_t n) {
  const char *name = names[(n + 1) % 3];
  mc_buf_t f = MC_BUF_INIT, v = MC_BUF_INIT, d = MC_BUF_INIT;
  mc_hdr_t h;
  mc_hdr_begin(&h, &f, name);
  mc_hdr_phrase(&h, s, n);
  mc_hdr_end(&h);
  check_lines("mc_hdr_phrase", &f);
  unfold_value("mc_hdr_phrase", &f, name, &v);
  const char *t = s;
  size_t tn = n;
  trim(&t, &tn);
  if (v.len >= 2 && v.data[0] == '"' && v.data[v.len - 1] == '"') {
    for (size_t i = 1; i + 1 < v.len; i++) {
      if (v.data[i] == '\\' && i + 2 < v.len) i++;
      mc_buf_addc(&d, v.data[i]);
    }
  } else {
    mc_hdr_decode(&d, v.data ? v.data : "", v.len);
  }
  expect_same("mc_hdr_phrase", d.data ? d.data : "", d.len, t, tn, &f);
  mc_buf_free(&f);
  mc_buf_free(&v);
  mc_buf_free(&d);
}


/* A parameter as part.c writes a filename: read back by our own parser
 * (RFC 2231 sections, quoted-strings and encoded-words). */
static void check_param(const char *s, size_t n, int ew) {
  const char *what = ew ? "mc_hdr_param_ew" : "mc_hdr_param";
  mc_buf_t f = MC_BUF_INIT, v = MC_BUF_INIT;
  mc_hdr_t h;
  mc_hdr_begin(&h, &f, "Content-Type");
  mc_hdr_put(&h, " ", 1, "application/octet-stream", 24);
  if (ew) mc_hdr_param_ew(&h, "name", s, n);
  else mc_hdr_param(&h, "name", s, n);
  mc_hdr_end(&h);
  check_lines(what, &f);
  unfold_value(what, &f, "Content-Type", &v);
  mc_structured_t st;
  if (mc_structured_parse(&st, v.data, v.len) != 0) fail(what, "out of memory", NULL);
  const char *got = mc_structured_param(&st, "name");
  if (got == NULL) fail(what, "parameter not found", &f);
  expect_same(what, got, strlen(got), s, n, &f);
  mc_structured_free(&st);
  mc_buf_free(&f);
  mc_buf_free(&v);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  read_raw(s, size);
  if (!header_text(s, size)) return 0;
  check_unstructured(s, size);
  check_phrase(s, size);
  if (size <= MAX_FILENAME) {
    check_param(s, size, 0);
    check_param(s, size, 1);
  }
  return 0;
}
