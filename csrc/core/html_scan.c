#include "html_scan.h"

#include <stdlib.h>
#include <string.h>

#include "html_entity.h"
#include "html_scan_internal.h"

/* Character classes, one table look-up per byte in the hot loops. */
enum {
  SPACE = 1,      /* HTML white space */
  NAME_END = 2,   /* ends a tag name: white space, '/', '>' */
  ATTR_END = 4,   /* ends an attribute name: those and '=' */
  VALUE_END = 8,  /* ends an unquoted value: white space, '>' */
  WORD_END = 16,  /* ends a run of link text: white space, '&' */
};

#define WS (SPACE | NAME_END | ATTR_END | VALUE_END | WORD_END)

static const unsigned char cls[256] = {
  ['\t'] = WS, ['\n'] = WS, ['\f'] = WS, ['\r'] = WS, [' '] = WS,
  ['/'] = NAME_END | ATTR_END, ['>'] = NAME_END | ATTR_END | VALUE_END,
  ['='] = ATTR_END, ['&'] = WORD_END,
};


int mc_html_is_space(unsigned char c) {
  return cls[c] & SPACE;
}


static int is_alpha(unsigned char c) {
  return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}


/* The len bytes at a and b are the same ASCII letters, ignoring case. */
static int same_name(const char *a, const char *b, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (mc_html_lower((unsigned char)a[i]) != mc_html_lower((unsigned char)b[i])) return 0;
  return 1;
}


static int starts_with(const char *s, size_t n, const char *prefix) {
  size_t len = strlen(prefix);
  return n >= len && memcmp(s, prefix, len) == 0;
}


/* Raw text and RCDATA elements (13.2.6.4.7 "any other start tag" and the
 * generic raw text/RCDATA algorithms: script, style, title, textarea,
 * xmp, iframe, noembed, noframes) hold text up to their matching end
 * tag, so "<a href" inside a <style> is no link. <noscript> is not among
 * them because mail readers do not run scripts. The length picks the
 * candidates, so most tags cost one comparison. */
static int tag_kind(const char *name, size_t len) {
  switch (len) {
  case 1: return mc_html_lower((unsigned char)name[0]) == 'a' ? TAG_A : TAG_OTHER;
  case 2: return mc_html_ieq(name, len, "br") ? TAG_BR : TAG_OTHER;
  case 3:
    if (mc_html_ieq(name, len, "img")) return TAG_IMG;
    return mc_html_ieq(name, len, "xmp") ? TAG_RAW : TAG_OTHER;
  case 4: return mc_html_ieq(name, len, "body") ? TAG_BODY : TAG_OTHER;
  case 5: return mc_html_ieq(name, len, "style") || mc_html_ieq(name, len, "title") ? TAG_RAW : TAG_OTHER;
  case 6: return mc_html_ieq(name, len, "script") || mc_html_ieq(name, len, "iframe") ? TAG_RAW : TAG_OTHER;
  case 7: return mc_html_ieq(name, len, "noembed") ? TAG_RAW : TAG_OTHER;
  case 8:
    return mc_html_ieq(name, len, "textarea") || mc_html_ieq(name, len, "noframes") ? TAG_RAW : TAG_OTHER;
  case 9: return mc_html_ieq(name, len, "plaintext") ? TAG_PLAINTEXT : TAG_OTHER;
  default: return TAG_OTHER;
  }
}


/* Link text -------------------------------------------------------- */

/* Appends the k bytes at p (whole characters) to the open link's text,
 * after a single space when white space came before them; what does not
 * fit in MC_HTML_TEXT_MAX is cut at a character boundary and the text is
 * full. */
static void emit(scanner *sc, const char *p, size_t k) {
  mc_html_link_t *l = &sc->out->links[sc->open];
  size_t cur = sc->out->strings.len - l->text;
  size_t sep = sc->space && cur > 0;
  if (cur + sep + k > MC_HTML_TEXT_MAX) {
    size_t room = cur + sep < MC_HTML_TEXT_MAX ? MC_HTML_TEXT_MAX - cur - sep : 0;
    while (room > 0 && (p[room] & 0xC0) == 0x80) room--;   /* not inside a character */
    sc->full = 1;
    if (room == 0) return;
    k = room;
  }
  mc_buf_t *b = &sc->out->strings;
  if (mc_buf_reserve(b, sep + k) != 0) return;   /* the failure sticks to b */
  if (sep) b->data[b->len++] = ' ';
  memcpy(b->data + b->len, p, k);
  b->len += k;
  sc->space = 0;
}


