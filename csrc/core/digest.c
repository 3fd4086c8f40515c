#include "digest.h"
#include "ssl_error.h"

#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>


int mc_sha256_hex(const void *p, size_t n, char out[MC_SHA256_HEX], mc_error_t *e) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ERR_clear_error();
  if (!EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) || len != 32) {
    mc_error_ssl(e, "sha256", "digest");
    return -1;
  }
  for (unsigned int i = 0; i < len; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[2 * len] = '\0';
  return 0;
}


EVP_MAC_CTX *mc_hmac_sha256_new(const void *key, size_t len) {
  EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
  EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  EVP_MAC_free(mac);   /* the context holds its own reference */
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
    OSSL_PARAM_construct_end(),
  };
  if (ctx && !EVP_MAC_init(ctx, key, len, params)) {
    EVP_MAC_CTX_free(ctx);
    ctx = NULL;
  }
  return ctx;
}
