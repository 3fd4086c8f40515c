#include "addr.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"


static int is_wsp(char c) { return c == ' ' || c == '\t'; }


static int atext(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}


static int let_dig(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}


static int check_local(const char *s, size_t n, mc_error_t *e) {
  if (n == 0) { mc_error_set(e, "empty local part"); return -1; }
  if (n > 64) { mc_error_set(e, "local part longer than 64 octets"); return -1; }
  if (s[0] == '"') {
    /* Quoted-string: qtextSMTP or quoted-pairSMTP up to the closing quote. */
    if (n < 2 || s[n - 1] != '"') { mc_error_set(e, "unterminated quoted local part"); return -1; }
    for (size_t i = 1; i < n - 1; i++) {
      unsigned char c = (unsigned char)s[i];
      if (c == '\\' && i + 2 < n && s[i + 1] >= 32 && s[i + 1] <= 126) { i++; continue; }
      if (c < 32 || c > 126 || c == '"' || c == '\\') {
        mc_error_set(e, "bad character in quoted local part");
        return -1;
      }
    }
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '.') {
      if (i == 0 || i == n - 1 || s[i - 1] == '.') {
        mc_error_set(e, "misplaced '.' in local part");
        return -1;
      }
      continue;
    }
    if (!atext(c)) {
      if (c >= 0x80) mc_error_set(e, "non-ASCII local part (needs SMTPUTF8, not supported)");
      else if (c < 32 || c == 127) mc_error_set(e, "control character 0x%02x in local part", c);
      else mc_error_set(e, "character '%c' not allowed in local part", c);
      return -1;
    }
  }
  return 0;
}


static int check_domain(const char *s, size_t n, mc_error_t *e) {
  if (n == 0) { mc_error_set(e, "empty domain"); return -1; }
  if (s[0] == '[') {
    if (n < 3 || s[n - 1] != ']') { mc_error_set(e, "unterminated address literal"); return -1; }
    for (size_t i = 1; i < n - 1; i++) {
      unsigned char c = (unsigned char)s[i];
      if (!(let_dig(c) || c == '.' || c == ':' || c == '-')) {
        mc_error_set(e, "bad character in address literal");
        return -1;
      }
    }
    return 0;
  }
  if (n > 253) { mc_error_set(e, "domain longer than 253 octets"); return -1; }
  size_t label = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i == n || s[i] == '.') {
      if (label == 0) { mc_error_set(e, "empty label in domain"); return -1; }
      if (label > 63) { mc_error_set(e, "domain label longer than 63 octets"); return -1; }
      if (s[i - 1] == '-') { mc_error_set(e, "domain label ends with '-'"); return -1; }
      label = 0;
      continue;
    }
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x80) {
      mc_error_set(e, "non-ASCII domain (use its A-label, xn--...)");
      return -1;
    }
    if (!let_dig(c) && !(c == '-' && label > 0)) {
      if (c < 32 || c == 127) mc_error_set(e, "control character 0x%02x in domain", c);
      else mc_error_set(e, "character '%c' not allowed in domain", c);
      return -1;
    }
    label++;
  }
  return 0;
}


int mc_addr_check(const char *s, size_t n, mc_error_t *e) {
  if (n == 0) { mc_error_set(e, "empty address"); return -1; }
  if (n > MC_ADDR_MAX) { mc_error_set(e, "address longer than %d octets", MC_ADDR_MAX); return -1; }
  const char *at = NULL;
  for (size_t i = n; i-- > 0;) if (s[i] == '@') { at = s + i; break; }
  if (s[0] != '"' && memchr(s, ',', n)) {   /* "a@x, b@y" from a list's one field */
    mc_error_set(e, "a list of addresses (',') where one address goes");
    return -1;
  }
  if (at == NULL) { mc_error_set(e, "no '@' in address"); return -1; }
  size_t local = (size_t)(at - s);
  if (check_local(s, local, e) != 0) return -1;
  return check_domain(at + 1, n - local - 1, e);
}


const char *mc_addr_domain(const char *addr) {
  const char *at = strrchr(addr, '@');
  return at ? at + 1 : addr;
}


static char *dup_n(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) { memcpy(p, s, n); p[n] = '\0'; }
  return p;
}


