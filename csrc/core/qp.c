#include "qp.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

static const char hex[] = "0123456789ABCDEF";

#define MAX_COL 75   /* leaves room for the "=" of a soft break: lines <= 76 */


static int hard_break_at(const char *s, size_t n, size_t i) {
  return i >= n || s[i] == '\n' || s[i] == '\r';
}


/* "From " at the start of a line is escaped so that mbox writers on the
 * way never mangle it into ">From ". */
static int from_line(const char *s, size_t n, size_t i) {
  return n - i >= 5 && memcmp(s + i, "From ", 5) == 0;
}


/* How many bytes from s (at most max) are printable ASCII other than
 * '=', or a space: bytes that stand for themselves (a space does unless
 * a line break follows it). Text is mostly such runs, copied whole
 * rather than decided on byte by byte. */
static size_t plain_run(const char *s, size_t max) {
  size_t i = 0;
#ifdef __SSE2__
  while (i + 16 <= max) {
    __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
    __m128i below = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
    __m128i above = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x7F)), v);
    __m128i eq = _mm_cmpeq_epi8(v, _mm_set1_epi8('='));
    unsigned mask = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(below, above), eq));
    if (mask) return i + (size_t)__builtin_ctz(mask);
    i += 16;
  }
#endif
  while (i < max) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c > 0x7E || c == '=') break;
    i++;
  }
  return i;
}


void mc_qp_encode(mc_buf_t *out, const char *s, size_t n, int binary) {
  if (n == 0) return;
  /* Written straight into the buffer. At most 3 bytes out per byte in,
   * and a 3-byte soft break per 24 bytes in at worst (escapes only). */
  char *d = mc_buf_tail(out, 3 * n + (n / 24 + 1) * 3);
  if (d == NULL) return;
  char *start = d;
  size_t col = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    /* A run of plain bytes that fits on the line is copied as it is. A
     * "From " at the start of a line, and a space that ends the run (a
     * line break or the end may follow it), go the byte-by-byte way. */
    if (col < MAX_COL && !(col == 0 && c == 'F')) {
      size_t k = plain_run(s + i, n - i < MAX_COL - col ? n - i : MAX_COL - col);
      if (k > 0 && s[i + k - 1] == ' ') k--;   /* the next byte decides on it */
      if (k > 0) {
        memcpy(d, s + i, k);
        d += k;
        col += k;
        i += k;
        if (i == n) break;
        c = (unsigned char)s[i];
      }
    }
    if (!binary && (c == '\r' || c == '\n')) {
      if (c == '\r' && i + 1 < n && s[i + 1] == '\n') i++;
      *d++ = '\r';
      *d++ = '\n';
      col = 0;
      continue;
    }
    int escape = !mc_qp_literal(c)
        || ((c == ' ' || c == '\t') && (binary ? i + 1 == n : hard_break_at(s, n, i + 1)));
    if (col + (escape ? 3 : 1) > MAX_COL) {
      *d++ = '=';
      *d++ = '\r';
      *d++ = '\n';
      col = 0;
    }
    /* Decided after any soft break: that starts a line too. */
    if (col == 0 && c == 'F' && from_line(s, n, i)) escape = 1;
    if (escape) {
      *d++ = '=';
      *d++ = hex[c >> 4];
      *d++ = hex[c & 15];
      col += 3;
    } else {
      *d++ = (char)c;
      col++;
    }
  }
  out->len += (size_t)(d - start);
}


static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}


/* Length of the line starting at i without its break and trailing blanks. */
static size_t line_end(const char *s, size_t n, size_t i, size_t *next) {
  size_t e = i;
  while (e < n && s[e] != '\n' && s[e] != '\r') e++;
  size_t after = e;
  if (after < n && s[after] == '\r') after++;
  if (after < n && s[after] == '\n' && (after == e || s[after - 1] == '\r')) after++;
  *next = after;
  size_t content = e;
  while (content > i && (s[content - 1] == ' ' || s[content - 1] == '\t')) content--;
  return content;
}


void mc_qp_decode(mc_buf_t *out, const char *s, size_t n) {
  size_t i = 0;
  if (mc_buf_reserve(out, n) != 0) return;
  while (i < n) {
    size_t next;
    size_t end = line_end(s, n, i, &next);
    int soft = 0;
    for (size_t j = i; j < end; j++) {
      unsigned char c = (unsigned char)s[j];
      if (c != '=') { mc_buf_addc(out, (char)c); continue; }
      if (j + 1 == end) { soft = 1; break; }  /* "=" then the line break */
      int hi = j + 1 < end ? hexval((unsigned char)s[j + 1]) : -1;
      int lo = j + 2 < end ? hexval((unsigned char)s[j + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        mc_buf_addc(out, (char)(hi << 4 | lo));
        j += 2;
      } else {
        mc_buf_addc(out, '=');
      }
    }
    if (!soft) {
      /* a hard break, kept as CRLF; trailing blanks at the very end of
       * the input with no break after them are just dropped */
      size_t k = end;
      while (k < next && (s[k] == ' ' || s[k] == '\t')) k++;
      if (k < next) mc_buf_add(out, "\r\n", 2);
    }
    i = next;
  }
}
