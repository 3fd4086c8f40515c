/* fuzz_track: the HTML link scanner and the rewriter on any input. The
 * first byte picks which links get a new href (whether or not they would
 * be tracked by default, so bare, empty and unquoted hrefs are written
 * too); the rest is the document. Checked:
 *   - with images asked for (a bit of the first byte): images in
 *     document order, each at a '<' of the input, their src no longer
 *     than the input, the visible text no more than the input;
 *   - links come in document order, inside the input, their decoded URL
 *     no longer than the value it came from, their text at most
 *     MC_HTML_TEXT_MAX bytes (valid UTF-8 when the input is), </body>
 *     outside every link's tag;
 *   - the output is the input with exactly the chosen values replaced
 *     and the pixel inserted where it belongs, every other byte the same;
 *   - scanning the output finds the same links, the rewritten ones with
 *     their new URL and the others with the URL they had.
 * A violation aborts so libFuzzer reports it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/html_scan.h"
#include "core/track.h"
#include "core/utf8.h"

#define PIXEL "https://t.example/o/PIXEL"
#define HREF_MAX 40


static void fail(const char *why, size_t at) {
  fprintf(stderr, "fuzz_track: %s (at %zu)\n", why, at);
  abort();
}


static const char *url_of(const mc_html_scan_t *s, const mc_html_link_t *l) {
  return s->strings.data ? s->strings.data + l->url : "";
}


static void check_scan(const mc_html_scan_t *s, const char *html, size_t n) {
  size_t prev_end = 0;
  int utf8 = mc_utf8_valid(html, n, NULL);
  for (size_t i = 0; i < s->count; i++) {
    const mc_html_link_t *l = &s->links[i];
    if (l->tag < prev_end || l->tag >= n || html[l->tag] != '<') fail("link out of order", i);
    if (l->value <= l->tag || l->value + l->value_len >= n) fail("value outside the tag", i);
    if (l->url_len > l->value_len) fail("decoded URL longer than its value", i);
    if (l->text_len > MC_HTML_TEXT_MAX) fail("text too long", i);
    if (utf8 && l->text_len && !mc_utf8_valid(s->strings.data + l->text, l->text_len, NULL))
      fail("text not UTF-8", i);
    if (s->body_end != MC_HTML_NONE && s->body_end >= l->tag && s->body_end < l->value + l->value_len)
      fail("</body> inside a link's tag", i);
    prev_end = l->value + l->value_len;
  }
  if (s->body_end != MC_HTML_NONE && (s->body_end + 7 > n || html[s->body_end] != '<'))
    fail("</body> out of place", s->body_end);
}


static void check_images(const mc_html_scan_t *s, const char *html, size_t n) {
  size_t prev = 0;
  for (size_t i = 0; i < s->nimages; i++) {
    const mc_html_image_t *img = &s->images[i];
    if (img->tag < prev || img->tag >= n || html[img->tag] != '<') fail("image out of order", i);
    if (img->src + img->src_len > s->image_strings.len || img->src_len > n) fail("image src out of bounds", i);
    prev = img->tag + 1;
  }
  if (s->text_bytes > n) fail("more text than input", s->text_bytes);
}


/* Compares out with what it must be: html with the chosen values
 * replaced, quoted as the rewriter says, and the pixel at its place. */
static void check_output(const mc_buf_t *buf, const char *html, size_t n, const mc_html_scan_t *s,
                         const mc_track_edit_t *edits, int pixel) {
  const mc_buf_t view = {buf->data ? buf->data : (char *)"", buf->len, buf->cap, 0};
  const mc_buf_t *out = &view;   /* data is NULL when nothing was written */
  size_t in = 0, o = 0, at = pixel ? (s->body_end == MC_HTML_NONE ? n : s->body_end) : MC_HTML_NONE;
  for (size_t i = 0; i <= s->count; i++) {
    const mc_html_link_t *l = i < s->count ? &s->links[i] : NULL;
    if (l && edits[i].href == NULL) continue;
    size_t stop = l ? l->value : n;
    if (at != MC_HTML_NONE && at <= stop) {
      if (o + (at - in) > out->len || memcmp(out->data + o, html + in, at - in) != 0) fail("bytes changed", in);
      o += at - in;
      in = at;
      static const char head[] = "<img src=\"" PIXEL "\"";
      if (out->len - o < sizeof head - 1 || memcmp(out->data + o, head, sizeof head - 1) != 0)
        fail("no pixel", at);
      const char *end = memchr(out->data + o, '>', out->len - o);
      if (end == NULL || end[-1] != '/') fail("pixel not closed", at);
      o = (size_t)(end - out->data) + 1;
      at = MC_HTML_NONE;
    }
    if (o + (stop - in) > out->len || memcmp(out->data + o, html + in, stop - in) != 0) fail("bytes changed", in);
    o += stop - in;
    in = stop;
    if (l == NULL) break;
    char expect[HREF_MAX + 8];
    int len = snprintf(expect, sizeof expect, "%s%s%.*s%s", (l->flags & MC_HTML_LINK_BARE) ? "=" : "",
                       l->quote ? "" : "\"", (int)edits[i].len, edits[i].href, l->quote ? "" : "\"");
    if (o + (size_t)len > out->len || memcmp(out->data + o, expect, (size_t)len) != 0) fail("href not written", i);
    o += (size_t)len;
    in += l->value_len;
  }
  if (o != out->len) fail("output longer than the edits explain", o);
}


