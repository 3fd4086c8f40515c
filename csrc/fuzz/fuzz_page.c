/* fuzz_page: a page sent as it is, on any input: the HTML scanner with a
 * page (html_page.h), the CSS url(...) finder and the HTML-to-text
 * writer. Checked:
 *   - the links the scanner finds are the same with a page as without;
 *   - every reference and cut lies inside the input, cuts in order and
 *     apart, no reference inside a cut, no decoded URL longer than the
 *     bytes it came from, at most one <base>, an @import's media list
 *     inside its rule and its <style>'s content starting before it;
 *   - every url(...) and @import of the input read as CSS lies inside
 *     it, in order, an @import's stylesheet and media list inside it;
 *   - the text of valid UTF-8 HTML is valid UTF-8.
 * A violation aborts so libFuzzer reports it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/css_url.h"
#include "core/html_page.h"
#include "core/html_scan.h"
#include "core/html_text.h"
#include "core/utf8.h"


static void fail(const char *why, size_t at) {
  fprintf(stderr, "fuzz_page: %s (at %zu)\n", why, at);
  abort();
}


static void check_page(const mc_html_scan_t *s, const mc_html_page_t *p, size_t n) {
  size_t prev = 0, bases = 0;
  for (size_t i = 0; i < p->ncuts; i++) {
    const mc_html_cut_t *c = &p->cuts[i];
    if (c->at < prev || c->end < c->at || c->end > n) fail("a cut out of place", i);
    prev = c->end;
  }
  for (size_t i = 0; i < p->nrefs; i++) {
    const mc_html_ref_t *r = &p->refs[i];
    if (r->at > n || r->len > n - r->at) fail("a reference outside the input", i);
    if (r->url > s->strings.len || r->url_len > s->strings.len - r->url) fail("a url outside the strings", i);
    if (r->url_len > r->len && r->kind != MC_HTML_REF_STYLESHEET && r->kind != MC_HTML_REF_BASE)
      fail("a url longer than its source", i);
    if (r->kind == MC_HTML_REF_BASE && ++bases > 1) fail("a second <base>", i);
    if (r->kind == MC_HTML_REF_IMPORT && (r->media < r->at || r->media_len > r->at + r->len - r->media))
      fail("an @import's media list outside its rule", i);
    if (r->kind == MC_HTML_REF_IMPORT && r->block > r->at) fail("an @import before its <style>", i);
    for (size_t k = 0; k < p->ncuts; k++)
      if (r->at > p->cuts[k].at && r->at < p->cuts[k].end) fail("a reference inside a cut", i);
  }
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *html = (const char *)data;
  mc_error_t e;
  mc_html_scan_t plain = MC_HTML_SCAN_INIT, s = MC_HTML_SCAN_INIT;
  mc_html_page_t p = MC_HTML_PAGE_INIT;
  s.page = &p;
  if (mc_html_scan(&plain, html, size, &e) != 0 || mc_html_scan(&s, html, size, &e) != 0) fail(e.msg, 0);
  if (plain.count != s.count || plain.body_end != s.body_end) fail("a page changed the links", 0);
  for (size_t i = 0; i < s.count; i++)
    if (plain.links[i].value != s.links[i].value || plain.links[i].url_len != s.links[i].url_len)
      fail("a page changed a link", i);
  check_page(&s, &p, size);
  mc_html_scan_free(&plain);
  mc_html_scan_free(&s);
  mc_html_page_free(&p);

  size_t from = 0, prev = 0;
  mc_css_url_t u;
  while (mc_css_url_next(html, size, &from, &u)) {
    if (u.at < prev || u.at > size || u.len > size - u.at || u.value < u.at ||
        u.value + u.value_len > u.at + u.len || from > size || from <= u.at)
      fail("a css url out of place", u.at);
    if (u.import && (u.media < u.at || u.media_len > u.at + u.len - u.media))
      fail("an @import's media list out of place", u.at);
    prev = u.at + u.len;
  }

  mc_buf_t text = MC_BUF_INIT;
  mc_html_text(&text, html, size);
  if (text.failed) fail("html_text ran out of memory", 0);
  if (mc_utf8_valid(html, size, NULL) && !mc_utf8_valid(text.data ? text.data : "", text.len, NULL))
    fail("the text of UTF-8 HTML is not UTF-8", 0);
  mc_buf_free(&text);
  return 0;
}
