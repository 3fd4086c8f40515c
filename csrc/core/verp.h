/* VERP tags: the part of a bounce address (bounces+TAG@domain) that says
 * which campaign and recipient a bounce is about, signed so that a forged
 * bounce cannot put someone else's address on the suppression list.
 *
 *   TAG = C "-" R "-" M
 *   C, R  the campaign and recipient ids in base32hex (RFC 4648 section 7:
 *         0-9 a-v), lower case, no leading zeros
 *   M     the first 40 bits of HMAC-SHA256(key, "mailcast-verp:" C "-" R)
 *         in the same alphabet (8 characters)
 *
 * Lower case digits and letters only, so a tag survives MTAs that change
 * the case of local parts (it is read in any case) and needs no quoting
 * in an address. */
#ifndef MC_VERP_H
#define MC_VERP_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define MC_VERP_MAX 40   /* the longest tag (two 63-bit ids) and a NUL */

/* Writes the tag of (campaign, recipient), both 1..INT64_MAX, into out;
 * returns its length, or 0 with e set (an id out of range, an empty key,
 * OpenSSL failing). */
size_t mc_verp_make(const void *key, size_t keylen, uint64_t campaign, uint64_t recipient,
                    char out[MC_VERP_MAX], mc_error_t *e);

/* Reads tag (n bytes, any case): 0 and the ids when key made it, or -1
 * with e's message "verp: malformed" or "verp: bad signature" (or an
 * OpenSSL failure). */
int mc_verp_check(const void *key, size_t keylen, const char *tag, size_t n,
                  uint64_t *campaign, uint64_t *recipient, mc_error_t *e);

#endif