/* Adds text to the open link's text: references decoded (with the rules
 * for attributes when in_attr, for an image's alt), white space
 * collapsed, and nothing once the text is full. */
static void add_text(scanner *sc, const char *p, size_t len, int in_attr) {
  size_t i = 0;
  while (i < len && !sc->full) {
    unsigned char c = (unsigned char)p[i];
    if (mc_html_is_space(c)) {
      sc->space = 1;
      i++;
    } else if (c == '&') {
      char ch[MC_HTML_CHAR_MAX];
      size_t k = 0, used = mc_html_charref(p + i, len - i, in_attr, ch, &k);
      if (used == 0) { emit(sc, "&", 1); i++; continue; }
      if (k == 2 && memcmp(ch, "\xC2\xA0", 2) == 0) sc->space = 1;  /* &nbsp; reads as a space */
      else emit(sc, ch, k);
      i += used;
    } else {   /* a run of ordinary bytes at once */
      size_t j = i + 1;
      while (j < len && !(cls[(unsigned char)p[j]] & WORD_END)) j++;
      emit(sc, p + i, j - i);
      i = j;
    }
  }
}


static void close_link(scanner *sc) {
  if (sc->open == MC_HTML_NONE) return;
  mc_html_link_t *l = &sc->out->links[sc->open];
  l->text_len = sc->out->strings.len - l->text;
  sc->open = MC_HTML_NONE;
  sc->space = sc->full = 0;
}


/* Links ------------------------------------------------------------- */

/* Drops what a URL parser drops (WHATWG URL: leading and trailing C0
 * controls and spaces, every tab and newline) from the decoded value u,
 * so the URL is judged and reported as a reader uses it; returns the
 * new length. */
size_t mc_html_clean_url(char *u, size_t len) {
  size_t a = 0, b = len;
  while (a < b && (unsigned char)u[a] <= 0x20) a++;
  while (b > a && (unsigned char)u[b - 1] <= 0x20) b--;
  if (a == 0 && !memchr(u, '\t', b) && !memchr(u, '\n', b) && !memchr(u, '\r', b))
    return b;   /* the usual case: nothing to move */
  size_t w = 0;
  for (size_t r = a; r < b; r++)
    if (u[r] != '\t' && u[r] != '\n' && u[r] != '\r') u[w++] = u[r];
  return w;
}


static void open_link(scanner *sc, size_t at, const tag_t *t) {
  mc_html_scan_t *out = sc->out;
  if (out->count == out->cap) {
    size_t cap = out->cap ? out->cap * 2 : 16;
    mc_html_link_t *links = realloc(out->links, cap * sizeof *links);
    if (links == NULL) { sc->failed = 1; return; }
    out->links = links;
    out->cap = cap;
  }
  mc_html_link_t *l = &out->links[out->count];
  memset(l, 0, sizeof *l);
  l->tag = at;
  l->value = t->href;
  l->value_len = t->href_len;
  l->quote = t->href_quote;
  l->flags = t->flags;
  l->url = out->strings.len;
  mc_html_unescape(&out->strings, sc->s + t->href, t->href_len, 1);
  if (out->strings.failed) { sc->failed = 1; return; }
  if (out->strings.len > l->url) {   /* data is NULL while nothing was written */
    l->url_len = mc_html_clean_url(out->strings.data + l->url, out->strings.len - l->url);
    out->strings.len = l->url + l->url_len;
  }
  l->text = out->strings.len;
  sc->open = out->count++;
}


/* Images ------------------------------------------------------------ */

