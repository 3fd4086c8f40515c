#include "verp.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "ssl_error.h"

#define LABEL "mailcast-verp:"
#define MAC_CHARS 8            /* 40 bits: enough against guessing online */
#define ID_CHARS_MAX 13        /* 63 bits in 5-bit digits */

static const char digits[] = "0123456789abcdefghijklmnopqrstuv";


static void ssl_error(mc_error_t *e, const char *what) {
  mc_error_ssl(e, "verp", what);
}


/* v in base32hex, most significant digit first; returns the length. */
static size_t put_id(char *p, uint64_t v) {
  char tmp[ID_CHARS_MAX];
  size_t n = 0;
  do {
    tmp[n++] = digits[v & 31];
    v >>= 5;
  } while (v);
  for (size_t i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
  return n;
}


static int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'v') return c - 'a' + 10;
  if (c >= 'A' && c <= 'V') return c - 'A' + 10;
  return -1;
}


/* Reads an id of n digits; only the canonical spelling (no leading zero,
 * at most 63 bits, not 0) is accepted, so each pair has one tag. */
static int get_id(const char *p, size_t n, uint64_t *out) {
  if (n == 0 || n > ID_CHARS_MAX || p[0] == '0') return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    int d = digit_value(p[i]);
    if (d < 0) return -1;
    if (v > (UINT64_MAX >> 5)) return -1;
    v = (v << 5) | (uint64_t)d;
  }
  if (v == 0 || v > (uint64_t)INT64_MAX) return -1;
  *out = v;
  return 0;
}


/* The MAC of the tag's ids (ids: "C-R", lower case) as MAC_CHARS digits. */
static int mac_chars(const void *key, size_t keylen, const char *ids, size_t n,
                     char out[MAC_CHARS], mc_error_t *e) {
  unsigned char in[sizeof LABEL - 1 + 2 * ID_CHARS_MAX + 1];
  unsigned char md[EVP_MAX_MD_SIZE];
  size_t mdlen = 0;
  memcpy(in, LABEL, sizeof LABEL - 1);
  memcpy(in + sizeof LABEL - 1, ids, n);
  ERR_clear_error();
  if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, in, sizeof LABEL - 1 + n,
                md, sizeof md, &mdlen) == NULL || mdlen < 5) {
    ssl_error(e, "HMAC-SHA256");
    return -1;
  }
  /* 40 bits, 5 at a time, from the first five bytes. */
  uint64_t bits = 0;
  for (int i = 0; i < 5; i++) bits = (bits << 8) | md[i];
  for (int i = MAC_CHARS - 1; i >= 0; i--) {
    out[i] = digits[bits & 31];
    bits >>= 5;
  }
  return 0;
}


size_t mc_verp_make(const void *key, size_t keylen, uint64_t campaign, uint64_t recipient,
                    char out[MC_VERP_MAX], mc_error_t *e) {
  if (keylen == 0) {
    mc_error_set(e, "verp: the secret is empty");
    return 0;
  }
  if (campaign == 0 || recipient == 0 || campaign > (uint64_t)INT64_MAX ||
      recipient > (uint64_t)INT64_MAX) {
    mc_error_set(e, "verp: ids must be 1 to 2^63-1");
    return 0;
  }
  size_t n = put_id(out, campaign);
  out[n++] = '-';
  n += put_id(out + n, recipient);
  char mac[MAC_CHARS];
  if (mac_chars(key, keylen, out, n, mac, e) != 0) return 0;
  out[n++] = '-';
  memcpy(out + n, mac, MAC_CHARS);
  n += MAC_CHARS;
  out[n] = '\0';
  return n;
}


int mc_verp_check(const void *key, size_t keylen, const char *tag, size_t n,
                  uint64_t *campaign, uint64_t *recipient, mc_error_t *e) {
  if (keylen == 0) {
    mc_error_set(e, "verp: the secret is empty");
    return -1;
  }
  char lower[MC_VERP_MAX];
  if (n >= MC_VERP_MAX) goto malformed;
  for (size_t i = 0; i < n; i++) {
    char c = tag[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  const char *dash1 = memchr(lower, '-', n);
  if (dash1 == NULL) goto malformed;
  const char *rest = dash1 + 1;
  const char *dash2 = memchr(rest, '-', n - (size_t)(rest - lower));
  if (dash2 == NULL) goto malformed;
  size_t ids = (size_t)(dash2 - lower);
  if (n - ids - 1 != MAC_CHARS) goto malformed;
  uint64_t c, r;
  if (get_id(lower, (size_t)(dash1 - lower), &c) != 0 ||
      get_id(rest, (size_t)(dash2 - rest), &r) != 0) goto malformed;
  for (size_t i = ids + 1; i < n; i++)
    if (digit_value(lower[i]) < 0) goto malformed;
  char mac[MAC_CHARS];
  if (mac_chars(key, keylen, lower, ids, mac, e) != 0) return -1;
  if (CRYPTO_memcmp(mac, lower + ids + 1, MAC_CHARS) != 0) {
    mc_error_set(e, "verp: bad signature");
    return -1;
  }
  *campaign = c;
  *recipient = r;
  return 0;
malformed:
  mc_error_set(e, "verp: malformed");
  return -1;
}
