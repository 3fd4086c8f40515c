/* SHA-256 as hex: a short, stable name for a message (what bounce
 * processing remembers to count nothing twice). */
#ifndef MC_DIGEST_H
#define MC_DIGEST_H

#include <stddef.h>

#include "error.h"

#define MC_SHA256_HEX 65   /* 64 hex digits and a NUL */

/* 0, or -1 with e set when OpenSSL fails. */
int mc_sha256_hex(const void *p, size_t n, char out[MC_SHA256_HEX], mc_error_t *e);

#endif
