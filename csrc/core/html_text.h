/* A plain-text body made from an HTML one, for a message that has only
 * HTML: headings and paragraphs as blocks between blank lines, list
 * items as "- item", table cells side by side, links as "text (url)",
 * images by their alt, character references decoded, and what a reader
 * never shows (<head>, <script>, <style>, comments) left out. */
#ifndef MC_HTML_TEXT_H
#define MC_HTML_TEXT_H

#include <stddef.h>

#include "buf.h"

/* Appends the text of html (n bytes, any input) to out, lines ended by
 * LF. Only out's allocation can fail (out->failed). */
void mc_html_text(mc_buf_t *out, const char *html, size_t n);

#endif
