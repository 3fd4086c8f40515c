/* A web page sent as it is: what its HTML refers to that a mail reader
 * cannot follow (its local images and stylesheets) and what a mail
 * reader blocks (scripts, frames, forms), found by the same one pass
 * of the HTML scanner that finds its links (html_scan.h). A rewrite
 * then replaces the bytes of these and leaves every other byte. */
#ifndef MC_HTML_PAGE_H
#define MC_HTML_PAGE_H

#include <stddef.h>

#include "html_scan.h"

enum {
  MC_HTML_REF_SRC,          /* <img src>: the value */
  MC_HTML_REF_SRCSET,       /* <img srcset>, <source srcset>: the whole value, all its candidates */
  MC_HTML_REF_BACKGROUND,   /* a background attribute: the value */
  MC_HTML_REF_STYLE,        /* url(...) in a style attribute: its argument */
  MC_HTML_REF_STYLE_BLOCK,  /* url(...) in a <style> element: its argument */
  MC_HTML_REF_STYLESHEET,   /* <link rel=stylesheet href>: the whole tag */
  MC_HTML_REF_IMPORT,       /* @import in a <style> element: the whole rule; url its stylesheet */
  MC_HTML_REF_BASE,         /* the first <base href>: the whole tag; url its href */
};

/* One reference. [at, at + len) are the source bytes a rewrite replaces;
 * url is the reference as a reader takes it (character references
 * decoded, quotes and surrounding white space dropped), an offset into
 * the scan's strings. */
typedef struct {
  int kind;
  size_t at, len;
  size_t url, url_len;
  size_t media, media_len;   /* an @import's media list, a stylesheet <link>'s media
                                attribute: source bytes */
  size_t block;   /* an @import's <style> element: where its content starts (the
                     top its kept @import rules are moved to) */
  char quote;   /* the attribute value's quote, 0 when unquoted (or not an attribute) */
} mc_html_ref_t;

/* An element a mail reader blocks: [at, end) from its start tag's '<'
 * through its end tag's '>' (the end of the input when it has none). */
typedef struct {
  size_t at, end;
  const char *name;   /* "script", "iframe" or "form" */
} mc_html_cut_t;

typedef struct mc_html_page {
  mc_html_ref_t *refs;
  size_t nrefs, refs_cap;
  mc_html_cut_t *cuts;
  size_t ncuts, cuts_cap;
  size_t open_cut;   /* the cut whose end tag is awaited, or MC_HTML_NONE */
  size_t head_end;   /* the '<' of the first </head>, or MC_HTML_NONE */
  int has_base;      /* a <base href> was found: only the first counts */
} mc_html_page_t;

#define MC_HTML_PAGE_INIT {NULL, 0, 0, NULL, 0, 0, MC_HTML_NONE, MC_HTML_NONE, 0}

/* Refs inside a cut are not reported: the cut takes them away. Scan a
 * page with mc_html_scan after setting scan.page = &page; its url
 * strings are in the scan's strings. */
void mc_html_page_free(mc_html_page_t *p);

#endif
