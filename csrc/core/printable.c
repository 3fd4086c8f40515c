#include "printable.h"


char *mc_printable(char *out, size_t size, const char *s, size_t n, size_t max) {
  static const char hex[] = "0123456789abcdef";
  size_t k = 0;
  if (size == 0) return out;
  for (size_t i = 0; i < n && i < max && k + 5 < size; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 32 && c != 127) { out[k++] = (char)c; continue; }
    out[k++] = '\\';
    if (c == '\r') out[k++] = 'r';
    else if (c == '\n') out[k++] = 'n';
    else if (c == '\t') out[k++] = 't';
    else { out[k++] = 'x'; out[k++] = hex[c >> 4]; out[k++] = hex[c & 15]; }
  }
  out[k] = '\0';
  return out;
}
