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

/* The references mail HTML is written with; anything else is left as
 * written, which is what a reader that does not know it would show. */
static const named_ref names[] = {
  REF("amp", '&', 1),     REF("AMP", '&', 1),     REF("lt", '<', 1),      REF("LT", '<', 1),
  REF("gt", '>', 1),      REF("GT", '>', 1),      REF("quot", '"', 1),    REF("QUOT", '"', 1),
  REF("apos", '\'', 0),   REF("nbsp", 0xA0, 1),   REF("copy", 0xA9, 1),   REF("reg", 0xAE, 1),
  REF("shy", 0xAD, 1),    REF("middot", 0xB7, 1), REF("laquo", 0xAB, 1),  REF("raquo", 0xBB, 1),
  REF("times", 0xD7, 1),  REF("deg", 0xB0, 1),    REF("euro", 0x20AC, 0), REF("trade", 0x2122, 0),
  REF("hellip", 0x2026, 0), REF("ndash", 0x2013, 0), REF("mdash", 0x2014, 0),
  REF("lsquo", 0x2018, 0), REF("rsquo", 0x2019, 0), REF("ldquo", 0x201C, 0),
  REF("rdquo", 0x201D, 0), REF("bull", 0x2022, 0),  REF("zwnj", 0x200C, 0),
};

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
  else if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = REPLACEMENT;
  *len = put_utf8(out, (unsigned)cp);
  return i;
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
  /* One pass: a name with its ';' wins; without one, only the legacy
   * names count, the longest that starts the run. */
  const named_ref *legacy = NULL;
  for (size_t k = 0; k < NNAMES; k++) {
    const named_ref *r = &names[k];
    if (r->len > name_len || r->name[0] != s[1] || memcmp(r->name, s + 1, r->len) != 0) continue;
    if (r->len == name_len && run < n && s[run] == ';') {
      *len = put_utf8(out, r->cp);
      return run + 1;
    }
    if (r->legacy && (legacy == NULL || r->len > legacy->len)) legacy = r;
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
