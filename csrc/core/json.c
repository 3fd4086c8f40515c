#include "json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

static const char hex[] = "0123456789abcdef";


/* Printable ASCII other than '"' and '\\': copied as it is. */
static int plain(unsigned char c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; }


/* A byte that is not part of valid UTF-8 is taken as Latin-1, so a
 * server's reply of any bytes still makes a valid line. */
void mc_json_string(mc_buf_t *b, const char *s, size_t n) {
  mc_buf_addc(b, '"');
  size_t i = 0;
  while (i < n) {
    /* Most of a log line is plain: it goes in runs, not byte by byte. */
    size_t run = i;
    while (run < n && plain((unsigned char)s[run])) run++;
    if (run > i) {
      mc_buf_add(b, s + i, run - i);
      i = run;
      if (i == n) break;
    }
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x80) {
      size_t len = mc_utf8_charlen(s + i, n - i), bad;
      if (len > 1 && mc_utf8_valid(s + i, len, &bad)) {
        mc_buf_add(b, s + i, len);
        i += len;
      } else {
        char latin1[2] = {(char)(0xC0 | c >> 6), (char)(0x80 | (c & 0x3F))};
        mc_buf_add(b, latin1, 2);
        i++;
      }
      continue;
    }
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      mc_buf_add(b, e, 2);
    } else if (c == '\n') {
      mc_buf_add(b, "\\n", 2);
    } else if (c == '\r') {
      mc_buf_add(b, "\\r", 2);
    } else if (c == '\t') {
      mc_buf_add(b, "\\t", 2);
    } else if (c == '\b') {
      mc_buf_add(b, "\\b", 2);
    } else if (c == '\f') {
      mc_buf_add(b, "\\f", 2);
    } else if (c < 0x20 || c == 0x7F) {
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      mc_buf_add(b, u, 6);
    } else {
      mc_buf_addc(b, (char)c);
    }
    i++;
  }
  mc_buf_addc(b, '"');
}


/* 1 for the bytes a JSON string holds as they are: printable ASCII
 * other than '"' and '\\' (a table: one load a byte, not four tests). */
static const unsigned char plain_byte[256] = {
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};


/* Whether s needs no escaping, as the keys and most values of a log
 * line do not. */
static int all_plain(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!plain_byte[(unsigned char)s[i]]) return 0;
  return 1;
}


void mc_json_string_framed(mc_buf_t *b, const char *before, size_t n_before, const char *s, size_t n,
                           const char *after, size_t n_after) {
  char *p;
  if (!all_plain(s, n) || (p = mc_buf_tail(b, n_before + n + 2 + n_after)) == NULL) {
    mc_buf_add(b, before, n_before);
    mc_json_string(b, s, n);
    mc_buf_add(b, after, n_after);
    return;
  }
  memcpy(p, before, n_before);
  p += n_before;
  *p++ = '"';
  memcpy(p, s, n);
  p += n;
  *p++ = '"';
  memcpy(p, after, n_after);
  b->len += n_before + n + 2 + n_after;
}


void mc_json_integer(mc_buf_t *b, long long v) {
  /* Codes, counts and ids: a few digits, not worth a printf. */
  char tmp[24];
  char *p = mc_decimal(tmp + sizeof tmp, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
  if (v < 0) *--p = '-';
  mc_buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}


/* v to the microsecond as "%.6f" writes it, into tmp (room for 24):
 * the digits of v * 1e6 rounded, without a printf (a log line has a
 * duration). 0, nothing written, when v is negative, large, or v * 1e6
 * is so near a half that its rounding error could decide: printf
 * rounds v's exact value. */
static int micro_digits(double v, char *tmp) {
  if (!(v >= 0 && v < 1e6) || signbit(v)) return 0;
  double scaled = v * 1e6, whole = floor(scaled), frac = scaled - whole;
  if (fabs(frac - 0.5) < 1e-3) return 0;   /* the error of v * 1e6 is below 1e-4 here */
  unsigned long long r = (unsigned long long)whole + (frac > 0.5);
  char digits[24], *end = digits + sizeof digits;
  char *p = mc_decimal(end, r / 1000000);
  int n = (int)(end - p);
  memcpy(tmp, p, (size_t)n);
  tmp[n++] = '.';
  unsigned long long micro = r % 1000000;
  for (int i = 5; i >= 0; i--, micro /= 10) tmp[n + i] = (char)('0' + micro % 10);
  return n + 6;
}


void mc_json_double(mc_buf_t *b, double v) {
  char tmp[64];
  if (!isfinite(v)) {
    mc_buf_add(b, "null", 4);
    return;
  }
  int n = micro_digits(v, tmp);
  if (n == 0) n = snprintf(tmp, sizeof tmp, "%.6f", v);
  if (n >= (int)sizeof tmp) n = (int)sizeof tmp - 1;
  while (n > 0 && tmp[n - 1] == '0') n--;
  if (n > 0 && tmp[n - 1] == '.') tmp[n++] = '0';
  if (n > 0) mc_buf_add(b, tmp, (size_t)(n < (int)sizeof tmp ? n : (int)sizeof tmp - 1));
}
