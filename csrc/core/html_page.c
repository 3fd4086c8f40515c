#include "html_page.h"

#include <stdlib.h>
#include <string.h>

#include "css_url.h"
#include "html_entity.h"
#include "html_scan_internal.h"


static const char *const cut_names[] = {"script", "iframe", "form", NULL};


/* The name of an element a mail reader blocks, or NULL. */
static const char *cut_name(const char *name, size_t len) {
  for (int i = 0; cut_names[i]; i++)
    if (mc_html_ieq(name, len, cut_names[i])) return cut_names[i];
  return NULL;
}


void mc_html_page_attribute(tag_t *t, const char *name, size_t name_len, size_t value,
                            size_t value_len, char quote) {
  static const char *const names[PAGE_ATTRS] = {"src", "srcset", "background", "style", "rel", "href", "media"};
  for (int i = 0; i < PAGE_ATTRS; i++) {
    if (!t->page[i].has && mc_html_ieq(name, name_len, names[i])) {
      t->page[i] = (page_attr_t){1, value, value_len, quote};
      return;
    }
  }
}


static mc_html_ref_t *new_ref(scanner *sc, int kind, size_t at, size_t len, char quote) {
  mc_html_page_t *p = sc->out->page;
  if (p->nrefs == p->refs_cap) {
    size_t cap = p->refs_cap ? p->refs_cap * 2 : 16;
    mc_html_ref_t *refs = realloc(p->refs, cap * sizeof *refs);
    if (refs == NULL) { sc->failed = 1; return NULL; }
    p->refs = refs;
    p->refs_cap = cap;
  }
  mc_html_ref_t *r = &p->refs[p->nrefs++];
  *r = (mc_html_ref_t){kind, at, len, sc->out->strings.len, 0, 0, 0, 0, quote};
  return r;
}


/* Sets r's url to the bytes appended to the strings since it was made,
 * trimmed of what a URL parser drops; drop_quotes: and of one pair of
 * quotes around them (a CSS url("...") written with &quot;). */
static void end_url(scanner *sc, mc_html_ref_t *r, int drop_quotes) {
  mc_buf_t *b = &sc->out->strings;
  if (b->failed) { sc->failed = 1; return; }
  if (b->len == r->url) return;
  char *u = b->data + r->url;
  size_t len = mc_html_clean_url(u, b->len - r->url);
  if (drop_quotes && len >= 2 && (u[0] == '"' || u[0] == '\'') && u[len - 1] == u[0]) {
    memmove(u, u + 1, len - 2);
    len = mc_html_clean_url(u, len - 2);
  }
  r->url_len = len;
  b->len = r->url + len;
}


/* A reference held whole by an attribute's value. */
static void attr_ref(scanner *sc, int kind, const page_attr_t *a) {
  mc_html_ref_t *r = new_ref(sc, kind, a->at, a->len, a->quote);
  if (r == NULL) return;
  mc_html_unescape(&sc->out->strings, sc->s + a->at, a->len, 1);
  end_url(sc, r, 0);
}


/* Every url(...) of the CSS in s[from, to): in an attribute its
 * character references are decoded first (in_attr), and an @import is
 * nothing (a style attribute holds declarations, not rules). */
static void css_refs(scanner *sc, int kind, size_t from, size_t to, char quote, int in_attr) {
  size_t k = from;
  mc_css_url_t u;
  while (!sc->failed && mc_css_url_next(sc->s, to, &k, &u)) {
    if (u.import && in_attr) continue;
    mc_html_ref_t *r = new_ref(sc, u.import ? MC_HTML_REF_IMPORT : kind, u.at, u.len, quote);
    if (r == NULL) return;
    r->media = u.media;
    r->media_len = u.media_len;
    r->block = from;
    if (in_attr) mc_html_unescape(&sc->out->strings, sc->s + u.at, u.len, 1);
    else mc_buf_add(&sc->out->strings, sc->s + u.value, u.value_len);
    end_url(sc, r, in_attr);
  }
}


/* rel's value has the token "stylesheet" (tokens split by white space). */
static int is_stylesheet(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    while (i < n && mc_html_is_space((unsigned char)s[i])) i++;
    size_t j = i;
    while (j < n && !mc_html_is_space((unsigned char)s[j])) j++;
    if (mc_html_ieq(s + i, j - i, "stylesheet")) return 1;
    i = j;
  }
  return 0;
}


