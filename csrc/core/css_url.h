/* The url(...) references of CSS text (a <style> block, a style
 * attribute, a stylesheet file): found outside comments and strings, in
 * one pass, for a page whose images become parts of its message. */
#ifndef MC_CSS_URL_H
#define MC_CSS_URL_H

#include <stddef.h>

/* One url(...): [at, at + len) is what stands between the parentheses
 * without the white space around it (quotes included): what a rewrite
 * replaces. [value, value + value_len) is the reference itself, its
 * quotes dropped.
 * An @import rule's stylesheet (@import url(x.css) or @import "x.css")
 * has import set: then [at, at + len) is the whole rule, from its '@'
 * through its ';' (or the end of s), what inlining the stylesheet
 * replaces, and [media, media + media_len) its media query list ("" for
 * all media). */
typedef struct {
  size_t at, len;
  size_t value, value_len;
  int import;
  size_t media, media_len;
} mc_css_url_t;

/* Finds the first url(...) or @import of s[*from, n), sets u and moves *from past
 * it: 1. 0 when there is none left. A url( cut off by the end of s is
 * none; so is an @import followed by neither a string nor a url(. */
int mc_css_url_next(const char *s, size_t n, size_t *from, mc_css_url_t *u);

#endif
