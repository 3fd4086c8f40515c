/* Small helpers of the bounce reader: owned strings, addresses in text,
 * the recipient list. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounce_internal.h"


static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


int mc_bounce_set(char **dst, const char *s, size_t n) {
  while (n > 0 && is_blank(*s)) { s++; n--; }
  while (n > 0 && is_blank(s[n - 1])) n--;
  char *p = malloc(n + 1);
  if (p == NULL) return -1;
  memcpy(p, s, n);
  p[n] = '\0';
  free(*dst);
  *dst = p;
  return 0;
}


int mc_bounce_append(char **dst, const char *s, size_t n, size_t cap) {
  while (n > 0 && is_blank(*s)) { s++; n--; }
  while (n > 0 && is_blank(s[n - 1])) n--;
  if (n == 0) return 0;
  if (*dst == NULL) {
    if (n > cap) n = cap;
    return mc_bounce_set(dst, s, n);
  }
  size_t have = strlen(*dst);
  if (have + 1 >= cap || memmem(*dst, have, s, n)) return 0;
  if (n > cap - have - 1) n = cap - have - 1;
  char *p = realloc(*dst, have + 1 + n + 1);
  if (p == NULL) return -1;
  p[have] = '\n';
  memcpy(p + have + 1, s, n);
  p[have + 1 + n] = '\0';
  *dst = p;
  return 0;
}


/* RFC 5322 atext and the dot, plus UTF-8 (RFC 6531). */
static int local_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c >= 0x80 || (c != 0 && strchr("!#$%&'*+/=?^_`{|}~.-", c) != NULL);
}


static int domain_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c >= 0x80 || c == '-' || c == '.';
}


/* Whether d[0..n) is a plausible domain: labels of letters, digits and
 * hyphens, at least two of them, none empty. */
static int domain_ok(const char *d, size_t n) {
  int dots = 0;
  if (n == 0 || d[0] == '.' || d[0] == '-' || d[n - 1] == '-') return 0;
  for (size_t i = 0; i < n; i++) {
    if (d[i] == '.') {
      if (i + 1 < n && d[i + 1] == '.') return 0;
      dots++;
    }
  }
  return dots > 0;
}


int mc_bounce_find_addr(const char *s, size_t n, size_t from, size_t *at, size_t *len) {
  size_t i = from;
  while (i < n) {
    const char *p = memchr(s + i, '@', n - i);
    if (p == NULL) return 0;
    size_t a = (size_t)(p - s);
    size_t l = a;
    while (l > from && local_char((unsigned char)s[l - 1])) l--;
    while (l < a && (s[l] == '.' || s[l] == '\'' || s[l] == '`')) l++;  /* "'user@..'" */
    size_t r = a + 1;
    while (r < n && domain_char((unsigned char)s[r])) r++;
    while (r > a + 1 && (s[r - 1] == '.' || s[r - 1] == '-')) r--;  /* the sentence's full stop */
    if (l < a && a - l <= 64 && r - l <= 254 && s[a - 1] != '.' &&
        domain_ok(s + a + 1, r - a - 1)) {
      *at = l;
      *len = r - l;
      return 1;
    }
    i = a + 1;
  }
  return 0;
}


int mc_bounce_addr_of(char **dst, const char *value) {
  size_t n = strlen(value);
  const char *lt = memchr(value, '<', n);
  size_t at, len;
  /* Inside the angle brackets when there are some: a display name may
   * itself look like an address. */
  if (lt) {
    const char *gt = memchr(lt, '>', n - (size_t)(lt - value));
    if (gt && mc_bounce_find_addr(lt + 1, (size_t)(gt - lt - 1), 0, &at, &len))
      return mc_bounce_set(dst, lt + 1 + at, len);
  }
  if (mc_bounce_find_addr(value, n, 0, &at, &len)) return mc_bounce_set(dst, value + at, len);
  return 0;
}


mc_bounce_rcpt_t *mc_bounce_rcpt_new(mc_bounce_t *b, int *oom) {
  *oom = 0;
  if (b->nrcpts >= MC_BOUNCE_MAX_RCPTS) return NULL;
  mc_bounce_rcpt_t *r = realloc(b->rcpts, (b->nrcpts + 1) * sizeof *r);
  if (r == NULL) { *oom = 1; return NULL; }
  b->rcpts = r;
  memset(&r[b->nrcpts], 0, sizeof *r);
  return &r[b->nrcpts++];
}


mc_bounce_rcpt_t *mc_bounce_rcpt(mc_bounce_t *b, const char *addr, size_t n, int *oom) {
  *oom = 0;
  for (size_t i = 0; i < b->nrcpts; i++) {
    const char *have = b->rcpts[i].address;
    if (have && strlen(have) == n && strncasecmp(have, addr, n) == 0) return &b->rcpts[i];
  }
  mc_bounce_rcpt_t *r = mc_bounce_rcpt_new(b, oom);
  if (r && mc_bounce_set(&r->address, addr, n) != 0) {
    b->nrcpts--;
    *oom = 1;
    return NULL;
  }
  return r;
}


static unsigned char lower(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}


int mc_bounce_icontains(const char *s, size_t n, const char *needle) {
  size_t m = strlen(needle);
  if (m == 0) return 1;
  const unsigned char *u = (const unsigned char *)s, *w = (const unsigned char *)needle;
  for (size_t i = 0; i + m <= n; i++) {
    if (lower(u[i]) != w[0]) continue;
    size_t k = 1;
    while (k < m && lower(u[i + k]) == w[k]) k++;
    if (k == m) return 1;
  }
  return 0;
}


void mc_bounce_rcpt_clear(mc_bounce_rcpt_t *r) {
  free(r->address);
  free(r->original);
  free(r->action);
  free(r->status);
  free(r->diagnostic);
  free(r->remote_mta);
  memset(r, 0, sizeof *r);
}
