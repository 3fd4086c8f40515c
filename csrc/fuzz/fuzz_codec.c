/* fuzz_codec: base64 and quoted-printable. Encoding then decoding gives
 * the bytes back (binary quoted-printable and base64 exactly; text
 * quoted-printable as RFC 2045 canonical text, every line break CRLF),
 * the encoded form keeps to RFC 2045's line rules, and the decoders
 * survive any input. A violation aborts so libFuzzer reports it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/qp.h"

#define B64_LINE 76   /* RFC 2045 6.8 */
#define QP_LINE 76    /* RFC 2045 6.7 (5), the soft break's "=" included */

static volatile unsigned char sink;


static void touch(const void *p, size_t n) {
  const unsigned char *u = p;
  unsigned char acc = 0;
  for (size_t i = 0; i < n; i++) acc ^= u[i];
  sink ^= acc;
}


static void fail(const char *what, const char *why, const char *enc, size_t n) {
  fprintf(stderr, "fuzz_codec: %s: %s\n", what, why);
  if (enc) fprintf(stderr, "encoded (%zu bytes): %.*s\n", n, (int)(n > 4000 ? 4000 : n), enc);
  abort();
}


static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL) abort();
  return p;
}


static int b64_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/';
}


/* Encoded length as promised, only alphabet and trailing padding, and
 * with wrap, lines of exactly 76 characters but the last, each ended by
 * CRLF; without it, one line. */
static void check_b64_form(const char *enc, size_t len, size_t n, int wrap) {
  const char *what = wrap ? "b64 wrapped" : "b64";
  size_t col = 0, chars = 0, pad = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)enc[i];
    if (c == '\r') {
      if (!wrap || i + 1 >= len || enc[i + 1] != '\n') fail(what, "stray CR", enc, len);
      if (col == 0 || col > B64_LINE) fail(what, "bad line length", enc, len);
      if (col < B64_LINE && i + 2 != len) fail(what, "short line before the last", enc, len);
      col = 0;
      i++;
      continue;
    }
    if (c == '=') pad++;
    else if (!b64_char(c) || pad) fail(what, "bad character or data after padding", enc, len);
    col++;
    chars++;
  }
  if (wrap && col != 0) fail(what, "last line without CRLF", enc, len);
  if (chars != (n + 2) / 3 * 4 || pad != (3 - n % 3) % 3) fail(what, "wrong length or padding", enc, len);
}


static void check_b64(const unsigned char *s, size_t n, int wrap) {
  size_t len = mc_b64_encoded_len(n, wrap);
  char *enc = xmalloc(len);
  size_t got = mc_b64_encode(enc, s, n, wrap);
  if (got != len) fail("mc_b64_encode", "length differs from mc_b64_encoded_len", enc, got);
  check_b64_form(enc, len, n, wrap);
  unsigned char *dec = xmalloc(len * 3 / 4 + 3);
  size_t bad = 0;
  size_t dn = mc_b64_decode(dec, enc, len, 1, &bad);
  if (dn == (size_t)-1) fail("mc_b64_decode", "strict decoding refused the encoder's output", enc, len);
  if (dn != n || memcmp(dec, s, n) != 0) fail("b64", "round trip changed the bytes", enc, len);
  free(dec);
  free(enc);
}


/* Encoded quoted-printable: printable ASCII, space and tab only, lines
 * ended by CRLF and at most 76 long, no white space at a line's end
 * (transports strip it), and no line starting "From " (mbox writers
 * would turn it into ">From "; the encoder means to prevent that). */
static void check_qp_form(const char *what, const mc_buf_t *b) {
  const char *s = b->data ? b->data : "";
  size_t n = b->len, start = 0;
  if (b->failed) fail(what, "out of memory", NULL, 0);
  for (size_t i = 0; i <= n; i++) {
    if (i < n && s[i] != '\r' && s[i] != '\n') {
      unsigned char c = (unsigned char)s[i];
      if (!((c >= 33 && c <= 126) || c == ' ' || c == '\t')) fail(what, "unsafe byte", s, n);
      continue;
    }
    if (i < n && (s[i] != '\r' || i + 1 >= n || s[i + 1] != '\n')) fail(what, "bare CR or LF", s, n);
    if (i - start > QP_LINE) fail(what, "line longer than 76", s, n);
    if (i > start && (s[i - 1] == ' ' || s[i - 1] == '\t')) fail(what, "white space at a line's end", s, n);
    if (i - start >= 5 && memcmp(s + start, "From ", 5) == 0) fail(what, "line starts with \"From \"", s, n);
    i++;
    start = i + 1;
  }
}


/* RFC 2045 canonical text: CRLF, lone CR and lone LF all become CRLF. */
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


static void check_qp(const char *s, size_t n, int binary) {
  const char *what = binary ? "qp binary" : "qp text";
  mc_buf_t enc = MC_BUF_INIT, dec = MC_BUF_INIT, want = MC_BUF_INIT;
  mc_qp_encode(&enc, s, n, binary);
  check_qp_form(what, &enc);
  mc_qp_decode(&dec, enc.data ? enc.data : "", enc.len);
  if (binary) mc_buf_add(&want, s, n);
  else canonical(&want, s, n);
  if (dec.failed || want.failed) fail(what, "out of memory", NULL, 0);
  if (dec.len != want.len || (want.len && memcmp(dec.data, want.data, want.len) != 0))
    fail(what, "round trip changed the bytes", enc.data, enc.len);
  mc_buf_free(&enc);
  mc_buf_free(&dec);
  mc_buf_free(&want);
}


/* The decoders on raw input, into exactly the room b64.h asks for. */
static void decode_raw(const char *s, size_t n) {
  size_t room = n * 3 / 4 + 3;
  unsigned char *d = xmalloc(room);
  size_t dn = mc_b64_decode(d, s, n, 0, NULL);
  if (dn == (size_t)-1 || dn > room) fail("mc_b64_decode", "lenient decoding failed or overran", NULL, 0);
  touch(d, dn);
  size_t bad = n + 1;
  dn = mc_b64_decode(d, s, n, 1, &bad);
  if (dn == (size_t)-1 ? bad > n : dn > room) fail("mc_b64_decode", "bad offset or overrun", NULL, 0);
  free(d);

  mc_buf_t q = MC_BUF_INIT;
  mc_qp_decode(&q, s, n);
  if (q.failed) fail("mc_qp_decode", "out of memory", NULL, 0);
  touch(q.data, q.len);
  mc_buf_free(&q);
  for (size_t i = 0; i < n; i++) sink ^= (unsigned char)mc_qp_literal((unsigned char)s[i]);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  check_b64(data, size, 0);
  check_b64(data, size, 1);
  check_qp(s, size, 1);
  check_qp(s, size, 0);
  decode_raw(s, size);
  return 0;
}
