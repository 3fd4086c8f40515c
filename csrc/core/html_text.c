#include "html_text.h"

#include <string.h>

#include "html_entity.h"

#define NO_TEXT ((size_t)-1)

/* What a start or end tag means for the text. */
enum { T_INLINE, T_BLOCK, T_PARA, T_LIST, T_ITEM, T_CELL, T_BR, T_LINK, T_IMG, T_SKIP };

typedef struct {
  mc_buf_t *out;
  size_t start;       /* out->len when the text began: what is before is not ours */
  int breaks;         /* line breaks owed before the next text (at most 2: one blank line) */
  int space;          /* a space owed before the next text */
  int depth;          /* lists open */
  int bullet;         /* the next text starts a list item */
  int in_link;
  size_t link_text;   /* where the open link's text began in out (NO_TEXT: not yet) */
  mc_buf_t href;      /* the open link's URL, decoded */
} writer;

/* A tag as read: its name and the two attributes the text uses. */
typedef struct {
  const char *name;
  size_t name_len;
  const char *href, *alt;
  size_t href_len, alt_len;
  int has_href, has_alt;
} tag;


static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}


static int is_alpha(unsigned char c) {
  return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}


static int ieq(const char *a, size_t n, const char *b) {
  size_t i = 0;
  for (; i < n; i++) {
    unsigned char c = (unsigned char)a[i];
    if (c >= 'A' && c <= 'Z') c |= 0x20;
    if (b[i] == '\0' || c != (unsigned char)b[i]) return 0;
  }
  return b[i] == '\0';
}


/* The tags the text treats apart from inline ones, with their length so
 * that most names are passed over by one comparison. */
typedef struct {
  const char *name;
  size_t len;
  int kind;
} tag_kind_t;

#define KIND(name, kind) {name, sizeof name - 1, kind}

static const tag_kind_t kinds[] = {
  KIND("a", T_LINK), KIND("p", T_PARA), KIND("br", T_BR), KIND("li", T_ITEM), KIND("ul", T_LIST),
  KIND("ol", T_LIST), KIND("td", T_CELL), KIND("th", T_CELL), KIND("tr", T_BLOCK), KIND("h1", T_PARA),
  KIND("h2", T_PARA), KIND("h3", T_PARA), KIND("h4", T_PARA), KIND("h5", T_PARA), KIND("h6", T_PARA),
  KIND("hr", T_PARA), KIND("dl", T_PARA), KIND("dt", T_BLOCK), KIND("dd", T_BLOCK), KIND("img", T_IMG),
  KIND("pre", T_PARA), KIND("div", T_BLOCK), KIND("nav", T_BLOCK), KIND("main", T_BLOCK),
  KIND("body", T_BLOCK), KIND("table", T_PARA), KIND("tbody", T_BLOCK), KIND("thead", T_BLOCK),
  KIND("tfoot", T_BLOCK), KIND("aside", T_BLOCK), KIND("title", T_SKIP), KIND("style", T_SKIP),
  KIND("figure", T_PARA), KIND("header", T_BLOCK), KIND("footer", T_BLOCK), KIND("center", T_BLOCK),
  KIND("script", T_SKIP), KIND("iframe", T_SKIP), KIND("object", T_SKIP), KIND("select", T_SKIP),
  KIND("address", T_PARA), KIND("section", T_BLOCK), KIND("article", T_BLOCK), KIND("caption", T_BLOCK),
  KIND("textarea", T_SKIP), KIND("noscript", T_SKIP), KIND("template", T_SKIP),
  KIND("blockquote", T_PARA), KIND("figcaption", T_BLOCK),
};


static int kind_of(const char *name, size_t len) {
  if (len > 10) return T_INLINE;   /* longer than any name above */
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (kinds[i].len == len && ieq(name, len, kinds[i].name)) return kinds[i].kind;
  return T_INLINE;
}


/* Output ------------------------------------------------------------- */

static void owe_breaks(writer *w, int n) {
  if (w->breaks < n) w->breaks = n;
}