/* Keeps the image of the start tag at at (only when the scan asks). */
static void add_image(scanner *sc, size_t at, const tag_t *t) {
  mc_html_scan_t *out = sc->out;
  if (out->nimages == out->images_cap) {
    size_t cap = out->images_cap ? out->images_cap * 2 : 8;
    mc_html_image_t *images = realloc(out->images, cap * sizeof *images);
    if (images == NULL) { sc->failed = 1; return; }
    out->images = images;
    out->images_cap = cap;
  }
  mc_html_image_t *img = &out->images[out->nimages++];
  memset(img, 0, sizeof *img);
  img->tag = at;
  img->has_alt = t->has_alt;
  img->in_link = sc->open != MC_HTML_NONE;
  mc_buf_t *b = &out->image_strings;
  img->src = b->len;
  if (!t->has_src) return;
  mc_html_unescape(b, sc->s + t->src, t->src_len, 1);
  if (b->failed) { sc->failed = 1; return; }
  if (b->len > img->src) {
    img->src_len = mc_html_clean_url(b->data + img->src, b->len - img->src);
    b->len = img->src + img->src_len;
  }
}


/* Counts the visible bytes of n bytes of text (with want_images). */
static void count_text(scanner *sc, const char *p, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += !mc_html_is_space((unsigned char)p[i]);
  sc->out->text_bytes += k;
}


/* Tags ---------------------------------------------------------------- */

static void attribute(scanner *sc, tag_t *t, size_t name, size_t name_len, int has_value,
                      size_t value, size_t value_len, char quote) {
  const char *s = sc->s + name;
  if (sc->out->page && has_value) mc_html_page_attribute(t, s, name_len, value, value_len, quote);
  if (t->kind == TAG_A) {
    if (mc_html_ieq(s, name_len, "href") && !t->has_href) {   /* the first one counts */
      t->has_href = 1;
      if (!has_value) t->flags |= MC_HTML_LINK_BARE;
      t->href = has_value ? value : name + name_len;
      t->href_len = value_len;
      t->href_quote = quote;
    } else if (mc_html_ieq(s, name_len, "data-mc-notrack") || mc_html_ieq(s, name_len, "mc:notrack")) {
      t->flags |= MC_HTML_LINK_NOTRACK;
    }
  } else if (t->kind == TAG_IMG && !t->has_alt && mc_html_ieq(s, name_len, "alt")) {
    t->has_alt = 1;   /* alt with no value is alt="" */
    t->alt = value;
    t->alt_len = has_value ? value_len : 0;
  } else if (t->kind == TAG_IMG && has_value && !t->has_src && mc_html_ieq(s, name_len, "src")) {
    t->has_src = 1;
    t->src = value;
    t->src_len = value_len;
  }
}


/* Reads a tag's attributes from k (just after its name) through its
 * '>': returns the position after the '>', or MC_HTML_NONE when the
 * input ends first, in which case there is no tag (13.2.5.33: EOF in a
 * tag emits nothing). Attributes are reported only when report is set. */
static size_t attributes(scanner *sc, size_t k, tag_t *t, int report) {
  const char *s = sc->s;
  size_t n = sc->n;
  for (;;) {
    while (k < n && (mc_html_is_space((unsigned char)s[k]) || s[k] == '/')) k++;
    if (k >= n) return MC_HTML_NONE;
    if (s[k] == '>') return k + 1;
    size_t name = k++;   /* the first character may be '=' */
    while (k < n && !(cls[(unsigned char)s[k]] & ATTR_END)) k++;
    size_t name_len = k - name;
    while (k < n && mc_html_is_space((unsigned char)s[k])) k++;
    if (k >= n) return MC_HTML_NONE;
    if (s[k] != '=') {
      if (report) attribute(sc, t, name, name_len, 0, 0, 0, 0);
      continue;
    }
    k++;
    while (k < n && mc_html_is_space((unsigned char)s[k])) k++;
    if (k >= n) return MC_HTML_NONE;
    char quote = s[k];
    size_t value, value_len;
    if (quote == '"' || quote == '\'') {
      const char *end = memchr(s + k + 1, quote, n - k - 1);
      if (end == NULL) return MC_HTML_NONE;
      value = k + 1;
      value_len = (size_t)(end - s) - value;
      k = (size_t)(end - s) + 1;
    } else {
      quote = 0;
      value = k;
      while (k < n && !(cls[(unsigned char)s[k]] & VALUE_END)) k++;
      if (k >= n) return MC_HTML_NONE;
      value_len = k - value;
    }
    if (report) attribute(sc, t, name, name_len, 1, value, value_len, quote);
  }
}


