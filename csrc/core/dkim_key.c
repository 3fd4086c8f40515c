#include "dkim_key.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "b64.h"
#include "dkim_tags.h"

#define MAX_KEY_FILE (1 << 20)   /* a PEM key is a few KB */

struct mc_dkim_key {
  EVP_PKEY *pkey;
  mc_dkim_alg_t alg;
  int bits;
  int is_private;
  int strict, testing;      /* a key record's t=s and t=y */
  EVP_PKEY_CTX *rsa_sign;   /* made on the first signature, then reused */
  EVP_MD_CTX *ed_sign;
};


const char *mc_dkim_alg_name(mc_dkim_alg_t a) {
  return a == MC_DKIM_RSA_SHA256 ? "rsa-sha256" : "ed25519-sha256";
}


/* Fills e with what, and the reason OpenSSL gives, and clears its queue. */
static void ssl_error(mc_error_t *e, const char *what) {
  unsigned long code = ERR_peek_last_error();
  const char *reason = code ? ERR_reason_error_string(code) : NULL;
  if (reason) mc_error_set(e, "dkim: %s (%s)", what, reason);
  else mc_error_set(e, "dkim: %s", what);
  ERR_clear_error();
}


/* Never ask for a pass phrase: OpenSSL's default would read the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)u;
  return -1;
}


/* Takes ownership of pkey: the key, or NULL (pkey freed) with e set when
 * it is of a kind or size DKIM does not use. */
static mc_dkim_key_t *wrap(EVP_PKEY *pkey, int is_private, mc_error_t *e) {
  int bits = EVP_PKEY_get_bits(pkey);
  int type = EVP_PKEY_get_base_id(pkey);
  const char *size = bits < MC_DKIM_RSA_MIN_BITS ? "too small" : "too large";
  mc_dkim_key_t *k = NULL;
  if (type != EVP_PKEY_RSA && type != EVP_PKEY_ED25519) {
    mc_error_set(e, "dkim: not an RSA or Ed25519 key");
  } else if (type == EVP_PKEY_RSA &&
             (bits < MC_DKIM_RSA_MIN_BITS || (is_private && bits > MC_DKIM_RSA_MAX_BITS) ||
              EVP_PKEY_get_size(pkey) > MC_DKIM_SIG_MAX)) {
    mc_error_set(e, "dkim: an RSA key of %d bits is %s (%d to %d bits)", bits, size,
                 MC_DKIM_RSA_MIN_BITS, MC_DKIM_RSA_MAX_BITS);
  } else if ((k = calloc(1, sizeof *k)) == NULL) {
    mc_error_set(e, "dkim: out of memory");
  }
  if (k == NULL) {
    EVP_PKEY_free(pkey);
    return NULL;
  }
  k->pkey = pkey;
  k->alg = type == EVP_PKEY_RSA ? MC_DKIM_RSA_SHA256 : MC_DKIM_ED25519_SHA256;
  k->bits = bits;
  k->is_private = is_private;
  return k;
}


mc_dkim_key_t *mc_dkim_key_private(const char *pem, size_t len, mc_error_t *e) {
  if (len > MAX_KEY_FILE) {
    mc_error_set(e, "dkim: the key text is too long");
    return NULL;
  }
  ERR_clear_error();
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  if (bio == NULL) {
    ssl_error(e, "out of memory");
    return NULL;
  }
  EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
  BIO_free(bio);
  if (pkey == NULL) {
    ssl_error(e, "not an unencrypted PEM private key");
    return NULL;
  }
  return wrap(pkey, 1, e);
}


mc_dkim_key_t *mc_dkim_key_private_file(const char *path, mc_error_t *e) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    mc_error_set(e, "dkim: cannot open key file '%s': %s", path, strerror(errno));
    return NULL;
  }
  char *text = malloc(MAX_KEY_FILE + 1);
  size_t n = text ? fread(text, 1, MAX_KEY_FILE + 1, f) : 0;
  int bad = text == NULL || ferror(f);
  fclose(f);
  mc_dkim_key_t *k = NULL;
  if (bad) mc_error_set(e, "dkim: cannot read key file '%s'", path);
  else if (n > MAX_KEY_FILE) mc_error_set(e, "dkim: key file '%s' is too large", path);
  else if ((k = mc_dkim_key_private(text, n, e)) == NULL) {
    mc_error_t inner = *e;   /* say which file */
    mc_error_set(e, "%s in '%s'", inner.msg, path);
  }
  if (text) OPENSSL_cleanse(text, n > MAX_KEY_FILE ? MAX_KEY_FILE : n);
  free(text);
  return k;
}


