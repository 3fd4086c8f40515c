/* DKIM keys: a private key loaded once from PEM and used for any number
 * of signatures, and public keys from PEM or from the key record a
 * domain publishes (RFC 6376 3.6.1: "v=DKIM1; k=rsa; p=..."). RSA keys
 * are for rsa-sha256 (RFC 8301: at least 1024 bits), Ed25519 keys for
 * ed25519-sha256 (RFC 8463). */
#ifndef MC_DKIM_KEY_H
#define MC_DKIM_KEY_H

#include <stddef.h>

#include "buf.h"
#include "error.h"

typedef enum { MC_DKIM_RSA_SHA256, MC_DKIM_ED25519_SHA256 } mc_dkim_alg_t;

#define MC_DKIM_RSA_MIN_BITS 1024   /* RFC 8301 3.2 */
#define MC_DKIM_RSA_MAX_BITS 4096   /* the largest a signer must handle */
#define MC_DKIM_SIG_MAX 1024        /* signature bytes: a 8192-bit key's */

typedef struct mc_dkim_key mc_dkim_key_t;

/* A private key from PEM text (PKCS#8 or the traditional RSA form, not
 * encrypted): RSA of 1024 to 4096 bits, or Ed25519. NULL with e set. */
mc_dkim_key_t *mc_dkim_key_private(const char *pem, size_t len, mc_error_t *e);

/* The same, read from a file. */
mc_dkim_key_t *mc_dkim_key_private_file(const char *path, mc_error_t *e);

/* A key to verify with: a key record's text, a PEM public key, or a PEM
 * private key (its public half). RSA keys under 1024 bits are refused. */
mc_dkim_key_t *mc_dkim_key_public(const char *text, size_t len, mc_error_t *e);

void mc_dkim_key_free(mc_dkim_key_t *k);

mc_dkim_alg_t mc_dkim_key_alg(const mc_dkim_key_t *k);
int mc_dkim_key_bits(const mc_dkim_key_t *k);
int mc_dkim_key_is_private(const mc_dkim_key_t *k);

/* From a key record's t= flags: "s" (i= must be in d= itself, not a
 * subdomain) and "y" (the domain is testing DKIM). */
int mc_dkim_key_strict(const mc_dkim_key_t *k);
int mc_dkim_key_testing(const mc_dkim_key_t *k);

/* "rsa-sha256" or "ed25519-sha256", the a= value. */
const char *mc_dkim_alg_name(mc_dkim_alg_t a);

/* Signs the SHA-256 digest of the header data: RSASSA-PKCS1-v1_5 for RSA,
 * Ed25519 over the 32 digest bytes for Ed25519 (RFC 8463 3). sig holds
 * MC_DKIM_SIG_MAX bytes; *siglen gets the length. 0, or -1 with e set. */
int mc_dkim_key_sign(mc_dkim_key_t *k, const unsigned char digest[32], unsigned char *sig,
                     size_t *siglen, mc_error_t *e);

/* 1 when sig is the key's signature of digest, else 0. */
int mc_dkim_key_verify(const mc_dkim_key_t *k, const unsigned char digest[32],
                       const unsigned char *sig, size_t siglen);

/* Appends the key record a domain publishes for this key:
 * "v=DKIM1; k=rsa; p=BASE64". 0, or -1 with e set. */
int mc_dkim_key_record(const mc_dkim_key_t *k, mc_buf_t *out, mc_error_t *e);

#endif
