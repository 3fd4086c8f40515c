#include "digest.h"

#include <openssl/err.h>
#include <openssl/evp.h>


int mc_sha256_hex(const void *p, size_t n, char out[MC_SHA256_HEX], mc_error_t *e) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ERR_clear_error();
  if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) || len != 32) {
    unsigned long code = ERR_get_error();
    char buf[256] = "unknown error";
    if (code) ERR_error_string_n(code, buf, sizeof buf);
    ERR_clear_error();
    mc_error_set(e, "sha256: %s", buf);
    return -1;
  }
  for (unsigned int i = 0; i < len; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[2 * len] = '\0';
  return 0;
}