static mc_dkim_key_t *public_pem(const char *text, size_t len, mc_error_t *e) {
  if (memmem(text, len, "PRIVATE KEY-----", 16)) {
    mc_dkim_key_t *k = mc_dkim_key_private(text, len, e);
    if (k) k->is_private = 0;   /* only its public half is used */
    return k;
  }
  ERR_clear_error();
  BIO *bio = BIO_new_mem_buf(text, (int)len);
  if (bio == NULL) {
    ssl_error(e, "out of memory");
    return NULL;
  }
  EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
  BIO_free(bio);
  if (pkey == NULL) {
    ssl_error(e, "not a PEM public key");
    return NULL;
  }
  return wrap(pkey, 0, e);
}


/* True when the colon-separated list in tag has item. */
static int list_has(const mc_dkim_tag_t *tag, const char *item) {
  size_t pos = 0, n, want = strlen(item);
  const char *s;
  while (mc_dkim_tag_next(tag, ':', &pos, &s, &n) == 0) {
    if (n == want && memcmp(s, item, n) == 0) return 1;
  }
  return 0;
}


/* The p= data as a key of type k= (RFC 6376 3.6.1, RFC 8463 4.2). */
static EVP_PKEY *record_pkey(const mc_dkim_tag_t *p, int ed25519, mc_error_t *e) {
  unsigned char *der = malloc(p->value_len / 4 * 3 + 3);
  if (der == NULL) {
    mc_error_set(e, "dkim: out of memory");
    return NULL;
  }
  size_t bad;
  size_t n = mc_b64_decode(der, p->value, p->value_len, 1, &bad);
  EVP_PKEY *pkey = NULL;
  ERR_clear_error();
  if (n == (size_t)-1) {
    mc_error_set(e, "dkim: key record: p= is not base64");
  } else if (ed25519) {
    if (n == 32) pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, n);
    if (pkey == NULL) mc_error_set(e, "dkim: key record: p= is not a 32-byte Ed25519 key");
  } else {
    /* SubjectPublicKeyInfo, as published; a bare RSAPublicKey is seen too */
    const unsigned char *q = der;
    pkey = d2i_PUBKEY(NULL, &q, (long)n);
    if (pkey == NULL) {
      q = der;
      pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)n);
    }
    if (pkey && EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
      EVP_PKEY_free(pkey);
      pkey = NULL;
    }
    if (pkey == NULL) mc_error_set(e, "dkim: key record: p= is not an RSA public key");
  }
  ERR_clear_error();
  free(der);
  return pkey;
}


/* A key record (RFC 6376 3.6.1). */
static mc_dkim_key_t *public_record(const char *text, size_t len, mc_error_t *e) {
  mc_dkim_tags_t tags;
  const char *why;
  if (mc_dkim_tags_parse(&tags, text, len, &why) != 0) {
    mc_error_set(e, "dkim: key record: %s", why);
    return NULL;
  }
  const mc_dkim_tag_t *v = mc_dkim_tags_get(&tags, "v");
  const mc_dkim_tag_t *h = mc_dkim_tags_get(&tags, "h");
  const mc_dkim_tag_t *k = mc_dkim_tags_get(&tags, "k");
  const mc_dkim_tag_t *p = mc_dkim_tags_get(&tags, "p");
  const mc_dkim_tag_t *s = mc_dkim_tags_get(&tags, "s");
  const mc_dkim_tag_t *t = mc_dkim_tags_get(&tags, "t");
  const char *problem = NULL;
  if (v && (v != &tags.tags[0] || !mc_dkim_tag_is(v, "DKIM1"))) problem = "v= is not DKIM1 first";
  else if (p == NULL) problem = "no p=";
  else if (p->value_len == 0) problem = "the key is revoked (empty p=)";
  else if (k && !mc_dkim_tag_is(k, "rsa") && !mc_dkim_tag_is(k, "ed25519")) problem = "unknown key type k=";
  else if (h && !list_has(h, "sha256")) problem = "h= does not allow sha256";
  else if (s && !list_has(s, "*") && !list_has(s, "email")) problem = "s= is not for email";
  if (problem) {
    mc_error_set(e, "dkim: key record: %s", problem);
    return NULL;
  }
  EVP_PKEY *pkey = record_pkey(p, k && mc_dkim_tag_is(k, "ed25519"), e);
  if (pkey == NULL) return NULL;
  mc_dkim_key_t *key = wrap(pkey, 0, e);
  if (key && t) {
    key->strict = list_has(t, "s");
    key->testing = list_has(t, "y");
  }
  return key;
}


mc_dkim_key_t *mc_dkim_key_public(const char *text, size_t len, mc_error_t *e) {
  if (len > MAX_KEY_FILE) {
    mc_error_set(e, "dkim: the key text is too long");
    return NULL;
  }
  if (memmem(text, len, "-----BEGIN", 10)) return public_pem(text, len, e);
  return public_record(text, len, e);
}


