/* fuzz_reply: SMTP replies as a hostile server may send them, line by
 * line into mc_reply_feed. Whatever it accepts must be a reply with a
 * valid code, an enhanced code of the right class, and no more text than
 * the limits allow; whatever it refuses leaves it ready for the next. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/smtp_reply.h"


static void fail(const char *why) {
  fprintf(stderr, "fuzz_reply: %s\n", why);
  abort();
}


static void check(const mc_reply_t *r) {
  if (r->code < 200 || r->code > 599) fail("code out of range");
  if (r->enhanced[0] && r->enhanced[0] - '0' != r->code / 100) fail("enhanced code of another class");
  if (r->text.len > MC_REPLY_MAX_BYTES + MC_REPLY_MAX_LINES) fail("text past the limit");
  if (r->text.data && r->text.data[r->text.len] != '\0') fail("text not terminated");
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  mc_reply_parser_t p;
  memset(&p, 0, sizeof p);
  size_t i = 0;
  while (i < size) {
    const char *nl = memchr(s + i, '\n', size - i);
    size_t end = nl ? (size_t)(nl - s) : size;
    size_t n = end - i;
    if (n > 0 && s[i + n - 1] == '\r') n--;
    mc_reply_t r;
    memset(&r, 0, sizeof r);
    mc_error_t e;
    int rc = mc_reply_feed(&p, s + i, n, &r, &e);
    if (rc == 1) {
      check(&r);
      mc_reply_free(&r);
    } else if (rc < 0) {
      if (e.msg[0] == '\0') fail("refused without a reason");
      mc_reply_parser_reset(&p);
    }
    i = end + 1;
  }
  mc_reply_parser_reset(&p);
  return 0;
}
