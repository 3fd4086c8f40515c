/* SHA-256 as hex: a short, stable name for a message (what bounce
 * processing remembers to count nothing twice); and HMAC-SHA256 keyed
 * once, for tokens and webhook signatures. */
#ifndef MC_DIGEST_H
#define MC_DIGEST_H

#include <stddef.h>

#include "error.h"

#define MC_SHA256_HEX 65   /* 64 hex digits and a NUL */

/* 0, or -1 with e set when OpenSSL fails. */
int mc_sha256_hex(const void *p, size_t n, char out[MC_SHA256_HEX], mc_error_t *e);

/* An HMAC-SHA256 context with the key set, or NULL when OpenSSL fails.
 * Each MAC starts with EVP_MAC_init(ctx, NULL, 0, NULL), which keeps the
 * key (OpenSSL 3) and saves the key schedule; free with EVP_MAC_CTX_free. */
typedef struct evp_mac_ctx_st EVP_MAC_CTX;
EVP_MAC_CTX *mc_hmac_sha256_new(const void *key, size_t len);

#endif