/* Scanning the output finds the same links with the URLs they now have. */
static void check_rescan(const mc_buf_t *out, const mc_html_scan_t *s, const mc_track_edit_t *edits) {
  mc_html_scan_t again = MC_HTML_SCAN_INIT;
  mc_error_t e;
  if (mc_html_scan(&again, out->data ? out->data : "", out->len, &e) != 0) fail(e.msg, 0);
  if (again.count != s->count) fail("a different number of links after rewriting", again.count);
  for (size_t i = 0; i < s->count; i++) {
    const mc_html_link_t *a = &s->links[i], *b = &again.links[i];
    const char *want = edits[i].href ? edits[i].href : url_of(s, a);
    size_t want_len = edits[i].href ? edits[i].len : a->url_len;
    if (b->url_len != want_len || memcmp(url_of(&again, b), want, want_len) != 0) fail("link URL changed", i);
    if ((a->flags & MC_HTML_LINK_NOTRACK) != (b->flags & MC_HTML_LINK_NOTRACK)) fail("notrack flag changed", i);
  }
  mc_html_scan_free(&again);
}


static void rewrite(const char *html, size_t n, const mc_html_scan_t *s, const mc_track_edit_t *edits,
                    int pixel) {
  mc_buf_t out = MC_BUF_INIT;
  mc_error_t e;
  if (mc_track_rewrite(&out, html, n, s, edits, pixel ? PIXEL : NULL, sizeof PIXEL - 1, &e) != 0)
    fail(e.msg, 0);
  check_output(&out, html, n, s, edits, pixel);
  /* The pixel appended after a tag or comment the input left open
   * becomes part of it, so the rescan is only meaningful without it. */
  if (!pixel || s->body_end != MC_HTML_NONE) check_rescan(&out, s, edits);
  mc_buf_free(&out);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned choice = data[0];
  const char *html = (const char *)data + 1;
  size_t n = size - 1;
  mc_html_scan_t s = MC_HTML_SCAN_INIT;
  s.want_images = (choice & 0x40) != 0;
  mc_error_t e;
  if (mc_html_scan(&s, html, n, &e) != 0) fail(e.msg, 0);
  check_scan(&s, html, n);
  check_images(&s, html, n);
  mc_track_opts_t o = {"https://t.example", 17, "https://u.example/", 18};
  mc_track_opts_t prepared = o;
  mc_track_prepare(&prepared, &s);
  mc_track_edit_t *edits = calloc(s.count ? s.count : 1, sizeof *edits);
  char (*hrefs)[HREF_MAX] = calloc(s.count ? s.count : 1, HREF_MAX);
  if (edits == NULL || hrefs == NULL) abort();
  for (size_t i = 0; i < s.count; i++) {
    const char *why = mc_track_skip(&s, &s.links[i], &o);
    if ((why == NULL) != (mc_track_skip(&s, &s.links[i], &prepared) == NULL))
      fail("mc_track_prepare changed a decision", i);
    int pick = choice & 0x80 ? why == NULL : ((choice >> (i % 7)) & 1);
    if (!pick) continue;
    int len = snprintf(hrefs[i], HREF_MAX, "https://t.example/c/%zu", i + 1);
    edits[i].href = hrefs[i];
    edits[i].len = (size_t)len;
  }
  rewrite(html, n, &s, edits, 1);
  rewrite(html, n, &s, edits, 0);
  free(edits);
  free(hrefs);
  mc_html_scan_free(&s);
  return 0;
}
