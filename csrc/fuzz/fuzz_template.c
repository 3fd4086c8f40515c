/* fuzz_template: any bytes compiled as a mail-merge template. A template
 * that compiles must be a well-formed program: every op's bytes inside
 * the source, text ops covering exactly the text between tags in order,
 * each name made of name characters with as many parts as it has
 * non-empty dot-separated pieces, each line the tag's own, and sections
 * nested inside one another. A refused one has a message naming the
 * template and the line. A violation aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/template.h"

static void fail(const char *why, size_t op) {
  fprintf(stderr, "fuzz_template: op %zu: %s\n", op, why);
  abort();
}


static size_t parts_of(const char *s, size_t n) {
  if (n == 1 && s[0] == '.') return 0;
  size_t parts = 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] != '.' && (i == 0 || s[i - 1] == '.')) parts++;
  return parts;
}


static void check(const mc_tpl_t *t, const char *src, size_t n) {
  size_t ends[MC_TPL_MAX_DEPTH + 1];
  size_t depth = 0, last = 0;
  unsigned line = 1;
  size_t counted = 0;
  for (size_t i = 0; i < t->nops; i++) {
    const mc_tpl_op_t *op = &t->ops[i];
    while (depth && ends[depth - 1] == i) depth--;
    if (op->off > n || op->len > n - op->off) fail("bytes outside the source", i);
    if (op->off < last) fail("ops out of order", i);
    last = op->off + (op->kind == MC_TPL_TEXT ? op->len : 0);
    if (op->kind == MC_TPL_TEXT) {
      if (op->len == 0) fail("empty text", i);
      if (memcmp(t->src + op->off, src + op->off, op->len) != 0) fail("text differs", i);
      continue;
    }
    /* The tag's line is that of its "{{", before any white space. */
    size_t tag = op->off;
    while (tag >= 2 && !(src[tag - 2] == '{' && src[tag - 1] == '{')) tag--;
    if (tag < 2) fail("no {{ before the name", i);
    for (; counted < tag; counted++) line += src[counted] == '\n';
    if (op->line != line) fail("wrong line", i);
    if (op->len == 0) fail("empty name", i);
    for (size_t k = 0; k < op->len; k++) {
      char c = src[op->off + k];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '.' || c == '-'))
        fail("name character", i);
    }
    if (op->nparts != parts_of(src + op->off, op->len)) fail("parts", i);
    const char *p = mc_tpl_part(t, op);
    for (size_t k = 0; k < op->nparts; k++) {
      if (*p == '\0' || strchr(p, '.')) fail("part", i);
      p += strlen(p) + 1;
    }
    if (op->kind == MC_TPL_SECTION) {
      if (op->end <= i || op->end > t->nops) fail("section end", i);
      if (depth && op->end > ends[depth - 1]) fail("section not nested", i);
      if (depth == MC_TPL_MAX_DEPTH) fail("too deep", i);
      ends[depth++] = op->end;
    }
  }
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mc_error_t e;
  mc_tpl_t *t = mc_tpl_compile((const char *)data, size, "fuzz", &e);
  if (t == NULL) {
    if (strncmp(e.msg, "template fuzz:", 14) != 0 && strcmp(e.msg, "out of memory") != 0)
      fail(e.msg, 0);
    return 0;
  }
  check(t, (const char *)data, size);
  mc_tpl_free(t);
  return 0;
}