/* Appends text that is not white space, after what it is owed. */
static void emit(writer *w, const char *p, size_t k) {
  mc_buf_t *out = w->out;
  int line_start = out->len == w->start;
  if (!line_start && w->breaks) {
    for (int i = 0; i < w->breaks; i++) mc_buf_addc(out, '\n');
    line_start = 1;
  } else if (!line_start && w->space) {
    mc_buf_addc(out, ' ');
  }
  if (line_start && w->bullet) {
    for (int i = 1; i < w->depth; i++) mc_buf_add(out, "  ", 2);
    mc_buf_add(out, "- ", 2);
    w->bullet = 0;
  }
  w->breaks = w->space = 0;
  if (w->in_link && w->link_text == NO_TEXT) w->link_text = out->len;
  mc_buf_add(out, p, k);
}


/* Appends the text s[0, n): white space collapsed, references decoded. */
static void text(writer *w, const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    if (is_space(c)) {
      w->space = 1;
      i++;
    } else if (c == '&') {
      char ch[MC_HTML_CHAR_MAX];
      size_t k = 0, used = mc_html_charref(s + i, n - i, 0, ch, &k);
      if (used == 0) { emit(w, "&", 1); i++; continue; }
      if (k == 2 && memcmp(ch, "\xC2\xA0", 2) == 0) w->space = 1;   /* &nbsp; */
      else emit(w, ch, k);
      i += used;
    } else {
      size_t j = i + 1;
      while (j < n && !is_space((unsigned char)s[j]) && s[j] != '&') j++;
      emit(w, s + i, j - i);
      i = j;
    }
  }
}


/* A link ends: its URL after its text, unless the text says it already
 * or the URL is only a place in the page. */
static void end_link(writer *w) {
  if (!w->in_link) return;
  w->in_link = 0;
  mc_buf_t *h = &w->href, *out = w->out;
  if (h->failed) { out->failed = 1; return; }
  if (h->len == 0 || h->data[0] == '#') return;
  size_t said = w->link_text == NO_TEXT ? 0 : out->len - w->link_text;
  const char *shown = said ? out->data + w->link_text : "";
  if (said == h->len && memcmp(shown, h->data, said) == 0) return;
  const char *url = h->data;
  size_t len = h->len;
  if (len > 7 && memcmp(url, "mailto:", 7) == 0 && said == len - 7 && memcmp(shown, url + 7, said) == 0) return;
  if (said == 0) { emit(w, url, len); return; }   /* an image without alt: the URL says where */
  w->space = 1;
  emit(w, "(", 1);
  mc_buf_add(out, url, len);
  mc_buf_addc(out, ')');
}


static void start_tag(writer *w, const tag *t) {
  switch (kind_of(t->name, t->name_len)) {
  case T_PARA: owe_breaks(w, 2); break;
  case T_BLOCK: owe_breaks(w, 1); break;
  case T_LIST:
    w->depth++;
    owe_breaks(w, w->depth == 1 ? 2 : 1);
    break;
  case T_ITEM:
    owe_breaks(w, 1);
    w->bullet = 1;
    break;
  case T_CELL: w->space = 1; break;
  case T_BR: if (w->breaks < 2) w->breaks++; break;
  case T_IMG:
    if (t->has_alt && t->alt_len > 0) text(w, t->alt, t->alt_len);
    break;
  case T_LINK:
    end_link(w);   /* an <a> inside an <a> ends the first */
    if (!t->has_href) break;
    w->in_link = 1;
    w->href.len = 0;
    mc_html_unescape(&w->href, t->href, t->href_len, 1);
    while (w->href.len && is_space((unsigned char)w->href.data[w->href.len - 1])) w->href.len--;
    w->link_text = NO_TEXT;
    break;
  default: break;
  }
}


static void end_tag(writer *w, const char *name, size_t len) {
  switch (kind_of(name, len)) {
  case T_PARA: owe_breaks(w, 2); break;
  case T_BLOCK: case T_ITEM: owe_breaks(w, 1); break;
  case T_LIST:
    if (w->depth > 0) w->depth--;
    owe_breaks(w, w->depth == 0 ? 2 : 1);
    break;
  case T_CELL: w->space = 1; break;
  case T_LINK: end_link(w); break;
  default: break;
  }
}


/* Markup ---------------------------------------------------------------- */

/* Reads a tag's attributes from k to its '>': returns the position
 * after it (n when the input ends first). */
