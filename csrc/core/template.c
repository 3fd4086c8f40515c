#include "template.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

typedef struct {
  mc_tpl_t *t;
  size_t cap;
  mc_buf_t keys;
  size_t open[MC_TPL_MAX_DEPTH];   /* the sections being read, outermost first */
  size_t depth;
} compiler;


static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.' || c == '-';
}


static mc_tpl_op_t *add_op(compiler *c, mc_tpl_kind_t kind) {
  mc_tpl_t *t = c->t;
  if (t->nops == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 16;
    mc_tpl_op_t *ops = realloc(t->ops, cap * sizeof *ops);
    if (ops == NULL) return NULL;
    t->ops = ops;
    c->cap = cap;
  }
  mc_tpl_op_t *op = &t->ops[t->nops++];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  return op;
}


static int add_text(compiler *c, size_t off, size_t len) {
  mc_tpl_op_t *op = add_op(c, MC_TPL_TEXT);
  if (op == NULL) return -1;
  op->off = off;
  op->len = len;
  return 0;
}


/* A name's parts into keys: "a.b" as "a\0b\0"; empty parts ("a..b")
 * are dropped, and "." has none. */
static void add_key(compiler *c, mc_tpl_op_t *op, const char *name, size_t n) {
  op->key = c->keys.len;
  if (n == 1 && name[0] == '.') return;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && name[j] != '.') j++;
    if (j > i) {
      mc_buf_add(&c->keys, name + i, j - i);
      mc_buf_addc(&c->keys, '\0');
      op->nparts++;
    }
    i = j + 1;
  }
}


/* The tag between from and to (what "{{" and "}}" enclose): its sigil
 * ('#', '^', '/' or 0) and name, or 0 when it is no tag (then it is
 * text): "^%s*([#^/]?)%s*([%w_%.%-]+)%s*$", and a name starting with a
 * dot is only "." itself. */
static int read_tag(const char *s, size_t from, size_t to, char *sigil, size_t *name, size_t *len) {
  size_t i = from;
  while (i < to && is_space(s[i])) i++;
  *sigil = 0;
  if (i < to && (s[i] == '#' || s[i] == '^' || s[i] == '/')) *sigil = s[i++];
  while (i < to && is_space(s[i])) i++;
  *name = i;
  while (i < to && is_key_char(s[i])) i++;
  *len = i - *name;
  while (i < to && is_space(s[i])) i++;
  if (i != to || *len == 0) return 0;
  if (s[*name] == '.' && *len > 1) return 0;
  return 1;
}


/* The end of the name that seems to follow a "{{" at from (after white
 * space and a sigil), or from when none does. "{{first_name}" or
 * "{{first name}}" is a tag gone wrong, to refuse, where "{{ }}" or a
 * lone "{{" is text; *start is where the tag's text starts. */
static size_t name_after(const char *s, size_t from, size_t n, size_t *start) {
  size_t i = from;
  while (i < n && is_space(s[i])) i++;
  *start = i;
  if (i < n && (s[i] == '#' || s[i] == '^' || s[i] == '/')) i++;
  while (i < n && is_space(s[i])) i++;
  size_t name = i;
  while (i < n && is_key_char(s[i])) i++;
  return i > name ? i : from;
}


static const char *find(const char *s, size_t from, size_t n, const char *what, size_t wn) {
  if (from > n) return NULL;
  return memmem(s + from, n - from, what, wn);
}


