/* HTML character references (HTML Living Standard 13.2.5.72 onwards):
 * numeric ones in full, named ones for the few hundred mail is written
 * with (html_entity_names.h: Latin-1, Greek, arrows, math, typography). */
#ifndef MC_HTML_ENTITY_H
#define MC_HTML_ENTITY_H

#include <stddef.h>

#include "buf.h"

#define MC_HTML_CHAR_MAX 4   /* UTF-8 bytes of one decoded reference */

/* Decodes the reference at s (s[0] == '&'): returns the bytes it takes
 * and writes its UTF-8 into out (*len bytes), or returns 0 when s does
 * not start one (the '&' is then an ordinary character). in_attr: the
 * rules for attribute values, where a named reference without ';'
 * followed by '=' or a letter stays as written ("?a=1&copy=2"). */
size_t mc_html_charref(const char *s, size_t n, int in_attr,
                       char out[MC_HTML_CHAR_MAX], size_t *len);

/* Appends s with its character references decoded. */
void mc_html_unescape(mc_buf_t *out, const char *s, size_t n, int in_attr);

/* Appends s escaped for an attribute value written between quote
 * characters ('"' or '\''): '&' and the quote become references. */
void mc_html_escape_attr(mc_buf_t *out, const char *s, size_t n, char quote);

/* Appends s safe as HTML text or as a quoted attribute value (either
 * quote): & < > " and ' become references. */
void mc_html_escape(mc_buf_t *out, const char *s, size_t n);

#endif