static size_t attributes(const char *s, size_t n, size_t k, tag *t) {
  for (;;) {
    while (k < n && (is_space((unsigned char)s[k]) || s[k] == '/')) k++;
    if (k >= n) return n;
    if (s[k] == '>') return k + 1;
    size_t name = k++;
    while (k < n && !is_space((unsigned char)s[k]) && s[k] != '/' && s[k] != '>' && s[k] != '=') k++;
    size_t name_len = k - name;
    while (k < n && is_space((unsigned char)s[k])) k++;
    if (k >= n || s[k] != '=') continue;
    k++;
    while (k < n && is_space((unsigned char)s[k])) k++;
    if (k >= n) return n;
    size_t value, value_len;
    if (s[k] == '"' || s[k] == '\'') {
      const char *end = memchr(s + k + 1, s[k], n - k - 1);
      if (end == NULL) return n;
      value = k + 1;
      value_len = (size_t)(end - s) - value;
      k = (size_t)(end - s) + 1;
    } else {
      value = k;
      while (k < n && !is_space((unsigned char)s[k]) && s[k] != '>') k++;
      value_len = k - value;
    }
    if (!t->has_href && ieq(s + name, name_len, "href")) {
      t->has_href = 1;
      t->href = s + value;
      t->href_len = value_len;
    } else if (!t->has_alt && ieq(s + name, name_len, "alt")) {
      t->has_alt = 1;
      t->alt = s + value;
      t->alt_len = value_len;
    }
  }
}


/* Past the "</name" that ends raw text starting at k (n when none). */
static size_t skip_raw(const char *s, size_t n, size_t k, const char *name, size_t len) {
  while (k < n) {
    const char *lt = memchr(s + k, '<', n - k);
    if (lt == NULL) return n;
    size_t m = (size_t)(lt - s);
    if (m + 2 + len <= n && s[m + 1] == '/') {
      size_t i = 0;
      while (i < len && (s[m + 2 + i] | 0x20) == (name[i] | 0x20)) i++;
      size_t after = m + 2 + len;
      if (i == len && (after == n || is_space((unsigned char)s[after]) || s[after] == '/' || s[after] == '>'))
        return m;
    }
    k = m + 1;
  }
  return n;
}


static size_t to_gt(const char *s, size_t n, size_t k) {
  const char *gt = k < n ? memchr(s + k, '>', n - k) : NULL;
  return gt ? (size_t)(gt - s) + 1 : n;
}


/* The markup at s[j] == '<': returns where text starts again. */
static size_t markup(writer *w, const char *s, size_t n, size_t j) {
  size_t k = j + 1;
  if (k < n && is_alpha((unsigned char)s[k])) {
    tag t = {0};
    t.name = s + k;
    while (k < n && !is_space((unsigned char)s[k]) && s[k] != '/' && s[k] != '>') k++;
    t.name_len = (size_t)(s + k - t.name);
    size_t end = attributes(s, n, k, &t);
    if (kind_of(t.name, t.name_len) == T_SKIP) return skip_raw(s, n, end, t.name, t.name_len);
    start_tag(w, &t);
    return end;
  }
  if (k + 1 < n && s[k] == '/' && is_alpha((unsigned char)s[k + 1])) {
    size_t name = k + 1;
    k = name;
    while (k < n && !is_space((unsigned char)s[k]) && s[k] != '/' && s[k] != '>') k++;
    end_tag(w, s + name, k - name);
    return to_gt(s, n, k);
  }
  if (k + 2 < n && s[k] == '!' && s[k + 1] == '-' && s[k + 2] == '-') {
    for (k += 3; k + 2 < n; k++)
      if (s[k] == '-' && s[k + 1] == '-' && s[k + 2] == '>') return k + 3;
    return n;
  }
  if (k < n && (s[k] == '!' || s[k] == '?' || s[k] == '/')) return to_gt(s, n, k);
  text(w, "<", 1);
  return j + 1;
}


void mc_html_text(mc_buf_t *out, const char *html, size_t n) {
  writer w = {0};
  w.out = out;
  w.start = out->len;
  size_t i = 0;
  while (i < n) {
    const char *lt = memchr(html + i, '<', n - i);
    size_t j = lt ? (size_t)(lt - html) : n;
    text(&w, html + i, j - i);
    if (lt == NULL) break;
    i = markup(&w, html, n, j);
  }
  end_link(&w);
  if (out->len > w.start) mc_buf_addc(out, '\n');
  mc_buf_free(&w.href);
}
