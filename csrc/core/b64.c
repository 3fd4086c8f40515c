#include "b64.h"

#include <stdint.h>
#include <string.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Two output characters per 12 input bits: one table load replaces two
 * shifts, masks and loads, which is what lets the encoder keep up with
 * memory bandwidth. */
static uint16_t pair[4096];
static signed char value[256];


__attribute__((constructor)) static void build_tables(void) {
  for (int i = 0; i < 4096; i++) {
    unsigned char two[2] = {(unsigned char)alphabet[i >> 6],
                            (unsigned char)alphabet[i & 63]};
    memcpy(&pair[i], two, 2);
  }
  memset(value, -1, sizeof value);
  for (int i = 0; i < 64; i++) value[(unsigned char)alphabet[i]] = (signed char)i;
}


size_t mc_b64_encoded_len(size_t n, int wrap) {
  size_t chars = (n + 2) / 3 * 4;
  if (!wrap) return chars;
  size_t lines = (n + MC_B64_LINE_IN - 1) / MC_B64_LINE_IN;
  return chars + 2 * lines;
}


static inline char *encode_group(char *d, const unsigned char *s) {
  uint32_t v = (uint32_t)s[0] << 16 | (uint32_t)s[1] << 8 | s[2];
  memcpy(d, &pair[v >> 12], 2);
  memcpy(d + 2, &pair[v & 0xfff], 2);
  return d + 4;
}


static char *encode_tail(char *d, const unsigned char *s, size_t n) {
  if (n == 0) return d;
  uint32_t v = (uint32_t)s[0] << 16 | (n > 1 ? (uint32_t)s[1] << 8 : 0);
  d[0] = alphabet[v >> 18];
  d[1] = alphabet[(v >> 12) & 63];
  d[2] = n > 1 ? alphabet[(v >> 6) & 63] : '=';
  d[3] = '=';
  return d + 4;
}


/* Whole groups of three, 8 at a time where possible (24 bytes in, 32 out). */
static char *encode_run(char *d, const unsigned char *s, size_t groups) {
  while (groups >= 8) {
    for (int i = 0; i < 8; i++) d = encode_group(d, s + 3 * i);
    s += 24;
    groups -= 8;
  }
  while (groups--) { d = encode_group(d, s); s += 3; }
  return d;
}


size_t mc_b64_encode(char *dst, const unsigned char *src, size_t n, int wrap) {
  char *d = dst;
  if (!wrap) {
    d = encode_run(d, src, n / 3);
    d = encode_tail(d, src + n / 3 * 3, n % 3);
    return (size_t)(d - dst);
  }
  while (n >= MC_B64_LINE_IN) {
    d = encode_run(d, src, MC_B64_LINE_IN / 3);
    *d++ = '\r';
    *d++ = '\n';
    src += MC_B64_LINE_IN;
    n -= MC_B64_LINE_IN;
  }
  if (n > 0) {
    d = encode_run(d, src, n / 3);
    d = encode_tail(d, src + n / 3 * 3, n % 3);
    *d++ = '\r';
    *d++ = '\n';
  }
  return (size_t)(d - dst);
}


static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}


size_t mc_b64_decode(unsigned char *dst, const char *src, size_t n,
                     int strict, size_t *bad) {
  unsigned char *d = dst;
  uint32_t acc = 0;
  int have = 0;      /* sextets collected in acc */
  int padded = 0;    /* '=' seen: only padding and space may follow */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)src[i];
    signed char v = value[c];
    if (v >= 0 && !padded) {
      acc = acc << 6 | (uint32_t)v;
      if (++have == 4) {
        d[0] = (unsigned char)(acc >> 16);
        d[1] = (unsigned char)(acc >> 8);
        d[2] = (unsigned char)acc;
        d += 3;
        have = 0;
        acc = 0;
      }
      continue;
    }
    if (c == '=' && (have >= 2 || padded)) { padded = 1; continue; }
    if (is_space(c)) continue;
    if (strict) { if (bad) *bad = i; return (size_t)-1; }
  }
  if (strict && have == 1) { if (bad) *bad = n; return (size_t)-1; }
  if (have == 2) *d++ = (unsigned char)(acc >> 4);
  else if (have == 3) {
    *d++ = (unsigned char)(acc >> 10);
    *d++ = (unsigned char)(acc >> 2);
  }
  return (size_t)(d - dst);
}
