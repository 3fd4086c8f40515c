/* Base64 (RFC 4648 alphabet), plain or wrapped for MIME bodies
 * (RFC 2045 6.8: lines of 76 characters, each ended by CRLF). */
#ifndef MC_B64_H
#define MC_B64_H

#include <stddef.h>

#define MC_B64_LINE_IN 57   /* input bytes per 76-character output line */

/* Output length for n input bytes; wrap is 0 (one line, no CRLF) or 1. */
size_t mc_b64_encoded_len(size_t n, int wrap);

/* Encodes n bytes into dst, which holds mc_b64_encoded_len(n, wrap)
 * bytes; returns the length written. With wrap, every line ends in CRLF,
 * the last one too, so chunks of whole lines can be encoded separately. */
size_t mc_b64_encode(char *dst, const unsigned char *src, size_t n, int wrap);

/* Decodes into dst (room for n * 3 / 4 + 3 bytes). Whitespace is skipped.
 * strict: any other byte outside the alphabet, or data after padding,
 * fails and *bad gets its offset. Lenient mode skips such bytes, as mail
 * readers do. Returns the decoded length, or (size_t)-1 on failure. */
size_t mc_b64_decode(unsigned char *dst, const char *src, size_t n,
                     int strict, size_t *bad);

#endif
