#include "hdrdecode.h"

#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

#include "b64.h"
#include "charset.h"
#include "utf8.h"

#define MAX_PARAMS 64
#define MAX_SECTIONS 100   /* RFC 2231 continuations per parameter */


static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}


static int is_utf8_name(const char *cs, size_t n) {
  return (n == 5 && strncasecmp(cs, "utf-8", 5) == 0) ||
         (n == 4 && strncasecmp(cs, "utf8", 4) == 0) ||
         (n == 8 && strncasecmp(cs, "us-ascii", 8) == 0) ||
         (n == 5 && strncasecmp(cs, "ascii", 5) == 0);
}


int mc_charset_to_utf8(mc_buf_t *out, const char *charset, size_t clen,
                       const char *s, size_t n) {
  if (is_utf8_name(charset, clen)) {
    if (!mc_utf8_valid(s, n, NULL)) return -1;
    mc_buf_add(out, s, n);
    return 0;
  }
  char name[64];
  if (clen == 0 || clen >= sizeof name) return -1;
  memcpy(name, charset, clen);
  name[clen] = '\0';
  return mc_charset_utf8(out, name, s, n, 0) == 0 ? 0 : -1;
}


/* Decodes one encoded-word at s ("=?cs?e?text?=") into out; returns its
 * length, or 0 when s does not start a well-formed, convertible word. */
static size_t encoded_word(mc_buf_t *out, const char *s, size_t n) {
  if (n < 8 || s[0] != '=' || s[1] != '?') return 0;
  size_t i = 2, cs = 2;
  while (i < n && s[i] != '?' && s[i] > 32 && s[i] < 127) i++;
  if (i >= n || s[i] != '?' || i == cs) return 0;
  size_t cslen = i - cs;
  const char *star = memchr(s + cs, '*', cslen);  /* RFC 2231 language */
  if (star) cslen = (size_t)(star - (s + cs));
  if (i + 3 >= n || s[i + 2] != '?') return 0;
  char enc = (char)toupper((unsigned char)s[i + 1]);
  if (enc != 'B' && enc != 'Q') return 0;
  size_t text = i + 3, end = text;
  while (end + 1 < n && !(s[end] == '?' && s[end + 1] == '=')) {
    if (s[end] == ' ' || s[end] == '\t' || s[end] == '\r' || s[end] == '\n') return 0;
    end++;
  }
  if (end + 1 >= n) return 0;
  mc_buf_t raw = MC_BUF_INIT;
  size_t tlen = end - text;
  if (enc == 'B') {
    unsigned char *d = (unsigned char *)mc_buf_tail(&raw, tlen / 4 * 3 + 3);
    if (d) raw.len = mc_b64_decode(d, s + text, tlen, 0, NULL);
  } else {
    for (size_t k = text; k < end; k++) {
      int hi, lo;
      if (s[k] == '_') mc_buf_addc(&raw, ' ');
      else if (s[k] == '=' && k + 2 < end && (hi = hexval((unsigned char)s[k + 1])) >= 0 &&
               (lo = hexval((unsigned char)s[k + 2])) >= 0) {
        mc_buf_addc(&raw, (char)(hi << 4 | lo));
        k += 2;
      } else mc_buf_addc(&raw, s[k]);
    }
  }
  int rc = raw.failed ? -1 : mc_charset_to_utf8(out, s + cs, cslen, raw.data ? raw.data : "", raw.len);
  mc_buf_free(&raw);
  return rc == 0 ? end + 2 : 0;
}


void mc_hdr_decode(mc_buf_t *out, const char *s, size_t n) {
  size_t i = 0;
  int after_word = 0;     /* the last thing written was an encoded-word */
  while (i < n) {
    if (s[i] == '=' && i + 1 < n && s[i + 1] == '?') {
      size_t used = encoded_word(out, s + i, n - i);
      if (used) { i += used; after_word = 1; continue; }
    }
    if (after_word && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) {
      /* White space between two encoded-words is dropped (RFC 2047 6.2). */
      size_t j = i;
      while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n')) j++;
      mc_buf_t probe = MC_BUF_INIT;
      size_t used = j < n ? encoded_word(&probe, s + j, n - j) : 0;
      mc_buf_free(&probe);
      if (used) { i = j; continue; }
      mc_buf_add(out, s + i, j - i);
      i = j;
      after_word = 0;
      continue;
    }
    mc_buf_addc(out, s[i++]);
    after_word = 0;
  }
}


