/* fuzz_verp: VERP tags as a forged bounce address may carry them, into
 * mc_verp_check. A tag it accepts must be the one mc_verp_make gives for
 * the same ids (read in any case), so no second spelling can pass. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "core/verp.h"

static const char key[] = "fuzz-verp-key";


static void fail(const char *why) {
  fprintf(stderr, "fuzz_verp: %s\n", why);
  abort();
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t c, r;
  mc_error_t e;
  if (mc_verp_check(key, sizeof key - 1, (const char *)data, size, &c, &r, &e) != 0) return 0;
  char tag[MC_VERP_MAX];
  size_t n = mc_verp_make(key, sizeof key - 1, c, r, tag, &e);
  if (n == 0) fail("an accepted tag's ids cannot be made into one");
  if (n != size || strncasecmp(tag, (const char *)data, n) != 0) fail("a second spelling was accepted");
  return 0;
}
