/* Token layout, before base64url (RFC 4648 section 5, no padding):
 *
 *   byte 0         version (high 4 bits, 1) and kind (low 4 bits)
 *   varint         campaign id      (LEB128: 7 bits a byte, low first)
 *   varint         recipient id     (0 in aggregate mode)
 *   varint         link index       (0 unless a click)
 *   16 bytes       HMAC-SHA256(secret, LABEL || the bytes above), first half
 *
 * A click for campaign 12, recipient 123456, link 17 is 22 bytes, 30
 * characters. The MAC is truncated to 128 bits, which RFC 2104 section 5
 * and NIST SP 800-107 allow (at least half the hash, at least 80 bits):
 * forging one means guessing 128 bits against the server, one request a
 * guess. LABEL keeps these MACs apart from anything else the same secret
 * may be used to sign. */
#include "token.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "digest.h"
#include "ssl_error.h"

#define VERSION 1
#define MAC_LEN 16
#define LABEL "mailcast-token\n"
#define VARINT_MAX 10                                 /* 64 bits at 7 a byte */
#define PAYLOAD_MIN 4                                 /* header and three one-byte varints */
#define PAYLOAD_MAX (1 + VARINT_MAX * 2 + 5)
#define RAW_MAX (PAYLOAD_MAX + MAC_LEN)
#define ENCODED_MAX ((RAW_MAX * 8 + 5) / 6)

_Static_assert(ENCODED_MAX < MC_TOKEN_MAX, "MC_TOKEN_MAX has room for every token");

struct mc_token_key {
  EVP_MAC_CTX *ctx;   /* keyed once; each MAC starts again from it */
};

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


/* The queue is not cleared before each MAC (that costs as much as the
 * MAC): mc_error_ssl names the newest error, this failure's. */
static void ssl_error(mc_error_t *e, const char *what) {
  mc_error_ssl(e, "token", what);
}


mc_token_key_t *mc_token_key_new(const void *secret, size_t len, mc_error_t *e) {
  if (len == 0) {
    mc_error_set(e, "token: the secret is empty");
    return NULL;
  }
  ERR_clear_error();
  mc_token_key_t *k = calloc(1, sizeof *k);
  if (k == NULL) {
    mc_error_set(e, "token: not enough memory");
    return NULL;
  }
  if ((k->ctx = mc_hmac_sha256_new(secret, len)) == NULL) {
    ssl_error(e, "HMAC-SHA256");
    mc_token_key_free(k);
    return NULL;
  }
  return k;
}


void mc_token_key_free(mc_token_key_t *k) {
  if (k == NULL) return;
  EVP_MAC_CTX_free(k->ctx);
  free(k);
}


/* The first MAC_LEN bytes of the MAC of LABEL and p. EVP_MAC_init with
 * no key starts again with the key already set (OpenSSL 3), which saves
 * the key schedule on every token. */
static int mac(mc_token_key_t *k, const unsigned char *p, size_t n,
               unsigned char out[MAC_LEN], mc_error_t *e) {
  unsigned char in[sizeof LABEL - 1 + RAW_MAX], full[EVP_MAX_MD_SIZE];
  memcpy(in, LABEL, sizeof LABEL - 1);
  memcpy(in + sizeof LABEL - 1, p, n);
  size_t len = 0;
  if (!EVP_MAC_init(k->ctx, NULL, 0, NULL) ||
      !EVP_MAC_update(k->ctx, in, sizeof LABEL - 1 + n) ||
      !EVP_MAC_final(k->ctx, full, &len, sizeof full) || len < MAC_LEN) {
    ssl_error(e, "HMAC-SHA256");
    return -1;
  }
  memcpy(out, full, MAC_LEN);
  return 0;
}


