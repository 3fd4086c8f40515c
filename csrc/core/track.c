#include "track.h"

#include <stddef.h>
#include <string.h>

#include "html_entity.h"

/* Invisible in every reader we know of: 1x1, no border, no alt text to
 * show when images are blocked, its own block so it adds no line box. */
#define PIXEL_OPEN "<img src=\""
#define PIXEL_CLOSE "\" width=\"1\" height=\"1\" alt=\"\" " \
  "style=\"display:block;border:0;margin:0;padding:0;width:1px;height:1px\" />"


static unsigned char lower(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}


static int contains(const char *s, size_t n, const char *what, size_t len) {
  return len > 0 && memmem(s, n, what, len) != NULL;
}


/* Whether s holds the marker what (len bytes): compared at each place
 * its first character occurs, which for the markers looked for ('#',
 * '{', '%') is seldom, and linear still (len is a constant). Cheaper
 * than memmem, which prepares its search every call. */
static int has_marker(const char *s, size_t n, const char *what, size_t len) {
  const char *end = s + n, *p = s;
  while (end - p >= (ptrdiff_t)len && (p = memchr(p, what[0], (size_t)(end - p) - len + 1)) != NULL) {
    if (memcmp(p, what, len) == 0) return 1;
    p++;
  }
  return 0;
}


/* Whether the URL starts with scheme (lower case, ':' included),
 * ignoring case. */
static int has_scheme(const char *u, size_t n, const char *scheme, size_t len) {
  if (n < len) return 0;
  for (size_t i = 0; i < len; i++)
    if (lower((unsigned char)u[i]) != (unsigned char)scheme[i]) return 0;
  return 1;
}


const char *mc_track_skip(const mc_html_scan_t *s, const mc_html_link_t *l,
                          const mc_track_opts_t *o) {
  const char *u = s->strings.data ? s->strings.data + l->url : "";
  size_t n = l->url_len;
  if (n == 0) return "empty";
  if (u[0] == '#') return "anchor";
  if ((l->flags & MC_HTML_LINK_NOTRACK) || has_marker(u, n, "#mc-notrack", 11)) return "notrack";
  if (has_marker(u, n, "{{unsubscribe_url}}", 19) ||
      has_marker(u, n, "%7B%7Bunsubscribe_url%7D%7D", 27) ||
      has_marker(u, n, "%7b%7bunsubscribe_url%7d%7d", 27) ||
      (o->unsubscribe && contains(u, n, o->unsubscribe, o->unsubscribe_len)))
    return "unsubscribe";
  if (has_scheme(u, n, "mailto:", 7)) return "mailto";
  if (has_scheme(u, n, "tel:", 4)) return "tel";
  if (has_scheme(u, n, "sms:", 4)) return "sms";
  if (has_scheme(u, n, "javascript:", 11)) return "javascript";
  if (!has_scheme(u, n, "http:", 5) && !has_scheme(u, n, "https:", 6)) return "not-http";
  size_t b = o->base_len;
  while (b > 0 && o->base[b - 1] == '/') b--;
  if (b > 0 && n > b && memcmp(u, o->base, b) == 0 && u[b] == '/') return "tracked";
  return NULL;
}


void mc_track_prepare(mc_track_opts_t *o, const mc_html_scan_t *s) {
  /* The URLs and texts lie one after another in s->strings: a URL that
   * holds the unsubscribe URL makes it show there too (a match across two
   * of them only costs the per-link searches this saves). */
  if (o->unsubscribe && !contains(s->strings.data ? s->strings.data : "", s->strings.len,
                                  o->unsubscribe, o->unsubscribe_len))
    o->unsubscribe = NULL;
}


void mc_track_url(mc_buf_t *out, const char *base, size_t base_len, const char *kind,
                  const char *token, size_t token_len) {
  while (base_len > 0 && base[base_len - 1] == '/') base_len--;
  mc_buf_add(out, base, base_len);
  mc_buf_addc(out, '/');
  mc_buf_addstr(out, kind);
  mc_buf_addc(out, '/');
  mc_buf_add(out, token, token_len);
}


static void write_pixel(mc_buf_t *out, const char *pixel, size_t len) {
  mc_buf_add(out, PIXEL_OPEN, sizeof PIXEL_OPEN - 1);
  mc_html_escape_attr(out, pixel, len, '"');
  mc_buf_add(out, PIXEL_CLOSE, sizeof PIXEL_CLOSE - 1);
}


/* The new value in place of the old one: inside the quotes it had, or
 * in double quotes (after an '=' when the attribute had no value). */
static void write_href(mc_buf_t *out, const mc_html_link_t *l, const mc_track_edit_t *ed) {
  char quote = l->quote ? l->quote : '"';
  if (l->flags & MC_HTML_LINK_BARE) mc_buf_addc(out, '=');
  if (!l->quote) mc_buf_addc(out, '"');
  mc_html_escape_attr(out, ed->href, ed->len, quote);
  if (!l->quote) mc_buf_addc(out, '"');
}


int mc_track_rewrite(mc_buf_t *out, const char *html, size_t n, const mc_html_scan_t *s,
                     const mc_track_edit_t *edits, const char *pixel, size_t pixel_len,
                     mc_error_t *e) {
  size_t extra = pixel ? sizeof PIXEL_OPEN + sizeof PIXEL_CLOSE + pixel_len + 16 : 0;
  for (size_t i = 0; i < s->count; i++)
    if (edits[i].href) extra += edits[i].len + 16;   /* escaping may need more; the buffer grows */
  mc_buf_reserve(out, n + extra);
  size_t at = pixel ? (s->body_end == MC_HTML_NONE ? n : s->body_end) : MC_HTML_NONE;
  size_t pos = 0;   /* html[0, pos) has been written */
  for (size_t i = 0; i < s->count; i++) {
    if (edits[i].href == NULL) continue;
    const mc_html_link_t *l = &s->links[i];
    if (at < l->value) {   /* </body> is never inside a tag, so never inside a value */
      mc_buf_add(out, html + pos, at - pos);
      write_pixel(out, pixel, pixel_len);
      pos = at;
      at = MC_HTML_NONE;
    }
    mc_buf_add(out, html + pos, l->value - pos);
    write_href(out, l, &edits[i]);
    pos = l->value + l->value_len;
  }
  if (at != MC_HTML_NONE) {
    mc_buf_add(out, html + pos, at - pos);
    write_pixel(out, pixel, pixel_len);
    pos = at;
  }
  mc_buf_add(out, html + pos, n - pos);
  if (out->failed) {
    mc_error_set(e, "track: not enough memory");
    return -1;
  }
  return 0;
}
