#include "html_entity.h"

#include <string.h>

#define REPLACEMENT 0xFFFD

typedef struct {
  const char *name;
  size_t len;
  unsigned cp;
  int legacy;   /* also recognised without the ';' (HTML's legacy list) */
} named_ref;

#define REF(name, cp, legacy) {name, sizeof name - 1, cp, legacy}

/* The named references of the HTML standard that mail is written with
 * (all of Latin-1, Greek, arrows, math and typography), sorted by their
 * bytes; anything else is left as written, which is what a reader that
 * does not know it would show. */
static const named_ref names[] = {
#include "html_entity_names.h"
};

/* The longest name HTML recognises without its ';'. */
#define LEGACY_MAX 6

#define NNAMES (sizeof names / sizeof names[0])

/* What &#128; to &#159; mean (windows-1252), as the standard says. */
static const unsigned short c1_remap[32] = {
  0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
  0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
  0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
  0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
};


static size_t put_utf8(char *out, unsigned cp) {
  if (cp < 0x80) { out[0] = (char)cp; return 1; }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}


static int is_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}


static int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}


/* A code point a numeric reference may stand for: not NUL, a surrogate
 * or past Unicode (as the standard says), nor a control character other
 * than white space or a noncharacter, which a text part must not carry. */
static int valid_char(unsigned long cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\f' && cp != '\r') || cp == 0x7F) return 0;
  return !((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE);
}


/* &#...; and &#x...; : at least one digit, ';' optional. Out-of-range
 * values saturate instead of wrapping, so a long run of digits is one
 * bad character, not a different valid one. */
static size_t numeric(const char *s, size_t n, char *out, size_t *len) {
  size_t i = 2;
  int base = 10;
  if (i < n && (s[i] | 0x20) == 'x') { base = 16; i++; }
  size_t start = i;
  unsigned long cp = 0;
  for (; i < n; i++) {
    int d = base == 16 ? hex_value((unsigned char)s[i])
                       : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
    if (d < 0) break;
    if (cp <= 0x10FFFF) cp = cp * (unsigned long)base + (unsigned long)d;
  }
  if (i == start) return 0;
  if (i < n && s[i] == ';') i++;
  if (cp >= 0x80 && cp <= 0x9F) cp = c1_remap[cp - 0x80];
  else if (!valid_char(cp)) cp = REPLACEMENT;
  *len = put_utf8(out, (unsigned)cp);
  return i;
}


/* The reference named by name[0, len), or NULL: a binary search. */
static const named_ref *find(const char *name, size_t len) {
  size_t lo = 0, hi = NNAMES;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const named_ref *r = &names[mid];
    int c = memcmp(r->name, name, r->len < len ? r->len : len);
    if (c == 0) c = r->len < len ? -1 : r->len > len;
    if (c == 0) return r;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}


size_t mc_html_charref(const char *s, size_t n, int in_attr,
                       char out[MC_HTML_CHAR_MAX], size_t *len) {
  if (n < 2) return 0;
  if (s[1] == '#') return numeric(s, n, out, len);
  if (n >= 5 && memcmp(s + 1, "amp;", 4) == 0) {   /* most of them, in URLs */
    out[0] = '&';
    *len = 1;
    return 5;
  }
  size_t run = 1;
  while (run < n && is_alnum((unsigned char)s[run])) run++;
  size_t name_len = run - 1;
  /* A name with its ';' wins; without one, only the legacy names
   * count, the longest that starts the run. */
  const named_ref *r = find(s + 1, name_len);
  if (r && run < n && s[run] == ';') {
    *len = put_utf8(out, r->cp);
    return run + 1;
  }
  const named_ref *legacy = NULL;
  for (size_t l = name_len < LEGACY_MAX ? name_len : LEGACY_MAX; l >= 2 && legacy == NULL; l--) {
    r = find(s + 1, l);
    if (r && r->legacy) legacy = r;
  }
  if (legacy == NULL) return 0;
  size_t end = 1 + legacy->len;
  if (in_attr && end < n && (is_alnum((unsigned char)s[end]) || s[end] == '='))
    return 0;   /* part of a query string, not a reference */
  *len = put_utf8(out, legacy->cp);
  return end;
}


void mc_html_unescape(mc_buf_t *out, const char *s, size_t n, int in_attr) {
  size_t i = 0;
  while (i < n) {
    const char *amp = memchr(s + i, '&', n - i);
    size_t j = amp ? (size_t)(amp - s) : n;
    mc_buf_add(out, s + i, j - i);
    if (amp == NULL) return;
    char ch[MC_HTML_CHAR_MAX];
    size_t len = 0, used = mc_html_charref(s + j, n - j, in_attr, ch, &len);
    if (used == 0) {
      mc_buf_addc(out, '&');
      i = j + 1;
    } else {
      mc_buf_add(out, ch, len);
      i = j + used;
    }
  }
}


void mc_html_escape_attr(mc_buf_t *out, const char *s, size_t n, char quote) {
  /* The next '&' and the next quote at or after i (end: none), each
   * looked for again only once passed: memchr beats a byte loop, as a
   * URL seldom has either, and every byte is still read once. */
  const char *end = s + n, *amp = NULL, *q = NULL;
  size_t i = 0;
  while (i < n) {
    if (amp == NULL || amp < s + i) {
      amp = memchr(s + i, '&', n - i);
      if (amp == NULL) amp = end;
    }
    if (q == NULL || q < s + i) {
      q = memchr(s + i, quote, n - i);
      if (q == NULL) q = end;
    }
    const char *stop = amp < q ? amp : q;
    mc_buf_add(out, s + i, (size_t)(stop - (s + i)));
    if (stop == end) return;
    if (*stop == '&') mc_buf_add(out, "&amp;", 5);
    else if (quote == '"') mc_buf_add(out, "&quot;", 6);
    else mc_buf_add(out, "&#39;", 5);
    i = (size_t)(stop - s) + 1;
  }
}


void mc_html_escape(mc_buf_t *out, const char *s, size_t n) {
  size_t run = 0;   /* start of the bytes not written yet */
  for (size_t i = 0; i < n; i++) {
    const char *ref;
    size_t len;
    switch (s[i]) {
    case '&': ref = "&amp;"; len = 5; break;
    case '<': ref = "&lt;"; len = 4; break;
    case '>': ref = "&gt;"; len = 4; break;
    case '"': ref = "&quot;"; len = 6; break;
    case '\'': ref = "&#39;"; len = 5; break;
    default: continue;
    }
    mc_buf_add(out, s + run, i - run);
    mc_buf_add(out, ref, len);
    run = i + 1;
  }
  mc_buf_add(out, s + run, n - run);
}
