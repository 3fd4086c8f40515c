#include "dkim_tags.h"

#include <string.h>

#define IS_FWS(c) ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')


static int is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


static int is_alnum_(char c) {
  return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}


static void trim(const char **a, const char **b) {
  while (*a < *b && IS_FWS(**a)) (*a)++;
  while (*b > *a && IS_FWS((*b)[-1])) (*b)--;
}


/* One tag-spec, s[0..stop), already known not to be empty. */
static int parse_spec(mc_dkim_tag_t *tag, const char *p, const char *stop, const char **why) {
  const char *a = p, *b = stop;
  trim(&a, &b);
  if (!is_alpha(*a)) {
    *why = "bad tag name";
    return -1;
  }
  const char *q = a;
  while (q < b && is_alnum_(*q)) q++;
  tag->name = a;
  tag->name_len = (size_t)(q - a);
  while (q < b && IS_FWS(*q)) q++;
  if (q == b || *q != '=') {
    *why = q == b ? "tag without a value" : "bad tag name";
    return -1;
  }
  tag->after_eq = q + 1;
  tag->end = stop;
  const char *v = q + 1, *e = stop;
  trim(&v, &e);
  tag->value = v;
  tag->value_len = (size_t)(e - v);
  return 0;
}


int mc_dkim_tags_parse(mc_dkim_tags_t *t, const char *s, size_t n, const char **why) {
  t->count = 0;
  const char *p = s, *end = s + n;
  while (p < end) {
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *stop = semi ? semi : end;
    const char *a = p, *b = stop;
    trim(&a, &b);
    if (a == b) {
      if (semi == NULL) break;   /* after a final ";" (3.2 allows one) */
      *why = "empty tag";
      return -1;
    }
    if (t->count == MC_DKIM_MAX_TAGS) {
      *why = "too many tags";
      return -1;
    }
    mc_dkim_tag_t *tag = &t->tags[t->count];
    if (parse_spec(tag, p, stop, why) != 0) return -1;
    for (size_t i = 0; i < t->count; i++) {
      if (t->tags[i].name_len == tag->name_len &&
          memcmp(t->tags[i].name, tag->name, tag->name_len) == 0) {
        *why = "a tag given twice";
        return -1;
      }
    }
    t->count++;
    p = semi ? semi + 1 : end;
  }
  return 0;
}


const mc_dkim_tag_t *mc_dkim_tags_get(const mc_dkim_tags_t *t, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < t->count; i++) {
    if (t->tags[i].name_len == n && memcmp(t->tags[i].name, name, n) == 0) return &t->tags[i];
  }
  return NULL;
}


int mc_dkim_tag_is(const mc_dkim_tag_t *tag, const char *s) {
  size_t n = strlen(s);
  return tag->value_len == n && memcmp(tag->value, s, n) == 0;
}


int mc_dkim_tag_uint(const mc_dkim_tag_t *tag, uint64_t *out) {
  if (tag->value_len == 0 || tag->value_len > 19) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < tag->value_len; i++) {
    char c = tag->value[i];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (uint64_t)(c - '0');
  }
  *out = v;
  return 0;
}


int mc_dkim_tag_next(const mc_dkim_tag_t *tag, char sep, size_t *pos, const char **item,
                     size_t *len) {
  if (*pos > tag->value_len) return -1;
  const char *p = tag->value + *pos, *end = tag->value + tag->value_len;
  const char *s = memchr(p, sep, (size_t)(end - p));
  const char *stop = s ? s : end;
  *pos = s ? (size_t)(s + 1 - tag->value) : tag->value_len + 1;
  trim(&p, &stop);
  *item = p;
  *len = (size_t)(stop - p);
  return 0;
}
