#include "ssl_error.h"

#include <openssl/err.h>


void mc_error_ssl(mc_error_t *e, const char *prefix, const char *what) {
  unsigned long code = ERR_peek_last_error();
  char buf[256] = "unknown error";
  if (code) ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  mc_error_set(e, "%s: %s: %s", prefix, what, buf);
}
