#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>


int mc_buf_reserve(mc_buf_t *b, size_t extra) {
  if (b->failed) return -1;
  if (extra <= b->cap - b->len) return 0;
  size_t need = b->len + extra;
  if (need < b->len) { b->failed = 1; return -1; }  /* overflow */
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) {
    if (cap > ((size_t)-1) / 2) { cap = need; break; }
    cap *= 2;
  }
  char *p = realloc(b->data, cap);
  if (p == NULL) { b->failed = 1; return -1; }
  b->data = p;
  b->cap = cap;
  return 0;
}


void mc_buf_add(mc_buf_t *b, const void *p, size_t n) {
  if (n == 0 || mc_buf_reserve(b, n) != 0) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}


void mc_buf_addstr(mc_buf_t *b, const char *s) {
  mc_buf_add(b, s, strlen(s));
}


void mc_buf_printf(mc_buf_t *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) { b->failed = 1; return; }
  if ((size_t)n < sizeof small) { mc_buf_add(b, small, (size_t)n); return; }
  if (mc_buf_reserve(b, (size_t)n + 1) != 0) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}


void mc_buf_free(mc_buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->failed = 0;
}
