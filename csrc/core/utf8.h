/* UTF-8 validation (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
#ifndef MC_UTF8_H
#define MC_UTF8_H

#include <stddef.h>

/* Returns 1 when s is valid UTF-8; otherwise 0 and *bad is the offset of
 * the first byte of the invalid sequence. */
int mc_utf8_valid(const char *s, size_t n, size_t *bad);

/* Length of the character starting at s[0] (1 for a stray byte), so
 * encoders never split a character across encoded words. */
size_t mc_utf8_charlen(const char *s, size_t n);

/* 1 when every byte is below 0x80. */
int mc_is_ascii(const char *s, size_t n);

#endif