/* Reads a tag name from k: returns where it ends, or MC_HTML_NONE. */
static size_t tag_name_end(scanner *sc, size_t k) {
  while (k < sc->n && !(cls[(unsigned char)sc->s[k]] & NAME_END)) k++;
  return k < sc->n ? k : MC_HTML_NONE;
}


/* The content of a raw text element ends at the first "</name" followed
 * by white space, '/' or '>' (13.2.5.11, "appropriate end tag"); returns
 * the position of its '<', where the end tag is then read as usual. */
static size_t raw_text_end(scanner *sc, size_t k, const tag_t *t) {
  const char *s = sc->s;
  size_t n = sc->n, len = t->name_len;
  while (k < n) {
    const char *lt = memchr(s + k, '<', n - k);
    if (lt == NULL) return n;
    size_t m = (size_t)(lt - s), after = m + 2 + len;
    if (after < n && s[m + 1] == '/' && same_name(s + m + 2, s + t->name, len) &&
        (mc_html_is_space((unsigned char)s[after]) || s[after] == '/' || s[after] == '>'))
      return m;
    k = m + 1;
  }
  return n;
}


static size_t start_tag(scanner *sc, size_t j) {
  tag_t t = {0};
  page_attr_t page_attrs[PAGE_ATTRS];
  if (sc->out->page) {
    memset(page_attrs, 0, sizeof page_attrs);
    t.page = page_attrs;
  }
  t.name = j + 1;
  size_t k = tag_name_end(sc, t.name);
  if (k == MC_HTML_NONE) return sc->n;
  t.name_len = k - t.name;
  t.kind = tag_kind(sc->s + t.name, t.name_len);
  /* only <a> and <img> have attributes the scanner needs, and every tag
   * of a page (its images, styles and stylesheets) */
  size_t end = attributes(sc, k, &t, t.kind == TAG_A || t.kind == TAG_IMG || sc->out->page);
  if (end == MC_HTML_NONE) return sc->n;
  if (sc->out->page) mc_html_page_tag(sc, j, end, &t);
  switch (t.kind) {
  case TAG_A:
    close_link(sc);   /* an <a> inside an <a> ends the first (13.2.6.4.7) */
    if (t.has_href) open_link(sc, j, &t);
    break;
  case TAG_IMG:   /* an image link's alt is its text, as a screen reader says it */
    if (sc->out->want_images) add_image(sc, j, &t);
    if (sc->open != MC_HTML_NONE && t.has_alt) {
      sc->space = 1;
      add_text(sc, sc->s + t.alt, t.alt_len, 1);
      sc->space = 1;
    }
    break;
  case TAG_BR:
    sc->space = 1;
    break;
  case TAG_RAW: {
    size_t raw_end = raw_text_end(sc, end, &t);
    if (sc->out->page) mc_html_page_raw(sc, &t, end, raw_end);
    return raw_end;
  }
  case TAG_PLAINTEXT:   /* everything after it is text, for good */
    return sc->n;
  default:
    break;
  }
  return end;
}


static size_t end_tag(scanner *sc, size_t j) {
  tag_t t = {0};
  t.name = j + 2;
  size_t k = tag_name_end(sc, t.name);
  if (k == MC_HTML_NONE) return sc->n;
  int kind = tag_kind(sc->s + t.name, k - t.name);
  size_t end = attributes(sc, k, &t, 0);
  if (end == MC_HTML_NONE) return sc->n;
  if (kind == TAG_A) close_link(sc);
  else if (kind == TAG_BODY) sc->out->body_end = j;   /* the last one wins */
  if (sc->out->page) mc_html_page_end_tag(sc, j, t.name, k - t.name, end);
  return end;
}


/* A comment's content starts at k, after "<!--". It ends at "-->" or
 * "--!>", or at once with "<!-->" and "<!--->" (13.2.5.43 onwards), or
 * at the end of the input. */