int mc_addr_add(mc_addrlist_t *list, const char *name, size_t namelen,
                const char *addr, size_t addrlen, mc_error_t *e) {
  size_t bad;
  mc_error_t why;
  if (mc_addr_check(addr, addrlen, &why) != 0) {
    mc_error_set(e, "invalid address '%.*s': %s", (int)(addrlen > 100 ? 100 : addrlen), addr, why.msg);
    return -1;
  }
  if (name && !mc_utf8_valid(name, namelen, &bad)) {
    mc_error_set(e, "display name is not valid UTF-8 (byte %zu)", bad + 1);
    return -1;
  }
  for (size_t i = 0; name && i < namelen; i++) {
    if (name[i] == '\r' || name[i] == '\n' || name[i] == '\0') {
      mc_error_set(e, "display name contains CR, LF or NUL");
      return -1;
    }
  }
  if (list->count == list->cap) {
    size_t cap = list->cap ? list->cap * 2 : 4;
    mc_addr_t *items = realloc(list->items, cap * sizeof *items);
    if (items == NULL) { mc_error_set(e, "out of memory"); return -1; }
    list->items = items;
    list->cap = cap;
  }
  mc_addr_t a = {NULL, dup_n(addr, addrlen)};
  if (name && namelen > 0) a.name = dup_n(name, namelen);
  if (a.addr == NULL || (name && namelen > 0 && a.name == NULL)) {
    free(a.addr);
    free(a.name);
    mc_error_set(e, "out of memory");
    return -1;
  }
  list->items[list->count++] = a;
  return 0;
}


static void trim(const char **s, size_t *n) {
  while (*n > 0 && is_wsp(**s)) { (*s)++; (*n)--; }
  while (*n > 0 && is_wsp((*s)[*n - 1])) (*n)--;
}


/* A display name written as a quoted-string loses its quotes and
 * backslashes; anything else is taken as the text it is. */
static char *unquote(const char *s, size_t n, size_t *outn) {
  char *p = malloc(n + 1);
  if (p == NULL) return NULL;
  size_t k = 0;
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
    for (size_t i = 1; i < n - 1; i++) {
      if (s[i] == '\\' && i + 1 < n - 1) i++;
      p[k++] = s[i];
    }
  } else {
    memcpy(p, s, n);
    k = n;
  }
  p[k] = '\0';
  *outn = k;
  return p;
}


static int parse_one(mc_addrlist_t *list, const char *s, size_t n, mc_error_t *e) {
  trim(&s, &n);
  if (n == 0 || s[n - 1] != '>') return mc_addr_add(list, NULL, 0, s, n, e);
  int quoted = 0;
  size_t lt = n;
  for (size_t i = 0; i < n; i++) {
    if (quoted && s[i] == '\\') { i++; continue; }
    if (s[i] == '"') quoted = !quoted;
    else if (!quoted && s[i] == '<') { lt = i; break; }
  }
  if (lt == n) { mc_error_set(e, "'>' without '<'"); return -1; }
  const char *name = s;
  size_t namelen = lt;
  trim(&name, &namelen);
  const char *addr = s + lt + 1;
  size_t addrlen = n - lt - 2;
  trim(&addr, &addrlen);
  size_t plainlen = 0;
  char *plain = unquote(name, namelen, &plainlen);
  if (plain == NULL) { mc_error_set(e, "out of memory"); return -1; }
  int rc = mc_addr_add(list, plainlen ? plain : NULL, plainlen, addr, addrlen, e);
  free(plain);
  return rc;
}


int mc_addr_parse(mc_addrlist_t *list, const char *s, size_t n, mc_error_t *e) {
  size_t had = list->count;
  int quoted = 0, angle = 0;
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n) {
      char c = s[i];
      if (quoted && c == '\\') { if (i + 1 < n) i++; continue; }
      if (c == '"') quoted = !quoted;
      else if (!quoted && c == '<') angle = 1;
      else if (!quoted && c == '>') angle = 0;
      if (c != ',' || quoted || angle) continue;
    }
    const char *item = s + start;
    size_t len = i - start;
    trim(&item, &len);
    if (len > 0 && parse_one(list, item, len, e) != 0) goto fail;
    start = i + 1;
  }
  if (list->count == had) { mc_error_set(e, "no address given"); goto fail; }
  return 0;
fail:
  while (list->count > had) {
    list->count--;
    free(list->items[list->count].name);
    free(list->items[list->count].addr);
  }
  return -1;
}


void mc_addrlist_free(mc_addrlist_t *list) {
  for (size_t i = 0; i < list->count; i++) {
    free(list->items[i].name);
    free(list->items[i].addr);
  }
  free(list->items);
  list->items = NULL;
  list->count = list->cap = 0;
}
