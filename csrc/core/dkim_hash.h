/* The two hashes a DKIM signature covers (RFC 6376 3.7), shared by
 * signing and verifying: the body hash (bh=), and the hash of the
 * selected header fields followed by the signature field itself. Both
 * are SHA-256, the only hash rsa-sha256 and ed25519-sha256 use. */
#ifndef MC_DKIM_HASH_H
#define MC_DKIM_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "dkim_canon.h"

#define MC_DKIM_HASH_LEN 32

typedef struct {
  const char *p;
  size_t n;
} mc_dkim_str_t;

/* SHA-256 of the canonical body, of its first limit bytes (UINT64_MAX:
 * all of it); *len gets the length of the whole canonical body.
 * 0, or -1 when OpenSSL fails (out of memory). */
int mc_dkim_body_hash(const mc_dkim_msg_t *m, mc_dkim_canon_t c, uint64_t limit,
                      unsigned char out[MC_DKIM_HASH_LEN], uint64_t *len);

/* SHA-256 of the fields names[0..n) name, each canonicalised and ended
 * by CRLF, then of sig (the signature field with an empty b= value)
 * canonicalised without a CRLF. A name repeated takes the next instance
 * up from the bottom; a name with none left adds nothing (5.4.2).
 * 0, or -1 when out of memory. */
int mc_dkim_header_hash(const mc_dkim_msg_t *m, const mc_dkim_str_t *names, size_t n,
                        mc_dkim_canon_t c, const char *sig, size_t sig_len, size_t sig_name_len,
                        unsigned char out[MC_DKIM_HASH_LEN]);

#endif