static size_t comment(scanner *sc, size_t k) {
  const char *s = sc->s;
  size_t n = sc->n;
  if (k < n && s[k] == '>') return k + 1;
  if (k + 1 < n && s[k] == '-' && s[k + 1] == '>') return k + 2;
  while (k < n) {
    const char *dash = memchr(s + k, '-', n - k);
    if (dash == NULL) return n;
    size_t m = (size_t)(dash - s);
    if (m + 2 < n && s[m + 1] == '-') {
      if (s[m + 2] == '>') return m + 3;
      if (m + 3 < n && s[m + 2] == '!' && s[m + 3] == '>') return m + 4;
    }
    k = m + 1;
  }
  return n;
}


/* Up to and including the next '>' (a bogus comment, a doctype). */
static size_t to_gt(scanner *sc, size_t k) {
  const char *gt = k < sc->n ? memchr(sc->s + k, '>', sc->n - k) : NULL;
  return gt ? (size_t)(gt - sc->s) + 1 : sc->n;
}


/* "<![CDATA[" ... "]]>": never markup, whether a reader takes it for a
 * CDATA section or (outside SVG and MathML) for a bogus comment that
 * ends earlier; what is inside is left alone either way. */
static size_t cdata(scanner *sc, size_t k) {
  const char *s = sc->s;
  size_t n = sc->n;
  while (k + 2 < n) {
    const char *rb = memchr(s + k, ']', n - k - 2);
    if (rb == NULL) break;
    size_t m = (size_t)(rb - s);
    if (s[m + 1] == ']' && s[m + 2] == '>') return m + 3;
    k = m + 1;
  }
  return n;
}


/* A literal '<' (or "</") is text. */
static size_t lt_text(scanner *sc, size_t j, size_t len) {
  if (sc->out->want_images) count_text(sc, sc->s + j, len);
  if (sc->open != MC_HTML_NONE) add_text(sc, sc->s + j, len, 0);
  return j + len;
}


/* Reads the markup that starts with the '<' at j (13.2.5.6 tag open
 * state); returns where text starts again. */
static size_t markup(scanner *sc, size_t j) {
  const char *s = sc->s;
  size_t n = sc->n, k = j + 1;
  if (k >= n) return lt_text(sc, j, 1);
  unsigned char c = (unsigned char)s[k];
  if (is_alpha(c)) return start_tag(sc, j);
  if (c == '/') {
    if (k + 1 >= n) return lt_text(sc, j, 2);
    if (is_alpha((unsigned char)s[k + 1])) return end_tag(sc, j);
    if (s[k + 1] == '>') return k + 2;   /* "</>" is nothing */
    return to_gt(sc, k + 1);
  }
  if (c == '!') {
    if (starts_with(s + k + 1, n - k - 1, "--")) return comment(sc, k + 3);
    if (starts_with(s + k + 1, n - k - 1, "[CDATA[")) return cdata(sc, k + 8);
    return to_gt(sc, k + 1);
  }
  if (c == '?') return to_gt(sc, k);
  return lt_text(sc, j, 1);
}


int mc_html_scan(mc_html_scan_t *out, const char *html, size_t n, mc_error_t *e) {
  scanner sc = {html, n, out, MC_HTML_NONE, 0, 0, 0};
  mc_buf_reserve(&out->strings, n / 8 + 64);   /* about what mail needs: fewer regrowths */
  size_t i = 0;
  while (i < n && !sc.failed) {
    const char *lt = memchr(html + i, '<', n - i);
    size_t j = lt ? (size_t)(lt - html) : n;
    if (sc.open != MC_HTML_NONE) add_text(&sc, html + i, j - i, 0);
    if (out->want_images) count_text(&sc, html + i, j - i);
    if (lt == NULL) break;
    i = markup(&sc, j);
  }
  close_link(&sc);
  if (out->page) mc_html_page_finish(&sc);
  if (sc.failed || out->strings.failed) {
    mc_error_set(e, "html: not enough memory");
    return -1;
  }
  return 0;
}


void mc_html_scan_free(mc_html_scan_t *s) {
  free(s->links);
  s->links = NULL;
  s->count = s->cap = 0;
  mc_buf_free(&s->strings);
  s->body_end = MC_HTML_NONE;
  free(s->images);
  s->images = NULL;
  mc_buf_free(&s->image_strings);
  s->nimages = s->images_cap = 0;
  s->text_bytes = 0;
}
