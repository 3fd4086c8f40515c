/* fuzz_address: mc_addr_parse on arbitrary bytes (recipient lists come
 * from CSV files). What it accepts must hold up: every address passes
 * mc_addr_check on its own, every display name is what mc_addr_add
 * allows; a failed parse leaves the list as it was. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/utf8.h"


static void fail(const char *why, const char *detail) {
  fprintf(stderr, "fuzz_address: %s: %s\n", why, detail ? detail : "");
  abort();
}


static void check_list(const mc_addrlist_t *l, size_t from) {
  for (size_t i = from; i < l->count; i++) {
    const mc_addr_t *a = &l->items[i];
    mc_error_t e;
    size_t n = strlen(a->addr);
    if (mc_addr_check(a->addr, n, &e) != 0) fail("accepted address fails mc_addr_check", a->addr);
    if (n > MC_ADDR_MAX) fail("address too long", a->addr);
    const char *domain = mc_addr_domain(a->addr);
    if (domain == a->addr || domain[-1] != '@' || *domain == '\0') fail("no domain", a->addr);
    if (a->name) {
      size_t nn = strlen(a->name);
      if (nn == 0) fail("empty display name kept", NULL);
      if (!mc_utf8_valid(a->name, nn, NULL)) fail("display name not UTF-8", NULL);
      if (strpbrk(a->name, "\r\n")) fail("display name with CR or LF", a->name);
    }
  }
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mc_addrlist_t list = {NULL, 0, 0};
  mc_error_t e;
  /* One entry first, so a failed parse can be seen to keep it. */
  if (mc_addr_add(&list, "Keep", 4, "keep@example.com", 16, &e) != 0) fail("seed entry", e.msg);
  int rc = mc_addr_parse(&list, (const char *)data, size, &e);
  if (rc == 0) {
    if (list.count < 2) fail("success without an address", NULL);
    check_list(&list, 1);
  } else {
    if (list.count != 1 || strcmp(list.items[0].addr, "keep@example.com") != 0)
      fail("failed parse changed the list", e.msg);
    if (memchr(e.msg, '\0', sizeof e.msg) == NULL) fail("error message not terminated", NULL);
  }
  mc_addrlist_free(&list);
  return 0;
}