static char *dup_lower(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p == NULL) return NULL;
  for (size_t i = 0; i < n; i++) p[i] = (char)tolower((unsigned char)s[i]);
  p[n] = '\0';
  return p;
}


static void skip_cfws(const char *s, size_t n, size_t *i) {
  while (*i < n) {
    char c = s[*i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') { (*i)++; continue; }
    if (c == '(') {  /* comments nest (RFC 5322 3.2.2) */
      int depth = 0;
      while (*i < n) {
        if (s[*i] == '\\') { *i += 2; continue; }
        if (s[*i] == '(') depth++;
        else if (s[*i] == ')' && --depth == 0) { (*i)++; break; }
        (*i)++;
      }
      if (*i > n) *i = n;
      continue;
    }
    break;
  }
}


/* A token or quoted-string value at s[*i], appended to out unquoted. */
static void read_value(mc_buf_t *out, const char *s, size_t n, size_t *i) {
  if (*i < n && s[*i] == '"') {
    (*i)++;
    while (*i < n && s[*i] != '"') {
      if (s[*i] == '\\' && *i + 1 < n) (*i)++;
      if (s[*i] != '\r' && s[*i] != '\n') mc_buf_addc(out, s[*i]);
      (*i)++;
    }
    if (*i < n) (*i)++;
    return;
  }
  size_t start = *i;
  while (*i < n && s[*i] != ';' && s[*i] != ' ' && s[*i] != '\t' && s[*i] != '(') (*i)++;
  mc_buf_add(out, s + start, *i - start);
}


/* A raw parameter as written: name (without "*N*"), section, extended. */
typedef struct {
  char *name;
  int section;     /* -1: not a continuation */
  int extended;    /* value is charset'lang'%XX */
  mc_buf_t value;
} raw_param_t;


static void pct_decode(mc_buf_t *out, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
        (lo = hexval((unsigned char)s[i + 2])) >= 0) {
      mc_buf_addc(out, (char)(hi << 4 | lo));
      i += 2;
    } else {
      mc_buf_addc(out, s[i]);
    }
  }
}


static int add_param(mc_structured_t *st, char *name, mc_buf_t *value) {
  mc_param_t *p = realloc(st->params, (st->nparams + 1) * sizeof *p);
  if (p == NULL) return -1;
  st->params = p;
  mc_buf_addc(value, '\0');
  if (value->failed) return -1;
  st->params[st->nparams].name = name;
  st->params[st->nparams].value = value->data;
  st->nparams++;
  *value = (mc_buf_t)MC_BUF_INIT;
  return 0;
}


/* Joins the sections of one RFC 2231 parameter in order and decodes it. */
static int join_sections(mc_structured_t *st, raw_param_t *raw, size_t nraw, size_t first) {
  const char *name = raw[first].name;
  mc_buf_t bytes = MC_BUF_INIT, value = MC_BUF_INIT;
  const char *charset = NULL;
  size_t cslen = 0;
  for (int sec = 0; sec < MAX_SECTIONS; sec++) {
    size_t k = 0;
    while (k < nraw && !(raw[k].section == sec && strcmp(raw[k].name, name) == 0)) k++;
    if (k == nraw) break;
    const char *v = raw[k].value.data ? raw[k].value.data : "";
    size_t vn = raw[k].value.len;
    if (raw[k].extended) {
      if (sec == 0) {
        const char *q1 = memchr(v, '\'', vn);
        const char *q2 = q1 ? memchr(q1 + 1, '\'', vn - (size_t)(q1 + 1 - v)) : NULL;
        if (q2) {
          charset = v;
          cslen = (size_t)(q1 - v);
          vn -= (size_t)(q2 + 1 - v);
          v = q2 + 1;
        }
      }
      pct_decode(&bytes, v, vn);
    } else {
      mc_buf_add(&bytes, v, vn);
    }
    raw[k].section = -2;  /* used */
  }
  if (charset && cslen && mc_charset_to_utf8(&value, charset, cslen,
                                             bytes.data ? bytes.data : "", bytes.len) == 0) {
    mc_buf_free(&bytes);
  } else {
    mc_buf_free(&value);
    value = bytes;
  }
  char *n = strdup(name);
  int rc = n && add_param(st, n, &value) == 0 ? 0 : -1;
  if (rc != 0) free(n);
  mc_buf_free(&value);
  return rc;
}