void mc_dkim_key_free(mc_dkim_key_t *k) {
  if (k == NULL) return;
  EVP_PKEY_CTX_free(k->rsa_sign);
  EVP_MD_CTX_free(k->ed_sign);
  EVP_PKEY_free(k->pkey);
  free(k);
}


mc_dkim_alg_t mc_dkim_key_alg(const mc_dkim_key_t *k) { return k->alg; }
int mc_dkim_key_bits(const mc_dkim_key_t *k) { return k->bits; }
int mc_dkim_key_is_private(const mc_dkim_key_t *k) { return k->is_private; }
int mc_dkim_key_strict(const mc_dkim_key_t *k) { return k->strict; }
int mc_dkim_key_testing(const mc_dkim_key_t *k) { return k->testing; }


/* The signing context, set up once per key: setting up is a good part
 * of an Ed25519 signature's cost. */
static int sign_ready(mc_dkim_key_t *k) {
  if (k->alg == MC_DKIM_RSA_SHA256) {
    if (k->rsa_sign) return 0;
    k->rsa_sign = EVP_PKEY_CTX_new(k->pkey, NULL);
    if (k->rsa_sign && EVP_PKEY_sign_init(k->rsa_sign) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(k->rsa_sign, RSA_PKCS1_PADDING) == 1 &&
        EVP_PKEY_CTX_set_signature_md(k->rsa_sign, EVP_sha256()) == 1)
      return 0;
    EVP_PKEY_CTX_free(k->rsa_sign);
    k->rsa_sign = NULL;
    return -1;
  }
  if (k->ed_sign) return 0;
  k->ed_sign = EVP_MD_CTX_new();
  if (k->ed_sign && EVP_DigestSignInit(k->ed_sign, NULL, NULL, NULL, k->pkey) == 1) return 0;
  EVP_MD_CTX_free(k->ed_sign);
  k->ed_sign = NULL;
  return -1;
}


int mc_dkim_key_sign(mc_dkim_key_t *k, const unsigned char digest[32], unsigned char *sig,
                     size_t *siglen, mc_error_t *e) {
  if (!k->is_private) {
    mc_error_set(e, "dkim: a public key cannot sign");
    return -1;
  }
  ERR_clear_error();
  if (sign_ready(k) != 0) {
    ssl_error(e, "cannot set up signing");
    return -1;
  }
  *siglen = MC_DKIM_SIG_MAX;
  int ok = k->alg == MC_DKIM_RSA_SHA256
               ? EVP_PKEY_sign(k->rsa_sign, sig, siglen, digest, 32)
               : EVP_DigestSign(k->ed_sign, sig, siglen, digest, 32);
  if (ok != 1) {
    ssl_error(e, "signing failed");
    return -1;
  }
  return 0;
}


int mc_dkim_key_verify(const mc_dkim_key_t *k, const unsigned char digest[32],
                       const unsigned char *sig, size_t siglen) {
  int ok = 0;
  if (k->alg == MC_DKIM_RSA_SHA256) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k->pkey, NULL);
    ok = ctx && EVP_PKEY_verify_init(ctx) == 1 &&
         EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
         EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
         EVP_PKEY_verify(ctx, sig, siglen, digest, 32) == 1;
    EVP_PKEY_CTX_free(ctx);
  } else {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
         EVP_DigestVerify(ctx, sig, siglen, digest, 32) == 1;
    EVP_MD_CTX_free(ctx);
  }
  ERR_clear_error();   /* a bad signature leaves its reason queued */
  return ok;
}


int mc_dkim_key_record(const mc_dkim_key_t *k, mc_buf_t *out, mc_error_t *e) {
  unsigned char raw[32], *der = NULL;
  const unsigned char *data = raw;
  size_t n = sizeof raw;
  ERR_clear_error();
  if (k->alg == MC_DKIM_ED25519_SHA256) {
    if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &n) != 1) {
      ssl_error(e, "cannot get the public key");
      return -1;
    }
  } else {
    int len = i2d_PUBKEY(k->pkey, &der);
    if (len <= 0) {
      ssl_error(e, "cannot encode the public key");
      return -1;
    }
    data = der;
    n = (size_t)len;
  }
  mc_buf_printf(out, "v=DKIM1; k=%s; p=", k->alg == MC_DKIM_RSA_SHA256 ? "rsa" : "ed25519");
  char *d = mc_buf_tail(out, mc_b64_encoded_len(n, 0));
  if (d) out->len += mc_b64_encode(d, data, n, 0);
  OPENSSL_free(der);
  if (out->failed) {
    mc_error_set(e, "dkim: out of memory");
    return -1;
  }
  return 0;
}
