/* fuzz_parse: mc_mime_parse on arbitrary bytes (bounce messages come from
 * anyone). Every field of the tree is read back so that AddressSanitizer
 * sees a stray length or a missing terminator, not only a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mimeparse.h"

/* Reads go into a volatile sink so the compiler cannot drop them. */
static volatile unsigned char sink;


static void fail(const char *why) {
  fprintf(stderr, "fuzz_parse: %s\n", why);
  abort();
}


static void touch(const void *p, size_t n) {
  const unsigned char *u = p;
  unsigned char acc = 0;
  for (size_t i = 0; i < n; i++) acc ^= u[i];
  sink ^= acc;
}


static void touch_str(const char *s) {
  if (s) touch(s, strlen(s) + 1);  /* with the NUL: it must be there */
}


static void touch_structured(const mc_structured_t *st) {
  touch_str(st->value);
  for (size_t i = 0; i < st->nparams; i++) {
    touch_str(st->params[i].name);
    touch_str(st->params[i].value);
    /* The lookup must find what the walk found. */
    if (mc_structured_param(st, st->params[i].name) == NULL) fail("parameter not found by name");
  }
}


static void walk(const mc_entity_t *ent, int depth) {
  /* The tree is as deep as parse_entity recursed: past the bound, a
   * hostile message could exhaust the stack. */
  if (depth > MC_MIME_MAX_DEPTH) fail("tree deeper than MC_MIME_MAX_DEPTH");
  for (size_t i = 0; i < ent->nfields; i++) {
    touch_str(ent->fields[i].name);
    touch_str(ent->fields[i].value);
    if (mc_entity_field(ent, ent->fields[i].name) == NULL) fail("field not found by name");
  }
  touch_str(mc_entity_field(ent, "Content-Type"));
  touch_str(mc_entity_field(ent, "content-disposition"));
  touch_str(mc_entity_field(ent, "Subject"));
  touch_structured(&ent->type);
  touch_structured(&ent->disposition);
  touch_str(ent->encoding);
  if (ent->body.len > ent->body.cap) fail("body longer than its buffer");
  touch(ent->body.data, ent->body.len);
  for (size_t i = 0; i < ent->nkids; i++) walk(ent->kids[i], depth + 1);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mc_error_t e;
  mc_entity_t *root = mc_mime_parse((const char *)data, size, &e);
  if (root) {
    walk(root, 0);
    mc_entity_free(root);
  }
  return 0;
}