static void open_cut(scanner *sc, size_t lt, const char *name) {
  mc_html_page_t *p = sc->out->page;
  if (p->ncuts == p->cuts_cap) {
    size_t cap = p->cuts_cap ? p->cuts_cap * 2 : 8;
    mc_html_cut_t *cuts = realloc(p->cuts, cap * sizeof *cuts);
    if (cuts == NULL) { sc->failed = 1; return; }
    p->cuts = cuts;
    p->cuts_cap = cap;
  }
  p->cuts[p->ncuts] = (mc_html_cut_t){lt, MC_HTML_NONE, name};
  p->open_cut = p->ncuts++;
}


void mc_html_page_tag(scanner *sc, size_t lt, size_t end, const tag_t *t) {
  mc_html_page_t *p = sc->out->page;
  if (p->open_cut != MC_HTML_NONE) return;   /* inside a form that goes */
  const char *name = sc->s + t->name;
  const char *cut = cut_name(name, t->name_len);
  if (cut) { open_cut(sc, lt, cut); return; }
  const page_attr_t *a = t->page;
  if (t->kind == TAG_IMG && a[PAGE_SRC].has) attr_ref(sc, MC_HTML_REF_SRC, &a[PAGE_SRC]);
  if ((t->kind == TAG_IMG || mc_html_ieq(name, t->name_len, "source")) && a[PAGE_SRCSET].has)
    attr_ref(sc, MC_HTML_REF_SRCSET, &a[PAGE_SRCSET]);
  if (!p->has_base && mc_html_ieq(name, t->name_len, "base") && a[PAGE_HREF].has) {
    p->has_base = 1;
    mc_html_ref_t *r = new_ref(sc, MC_HTML_REF_BASE, lt, end - lt, 0);
    if (r == NULL) return;
    mc_html_unescape(&sc->out->strings, sc->s + a[PAGE_HREF].at, a[PAGE_HREF].len, 1);
    end_url(sc, r, 0);
    return;
  }
  if (a[PAGE_BACKGROUND].has) attr_ref(sc, MC_HTML_REF_BACKGROUND, &a[PAGE_BACKGROUND]);
  if (a[PAGE_STYLE].has)
    css_refs(sc, MC_HTML_REF_STYLE, a[PAGE_STYLE].at, a[PAGE_STYLE].at + a[PAGE_STYLE].len, a[PAGE_STYLE].quote, 1);
  if (mc_html_ieq(name, t->name_len, "link") && a[PAGE_HREF].has && a[PAGE_REL].has &&
      is_stylesheet(sc->s + a[PAGE_REL].at, a[PAGE_REL].len)) {
    mc_html_ref_t *r = new_ref(sc, MC_HTML_REF_STYLESHEET, lt, end - lt, 0);
    if (r == NULL) return;
    /* A stylesheet for print (media="print") put into the page must keep
     * applying to print only. */
    if (a[PAGE_MEDIA].has) {
      r->media = a[PAGE_MEDIA].at;
      r->media_len = a[PAGE_MEDIA].len;
    }
    mc_html_unescape(&sc->out->strings, sc->s + a[PAGE_HREF].at, a[PAGE_HREF].len, 1);
    end_url(sc, r, 0);
  }
}


void mc_html_page_raw(scanner *sc, const tag_t *t, size_t from, size_t to) {
  if (sc->out->page->open_cut != MC_HTML_NONE) return;
  if (mc_html_ieq(sc->s + t->name, t->name_len, "style")) css_refs(sc, MC_HTML_REF_STYLE_BLOCK, from, to, 0, 0);
}


void mc_html_page_end_tag(scanner *sc, size_t lt, size_t name, size_t name_len, size_t end) {
  mc_html_page_t *p = sc->out->page;
  if (p->open_cut != MC_HTML_NONE) {
    mc_html_cut_t *c = &p->cuts[p->open_cut];
    if (mc_html_ieq(sc->s + name, name_len, c->name)) {
      c->end = end;
      p->open_cut = MC_HTML_NONE;
    }
  } else if (p->head_end == MC_HTML_NONE && mc_html_ieq(sc->s + name, name_len, "head")) {
    p->head_end = lt;
  }
}


void mc_html_page_finish(scanner *sc) {
  mc_html_page_t *p = sc->out->page;
  if (p->open_cut != MC_HTML_NONE) p->cuts[p->open_cut].end = sc->n;
  p->open_cut = MC_HTML_NONE;
}


void mc_html_page_free(mc_html_page_t *p) {
  free(p->refs);
  free(p->cuts);
  *p = (mc_html_page_t)MC_HTML_PAGE_INIT;
}
