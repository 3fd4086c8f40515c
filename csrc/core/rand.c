#include "rand.h"

#include <errno.h>
#include <sys/random.h>


int mc_rand_bytes(void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += got;
    n -= (size_t)got;
  }
  return 0;
}


int mc_rand_token(char *out, size_t n) {
  static const char digits[] = "0123456789abcdefghijklmnopqrstuv";
  unsigned char raw[64];
  if (n > sizeof raw || mc_rand_bytes(raw, n) != 0) return -1;
  for (size_t i = 0; i < n; i++) out[i] = digits[raw[i] & 31];
  out[n] = '\0';
  return 0;
}