static int has_sections(const raw_param_t *raw, size_t nraw, const char *name) {
  for (size_t k = 0; k < nraw; k++)
    if (raw[k].section != -1 && strcmp(raw[k].name, name) == 0) return 1;
  return 0;
}


int mc_structured_parse(mc_structured_t *st, const char *s, size_t n) {
  memset(st, 0, sizeof *st);
  size_t i = 0;
  skip_cfws(s, n, &i);
  size_t start = i;
  while (i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t' && s[i] != '(') i++;
  st->value = dup_lower(s + start, i - start);
  if (st->value == NULL) return -1;
  raw_param_t raw[MAX_PARAMS];
  size_t nraw = 0;
  int rc = 0;
  while (i < n && nraw < MAX_PARAMS) {
    while (i < n && s[i] != ';') i++;
    if (i >= n) break;
    i++;
    skip_cfws(s, n, &i);
    size_t ns = i;
    while (i < n && s[i] != '=' && s[i] != ';' && s[i] != ' ' && s[i] != '\t') i++;
    size_t ne = i;
    skip_cfws(s, n, &i);
    if (i >= n || s[i] != '=' || ne == ns) continue;
    i++;
    skip_cfws(s, n, &i);
    raw_param_t *p = &raw[nraw];
    p->section = -1;
    p->extended = 0;
    if (ne > ns && s[ne - 1] == '*') { p->extended = 1; ne--; }
    const char *star = memchr(s + ns, '*', ne - ns);
    if (star) {
      char *endp;
      long sec = strtol(star + 1, &endp, 10);
      if (endp == s + ne && sec >= 0 && sec < MAX_SECTIONS) p->section = (int)sec;
      ne = (size_t)(star - s);
    } else if (p->extended) {
      p->section = 0;  /* name*=: a single extended section */
    }
    p->name = dup_lower(s + ns, ne - ns);
    p->value = (mc_buf_t)MC_BUF_INIT;
    if (p->name == NULL) { rc = -1; break; }
    read_value(&p->value, s, n, &i);
    nraw++;
  }
  for (size_t k = 0; k < nraw && rc == 0; k++) {
    if (raw[k].section == -2) continue;
    if (raw[k].section >= 0) { rc = join_sections(st, raw, nraw, k); continue; }
    if (has_sections(raw, nraw, raw[k].name)) continue;  /* RFC 2231 wins */
    /* Plain values may hold encoded-words (name="=?UTF-8?B?...?="). */
    mc_buf_t v = MC_BUF_INIT;
    mc_hdr_decode(&v, raw[k].value.data ? raw[k].value.data : "", raw[k].value.len);
    char *name = strdup(raw[k].name);
    if (name == NULL || add_param(st, name, &v) != 0) { free(name); rc = -1; }
    mc_buf_free(&v);
  }
  for (size_t k = 0; k < nraw; k++) {
    free(raw[k].name);
    mc_buf_free(&raw[k].value);
  }
  if (rc != 0) mc_structured_free(st);
  return rc;
}


const char *mc_structured_param(const mc_structured_t *st, const char *name) {
  for (size_t i = 0; i < st->nparams; i++)
    if (strcmp(st->params[i].name, name) == 0) return st->params[i].value;
  return NULL;
}


void mc_structured_free(mc_structured_t *st) {
  free(st->value);
  for (size_t i = 0; i < st->nparams; i++) {
    free(st->params[i].name);
    free(st->params[i].value);
  }
  free(st->params);
  memset(st, 0, sizeof *st);
}
