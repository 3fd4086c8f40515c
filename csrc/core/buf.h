/* Growable byte buffer with a sticky failure flag: appends after an
 * allocation failure are no-ops, so a builder checks once at the end. */
#ifndef MC_BUF_H
#define MC_BUF_H

#include <stddef.h>
#include <string.h>

typedef struct {
  char *data;
  size_t len;
  size_t cap;
  int failed;  /* set on the first allocation failure */
} mc_buf_t;

#define MC_BUF_INIT {NULL, 0, 0, 0}

int mc_buf_reserve(mc_buf_t *b, size_t extra);
void mc_buf_add(mc_buf_t *b, const void *p, size_t n);
void mc_buf_addstr(mc_buf_t *b, const char *s);
void mc_buf_printf(mc_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mc_buf_free(mc_buf_t *b);

/* v in decimal, written backwards so that it ends just before end (20
 * digits at most): where it starts. For numbers on a hot path, where a
 * printf would cost more than the rest of the line. */
static inline char *mc_decimal(char *end, unsigned long long v) {
  do { *--end = (char)('0' + v % 10); v /= 10; } while (v);
  return end;
}

static inline void mc_buf_addc(mc_buf_t *b, char c) {
  if (b->len < b->cap) b->data[b->len++] = c;
  else mc_buf_add(b, &c, 1);
}

/* Space for n more bytes at the end; NULL after a failure. The caller
 * writes into it and then advances b->len itself. */
static inline char *mc_buf_tail(mc_buf_t *b, size_t n) {
  if (mc_buf_reserve(b, n) != 0 || b->data == NULL) return NULL;  /* n == 0 on an empty buffer */
  return b->data + b->len;
}

#endif
