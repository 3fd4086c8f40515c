#include "utf8.h"

#include <stdint.h>
#include <string.h>


int mc_is_ascii(const char *s, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    if (w & 0x8080808080808080ull) return 0;
  }
  for (; i < n; i++)
    if ((unsigned char)s[i] & 0x80) return 0;
  return 1;
}


/* Length of a valid sequence at s, or 0 when it is invalid. */
static size_t valid_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  /* range of the second byte */
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c == 0xE0) { len = 3; lo = 0xA0; }
  else if (c == 0xED) { len = 3; hi = 0x9F; }       /* no surrogates */
  else if (c >= 0xE1 && c <= 0xEF) len = 3;
  else if (c == 0xF0) { len = 4; lo = 0x90; }
  else if (c >= 0xF1 && c <= 0xF3) len = 4;
  else if (c == 0xF4) { len = 4; hi = 0x8F; }       /* <= U+10FFFF */
  else return 0;
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t k = 2; k < len; k++)
    if ((s[k] & 0xC0) != 0x80) return 0;
  return len;
}


int mc_utf8_valid(const char *s, size_t n, size_t *bad) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, u + i, 8);
      if (!(w & 0x8080808080808080ull)) { i += 8; continue; }
    }
    size_t len = valid_seq(u + i, n - i);
    if (len == 0) {
      if (bad) *bad = i;
      return 0;
    }
    i += len;
  }
  return 1;
}


size_t mc_utf8_charlen(const char *s, size_t n) {
  size_t len = valid_seq((const unsigned char *)s, n);
  return len ? len : 1;
}
