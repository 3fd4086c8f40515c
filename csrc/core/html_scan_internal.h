/* What html_scan.c and html_page.c share: the scanner's state and the
 * start tag it is reading, and the page's hooks into the one pass. */
#ifndef MC_HTML_SCAN_INTERNAL_H
#define MC_HTML_SCAN_INTERNAL_H

#include <stddef.h>

#include "html_scan.h"

/* The start tags the scanner acts on; everything else is TAG_OTHER. */
enum { TAG_OTHER, TAG_A, TAG_IMG, TAG_BR, TAG_BODY, TAG_RAW, TAG_PLAINTEXT };

/* The attributes a page's references are in (the first of each name
 * counts, as it does for a reader). */
enum { PAGE_SRC, PAGE_SRCSET, PAGE_BACKGROUND, PAGE_STYLE, PAGE_REL, PAGE_HREF, PAGE_MEDIA, PAGE_ATTRS };

typedef struct {
  int has;
  size_t at, len;   /* the value, quotes excluded */
  char quote;
} page_attr_t;

/* What a start tag said, kept until its '>' proves it is a tag. */
typedef struct {
  int kind;
  size_t name, name_len;
  int has_href, has_alt, has_src;
  size_t href, href_len, alt, alt_len, src, src_len;
  char href_quote;
  unsigned flags;
  page_attr_t *page;   /* PAGE_ATTRS of them when the scan has a page, else
                          NULL: a tag of a tracked body clears no more than
                          it did before pages */
} tag_t;

typedef struct {
  const char *s;
  size_t n;
  mc_html_scan_t *out;
  size_t open;   /* the link whose text is being read, or MC_HTML_NONE */
  int space;     /* white space since the text's last character */
  int full;      /* the text has reached MC_HTML_TEXT_MAX */
  int failed;
} scanner;


static inline unsigned char mc_html_lower(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}


/* a (n bytes) equals the lower-case ASCII b, ignoring case. */
static inline int mc_html_ieq(const char *a, size_t n, const char *b) {
  size_t i = 0;
  for (; i < n; i++)
    if (b[i] == '\0' || mc_html_lower((unsigned char)a[i]) != (unsigned char)b[i]) return 0;
  return b[i] == '\0';
}

int mc_html_is_space(unsigned char c);

/* Drops what a URL parser drops from the decoded value u (len bytes);
 * returns the new length. */
size_t mc_html_clean_url(char *u, size_t len);

/* The page's hooks (html_page.c), called only when out->page is set:
 * an attribute with a value of the tag being read; a start tag read
 * whole, from its '<' at lt to end (after its '>'); the content
 * [from, to) of a raw text element; an end tag from its '<' at lt, its
 * name and where it ends; and the end of the input. */
void mc_html_page_attribute(tag_t *t, const char *name, size_t name_len, size_t value,
                            size_t value_len, char quote);
void mc_html_page_tag(scanner *sc, size_t lt, size_t end, const tag_t *t);
void mc_html_page_raw(scanner *sc, const tag_t *t, size_t from, size_t to);
void mc_html_page_end_tag(scanner *sc, size_t lt, size_t name, size_t name_len, size_t end);
void mc_html_page_finish(scanner *sc);

#endif