static size_t put_varint(unsigned char *p, uint64_t v) {
  size_t i = 0;
  while (v >= 0x80) {
    p[i++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  p[i++] = (unsigned char)v;
  return i;
}


/* Reads a varint at p[*i] (n bytes in all); only the shortest encoding
 * of a value is accepted, so every token has one spelling. */
static int get_varint(const unsigned char *p, size_t n, size_t *i, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64 && *i < n; shift += 7) {
    unsigned char b = p[(*i)++];
    if (shift == 63 && b > 1) return -1;   /* more than 64 bits */
    x |= (uint64_t)(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      if (b == 0 && shift > 0) return -1;   /* a longer spelling */
      *v = x;
      return 0;
    }
  }
  return -1;
}


static size_t b64url_encode(char *out, const unsigned char *p, size_t n) {
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = alphabet[v >> 18];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
    out[o++] = alphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    out[o++] = alphabet[v >> 18];
    out[o++] = alphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    out[o++] = alphabet[v >> 18];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
  }
  out[o] = '\0';
  return o;
}


static int b64url_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}


/* Decodes into out (room for n * 3 / 4 bytes); returns the length or -1
 * on a character outside the alphabet, a length no encoder writes, or
 * unused bits that are not zero (which would give one token two
 * spellings). */
static long b64url_decode(unsigned char *out, const char *s, size_t n) {
  if (n % 4 == 1) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64url_value((unsigned char)s[i]);
    if (v < 0) return -1;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return -1;
  return (long)o;
}


static int valid(const mc_token_t *t) {
  if (t->campaign > MC_TOKEN_ID_MAX || t->recipient > MC_TOKEN_ID_MAX) return 0;
  switch (t->kind) {
  case MC_TOKEN_CLICK: return t->link > 0;
  case MC_TOKEN_OPEN:
  case MC_TOKEN_UNSUBSCRIBE: return t->link == 0;
  default: return 0;
  }
}


size_t mc_token_make(mc_token_key_t *k, const mc_token_t *t, char out[MC_TOKEN_MAX],
                     mc_error_t *e) {
  if (!valid(t)) {
    mc_error_set(e, "token: a click names a link from 1, other kinds none");
    return 0;
  }
  unsigned char raw[RAW_MAX];
  size_t n = 0;
  raw[n++] = (unsigned char)(VERSION << 4 | t->kind);
  n += put_varint(raw + n, t->campaign);
  n += put_varint(raw + n, t->recipient);
  n += put_varint(raw + n, t->link);
  if (mac(k, raw, n, raw + n, e) != 0) return 0;
  return b64url_encode(out, raw, n + MAC_LEN);
}


static int refuse(mc_error_t *e, const char *why) {
  mc_error_set(e, "token: %s", why);
  return -1;
}


int mc_token_check(mc_token_key_t *k, const char *tok, size_t n, mc_token_t *t,
                   mc_error_t *e) {
  if (n > ENCODED_MAX) return refuse(e, "malformed");
  unsigned char raw[RAW_MAX + 3];
  long len = b64url_decode(raw, tok, n);
  if (len < 0) return refuse(e, "malformed");
  if (len < 1) return refuse(e, "truncated");
  if (raw[0] >> 4 != VERSION) return refuse(e, "unknown version");
  if ((size_t)len < PAYLOAD_MIN + MAC_LEN) return refuse(e, "truncated");
  size_t payload = (size_t)len - MAC_LEN;
  unsigned char expect[MAC_LEN];
  if (mac(k, raw, payload, expect, e) != 0) return -1;
  if (CRYPTO_memcmp(expect, raw + payload, MAC_LEN) != 0) return refuse(e, "bad signature");
  /* Signed by us from here on; the checks below guard against our own bugs. */
  mc_token_t got = {.kind = (mc_token_kind_t)(raw[0] & 15)};
  uint64_t link = 0;
  size_t i = 1;
  if (get_varint(raw, payload, &i, &got.campaign) != 0 ||
      get_varint(raw, payload, &i, &got.recipient) != 0 ||
      get_varint(raw, payload, &i, &link) != 0 || i != payload ||
      link > MC_TOKEN_LINK_MAX)
    return refuse(e, "malformed");
  got.link = (uint32_t)link;
  if (!valid(&got)) return refuse(e, "malformed");
  *t = got;
  return 0;
}