static int compile(compiler *c, const char *s, size_t n, const char *name, mc_error_t *e) {
  size_t pos = 0, counted = 0;
  unsigned line = 1;
  for (;;) {
    const char *open = find(s, pos, n, "{{", 2);
    if (open == NULL) break;
    size_t at = (size_t)(open - s);
    if (at > pos && add_text(c, pos, at - pos) != 0) goto oom;
    for (; counted < at; counted++) line += s[counted] == '\n';
    int triple = at + 2 < n && s[at + 2] == '{';
    const char *close = triple ? "}}}" : "}}";
    size_t clen = triple ? 3 : 2, inner = at + clen;
    const char *end = find(s, inner, n, close, clen);
    char sigil = 0;
    size_t key = 0, klen = 0;
    int tag = end && read_tag(s, inner, (size_t)(end - s), &sigil, &key, &klen);
    if (triple && !(tag && sigil == 0)) {
      size_t k = inner;
      while (k < n && is_space(s[k])) k++;
      size_t m = k;
      while (m < n && is_key_char(s[m])) m++;
      mc_error_set(e, "template %s:%u: '{{{%.*s' needs '}}}'", name, line, (int)(m - k), s + k);
      return -1;
    }
    if (!tag) {   /* "{{ }}", or "{{" alone: text like any other */
      size_t k, m = name_after(s, inner, n, &k);
      if (m > inner) {   /* an unclosed tag would go out as it is */
        mc_error_set(e, "template %s:%u: '{{%.*s' needs '}}'", name, line, (int)(m - k), s + k);
        return -1;
      }
      if (add_text(c, at, 2) != 0) goto oom;
      pos = at + 2;
      continue;
    }
    pos = (size_t)(end - s) + clen;
    if (sigil == '/') {
      const mc_tpl_op_t *sec = c->depth ? &c->t->ops[c->open[c->depth - 1]] : NULL;
      if (sec == NULL || sec->len != klen || memcmp(s + sec->off, s + key, klen) != 0) {
        if (sec) mc_error_set(e, "template %s:%u: {{/%.*s}} closes {{#%.*s}}", name, line, (int)klen,
                              s + key, (int)sec->len, s + sec->off);
        else mc_error_set(e, "template %s:%u: {{/%.*s}} closes nothing", name, line, (int)klen, s + key);
        return -1;
      }
      c->depth--;
      c->t->ops[c->open[c->depth]].end = c->t->nops;
      continue;
    }
    mc_tpl_op_t *op = add_op(c, sigil ? MC_TPL_SECTION : MC_TPL_VAR);
    if (op == NULL) goto oom;
    op->raw = triple;
    op->inverted = sigil == '^';
    op->line = line;
    op->off = key;
    op->len = klen;
    add_key(c, op, s + key, klen);
    if (sigil) {
      if (c->depth == MC_TPL_MAX_DEPTH) {
        mc_error_set(e, "template %s:%u: sections nested more than %d deep", name, line, MC_TPL_MAX_DEPTH);
        return -1;
      }
      c->open[c->depth++] = c->t->nops - 1;
    }
  }
  if (c->depth) {
    const mc_tpl_op_t *sec = &c->t->ops[c->open[c->depth - 1]];
    mc_error_set(e, "template %s:%u: {{#%.*s}} is never closed", name, sec->line, (int)sec->len,
                 s + sec->off);
    return -1;
  }
  if (pos < n && add_text(c, pos, n - pos) != 0) goto oom;
  if (c->keys.failed) goto oom;
  return 0;
oom:
  mc_error_set(e, "out of memory");
  return -1;
}


mc_tpl_t *mc_tpl_compile(const char *src, size_t n, const char *name, mc_error_t *e) {
  compiler c = {0};
  mc_tpl_t *t = c.t = calloc(1, sizeof *t);
  if (t == NULL || (t->src = malloc(n + 1)) == NULL || (t->name = strdup(name)) == NULL) {
    mc_error_set(e, "out of memory");
    mc_tpl_free(t);
    return NULL;
  }
  memcpy(t->src, src, n);
  t->src[n] = '\0';
  if (compile(&c, t->src, n, name, e) != 0) {
    mc_buf_free(&c.keys);
    mc_tpl_free(t);
    return NULL;
  }
  /* Names point into keys by offset: "" when no name has a part. */
  t->keys = c.keys.data ? c.keys.data : calloc(1, 1);
  if (t->keys == NULL) {
    mc_error_set(e, "out of memory");
    mc_tpl_free(t);
    return NULL;
  }
  return t;
}


void mc_tpl_free(mc_tpl_t *t) {
  if (t == NULL) return;
  free(t->src);
  free(t->keys);
  free(t->ops);
  free(t->name);
  free(t);
}
