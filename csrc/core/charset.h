/* Text in a named charset made UTF-8, with iconv. */
#ifndef MC_CHARSET_H
#define MC_CHARSET_H

#include <stddef.h>

#include "buf.h"

/* Appends n bytes of s, written in charset (a name iconv knows), to out
 * as UTF-8. 0: done; 1: iconv does not know the charset (out as it
 * was); -1: out of memory, or (strict) a byte sequence that is not the
 * charset's (out as it was). Lenient: such a byte becomes '?' and the
 * rest goes on, and a sequence cut off at the end is dropped: one bad
 * byte must not lose a whole text a reader could still read. */
int mc_charset_utf8(mc_buf_t *out, const char *charset, const char *s, size_t n, int lenient);

/* Appends s (n bytes in the charset label names, as a mail or a web page
 * labels it) to out as UTF-8, leniently; under the superset's name mail
 * and pages really mean: CP1252 for ISO-8859-1 and US-ASCII, CP932 for
 * Shift_JIS, GB18030 for GB2312, ... Returns as mc_charset_utf8. */
int mc_charset_label_utf8(mc_buf_t *out, const char *label, const char *s, size_t n);

#endif
