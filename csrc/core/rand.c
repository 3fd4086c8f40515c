#include "rand.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

/* Bytes are taken from the kernel a pool at a time: a campaign asks for
 * two identifiers a message, and a system call for each showed. A
 * forked child (a worker of `mailcast run --workers`) empties its copy
 * of the pool, so no two processes ever hand out the same bytes. */
#define POOL 4096

static _Thread_local unsigned char pool[POOL];
static _Thread_local size_t pool_left;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;


static void forget_pool(void) {
  memset(pool, 0, sizeof pool);
  pool_left = 0;
}


static void register_atfork(void) {
  pthread_atfork(NULL, NULL, forget_pool);
}


static int kernel_bytes(unsigned char *p, size_t n) {
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


int mc_rand_bytes(void *buf, size_t n) {
  pthread_once(&atfork_once, register_atfork);
  if (n > POOL / 4) return kernel_bytes(buf, n);
  if (pool_left < n) {
    if (kernel_bytes(pool, POOL) != 0) return -1;
    pool_left = POOL;
  }
  /* Taken from the end, and wiped: what was handed out is not kept. */
  unsigned char *from = pool + pool_left - n;
  memcpy(buf, from, n);
  memset(from, 0, n);
  pool_left -= n;
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
