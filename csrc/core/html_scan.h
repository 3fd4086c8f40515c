/* A scanner for the links of an HTML document: one pass, linear time,
 * following the tokenizer of the HTML Living Standard (section 13.2.5)
 * where it matters for finding <a href> the way a mail reader does:
 * comments (also "--!>" and "<!-->"), bogus comments (<!DOCTYPE>, <?...>),
 * CDATA sections, raw-text and RCDATA elements whose content is never
 * markup (<style>, <script>, <title>, <textarea> ...), quoted and
 * unquoted attribute values, and tags cut off by the end of the input
 * (which are not tags at all). */
#ifndef MC_HTML_SCAN_H
#define MC_HTML_SCAN_H

#include <stddef.h>

#include "buf.h"
#include "error.h"

#define MC_HTML_NONE ((size_t)-1)
#define MC_HTML_TEXT_MAX 200   /* bytes of link text kept (whole UTF-8 characters) */

/* The link carries data-mc-notrack or mc:notrack. */
#define MC_HTML_LINK_NOTRACK 1u
/* The href attribute has no value at all (<a href>): no '=' to keep. */
#define MC_HTML_LINK_BARE 2u

/* One <a> start tag with an href attribute. Offsets into the source are
 * byte positions; url and text are offsets into the scan's strings. */
typedef struct {
  size_t tag;          /* the '<' of the start tag */
  size_t value;        /* the href value's first byte, after any quote
                          (with MC_HTML_LINK_BARE, just after "href") */
  size_t value_len;    /* the value's length, quotes excluded */
  char quote;          /* '"', '\'' or 0 when the value is unquoted */
  unsigned flags;      /* MC_HTML_LINK_* */
  size_t url, url_len; /* the value with references decoded and the white
                          space a URL parser drops removed */
  size_t text, text_len; /* the link's text: tags dropped, references
                            decoded, white space collapsed; an image's alt
                            when it has no text */
} mc_html_link_t;

struct mc_html_page;   /* html_page.h */

/* One <img> start tag, kept when the scan asks for images. */
typedef struct {
  size_t tag;          /* the '<' of the start tag */
  size_t src, src_len; /* the src value decoded and cleaned as a URL, an
                          offset into the scan's image_strings (empty:
                          none) */
  int has_alt;         /* an alt attribute, even empty (a decoration's) */
  int in_link;         /* inside a link: the image is the link's text */
} mc_html_image_t;

typedef struct {
  mc_html_link_t *links;
  size_t count, cap;
  mc_buf_t strings;    /* every link's url and text */
  size_t body_end;     /* the '<' of the last </body>, or MC_HTML_NONE */
  struct mc_html_page *page;   /* when set, also what a page sent as it is
                                  needs (html_page.h); not owned */
  int want_images;     /* set before scanning: keep images, count text */
  mc_html_image_t *images;
  size_t nimages, images_cap;
  mc_buf_t image_strings;   /* every image's src (apart: a link's text
                               grows in strings while its images come) */
  size_t text_bytes;   /* with want_images: the bytes of text a reader
                          sees, white space and markup excluded */
} mc_html_scan_t;

#define MC_HTML_SCAN_INIT {NULL, 0, 0, MC_BUF_INIT, MC_HTML_NONE, NULL, 0, NULL, 0, 0, MC_BUF_INIT, 0}

/* Scans n bytes of html into s (initialised with MC_HTML_SCAN_INIT; free
 * it with mc_html_scan_free whatever this returns). Any input is a
 * document: only running out of memory fails (-1, e set). */
int mc_html_scan(mc_html_scan_t *s, const char *html, size_t n, mc_error_t *e);

void mc_html_scan_free(mc_html_scan_t *s);

#endif
