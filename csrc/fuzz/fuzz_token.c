/* fuzz_token: signed tracking tokens. The input is read as a token,
 * which must be refused (nobody but the key's holder can make one), and
 * as the fields of one: making it and checking it gives the same fields
 * back, and changing any one character of it makes it refused. A
 * violation aborts so libFuzzer reports it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/token.h"

static mc_token_key_t *key;   /* made once: what the server keeps */


static void fail(const char *why, const char *tok) {
  fprintf(stderr, "fuzz_token: %s: %s\n", why, tok);
  abort();
}


static uint64_t take(const uint8_t **p, size_t *n, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes && *n > 0; i++, (*p)++, (*n)--) v = v << 8 | **p;
  return v;
}


static void round_trip(const uint8_t *p, size_t n) {
  mc_token_t t = {0};
  unsigned k = (unsigned)take(&p, &n, 1);
  t.kind = (mc_token_kind_t)(k % 3 + 1);
  t.campaign = take(&p, &n, 8) & MC_TOKEN_ID_MAX;
  t.recipient = take(&p, &n, 8) & MC_TOKEN_ID_MAX;
  t.link = t.kind == MC_TOKEN_CLICK ? (uint32_t)take(&p, &n, 4) | 1 : 0;
  char tok[MC_TOKEN_MAX];
  mc_error_t e;
  size_t len = mc_token_make(key, &t, tok, &e);
  if (len == 0) fail(e.msg, "");
  mc_token_t back;
  if (mc_token_check(key, tok, len, &back, &e) != 0) fail("own token refused", tok);
  if (back.kind != t.kind || back.campaign != t.campaign || back.recipient != t.recipient ||
      back.link != t.link)
    fail("fields changed", tok);
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t at = (size_t)take(&p, &n, 1) % len;
  char c = alphabet[take(&p, &n, 1) % 64];
  if (c == tok[at]) return;
  tok[at] = c;
  if (mc_token_check(key, tok, len, &back, &e) == 0) fail("altered token accepted", tok);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mc_error_t e;
  if (key == NULL && (key = mc_token_key_new("fuzz-secret-0123456789", 22, &e)) == NULL)
    fail(e.msg, "");
  mc_token_t t;
  if (mc_token_check(key, (const char *)data, size, &t, &e) == 0)
    fail("a token nobody made was accepted", "");
  if (strncmp(e.msg, "token: ", 7) != 0) fail("refused without a reason", e.msg);
  round_trip(data, size);
  return 0;
}
