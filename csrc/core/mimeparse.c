#include "mimeparse.h"

#include <stdlib.h>
#include <strings.h>

#include "b64.h"
#include "qp.h"

typedef struct {
  size_t entities;
  int failed;     /* out of memory */
} parse_state_t;


static size_t line_end(const char *s, size_t n, size_t i) {
  const char *nl = memchr(s + i, '\n', n - i);
  return nl ? (size_t)(nl - s) : n;
}


static char *dup_n(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) { memcpy(p, s, n); p[n] = '\0'; }
  return p;
}


static int add_field(mc_entity_t *ent, const char *name, size_t nn,
                     const mc_buf_t *value) {
  mc_hfield_t *f = realloc(ent->fields, (ent->nfields + 1) * sizeof *f);
  if (f == NULL) return -1;
  ent->fields = f;
  const char *v = value->data ? value->data : "";
  size_t vn = value->len;
  while (vn > 0 && (v[0] == ' ' || v[0] == '\t')) { v++; vn--; }
  while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t')) vn--;
  mc_hfield_t h = {dup_n(name, nn), dup_n(v, vn)};
  if (h.name == NULL || h.value == NULL) { free(h.name); free(h.value); return -1; }
  ent->fields[ent->nfields++] = h;
  return 0;
}


/* Reads the header section; returns where the body starts. A line that
 * is neither a field nor a continuation ends the header (and is body). */
static size_t parse_header(mc_entity_t *ent, const char *s, size_t n, int *failed) {
  size_t i = 0;
  if (n >= 5 && memcmp(s, "From ", 5) == 0) i = line_end(s, n, 0) + 1;  /* mbox */
  while (i < n) {
    size_t e = line_end(s, n, i);
    size_t content = e > i && s[e - 1] == '\r' ? e - 1 : e;
    if (content == i) return e < n ? e + 1 : n;  /* the blank line */
    size_t colon = i;
    while (colon < content && s[colon] != ':' && s[colon] > 32 && s[colon] < 127) colon++;
    if (colon == i || colon >= content || s[colon] != ':') return i;
    size_t name_at = i, nn = colon - i;
    mc_buf_t value = MC_BUF_INIT;
    mc_buf_add(&value, s + colon + 1, content - colon - 1);
    i = e < n ? e + 1 : n;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) {  /* unfold */
      e = line_end(s, n, i);
      content = e > i && s[e - 1] == '\r' ? e - 1 : e;
      mc_buf_add(&value, s + i, content - i);
      i = e < n ? e + 1 : n;
    }
    if (value.failed || add_field(ent, s + name_at, nn, &value) != 0) {
      *failed = 1;
    }
    mc_buf_free(&value);
    if (*failed) return n;
  }
  return n;
}


const char *mc_entity_field(const mc_entity_t *ent, const char *name) {
  for (size_t i = 0; i < ent->nfields; i++)
    if (strcasecmp(ent->fields[i].name, name) == 0) return ent->fields[i].value;
  return NULL;
}


static mc_entity_t *parse_entity(const char *s, size_t n, int depth,
                                 const char *default_type, parse_state_t *st);


/* What may follow "--boundary" on a delimiter line (RFC 2046 5.1.1):
 * "--" to close, or white space up to the line break. A line that only
 * starts with the boundary (as a nested one may) is not a delimiter. */
static int delimiter_tail(const char *s, size_t n, size_t i) {
  if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') i += 2;
  while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
  return i == n || s[i] == '\r' || s[i] == '\n';
}


/* Offset of the next delimiter line "--boundary" at or after i, at the
 * start of a line; n when there is none. */
static size_t find_delimiter(const char *s, size_t n, size_t i,
                             const char *b, size_t blen) {
  while (i + 2 + blen <= n) {
    const char *hit = memmem(s + i, n - i, b, blen);
    if (hit == NULL) return n;
    size_t at = (size_t)(hit - s);
    if (at >= 2 && s[at - 1] == '-' && s[at - 2] == '-' &&
        (at == 2 || s[at - 3] == '\n') && delimiter_tail(s, n, at + blen))
      return at - 2;
    i = at + 1;
  }
  return n;
}


static int add_kid(mc_entity_t *ent, mc_entity_t *kid) {
  mc_entity_t **k = realloc(ent->kids, (ent->nkids + 1) * sizeof *k);
  if (k == NULL) return -1;
  ent->kids = k;
  ent->kids[ent->nkids++] = kid;
  return 0;
}


static void parse_multipart(mc_entity_t *ent, const char *s, size_t n,
                            const char *boundary, int depth, parse_state_t *st) {
  size_t blen = strlen(boundary);
  const char *kid_type = strcmp(ent->type.value, "multipart/digest") == 0
                             ? "message/rfc822" : "text/plain";
  size_t at = find_delimiter(s, n, 0, boundary, blen);
  while (at < n && !st->failed) {
    size_t after = at + 2 + blen;
    if (after + 2 <= n && s[after] == '-' && s[after + 1] == '-') return;  /* close */
    size_t start = line_end(s, n, after);
    start = start < n ? start + 1 : n;
    size_t next = find_delimiter(s, n, start, boundary, blen);
    /* The line break before a delimiter belongs to the delimiter. */
    size_t end = next;
    if (next < n) {
      if (end > start && s[end - 1] == '\n') end--;
      if (end > start && s[end - 1] == '\r') end--;
    }
    if (st->entities >= MC_MIME_MAX_ENTITIES) { ent->unterminated = 1; return; }
    mc_entity_t *kid = parse_entity(s + start, end - start, depth + 1, kid_type, st);
    if (kid == NULL || add_kid(ent, kid) != 0) {
      mc_entity_free(kid);
      st->failed = 1;
      return;
    }
    at = next;
  }
  ent->unterminated = 1;
}


static void decode_body(mc_entity_t *ent, const char *s, size_t n) {
  if (strcmp(ent->encoding, "base64") == 0) {
    unsigned char *d = (unsigned char *)mc_buf_tail(&ent->body, n / 4 * 3 + 3);
    if (d) ent->body.len += mc_b64_decode(d, s, n, 0, NULL);
  } else if (strcmp(ent->encoding, "quoted-printable") == 0) {
    mc_qp_decode(&ent->body, s, n);
  } else {
    mc_buf_add(&ent->body, s, n);
  }
}


static mc_entity_t *parse_entity(const char *s, size_t n, int depth,
                                 const char *default_type, parse_state_t *st) {
  mc_entity_t *ent = calloc(1, sizeof *ent);
  if (ent == NULL) return NULL;
  st->entities++;
  int failed = 0;
  size_t body = parse_header(ent, s, n, &failed);
  const char *ct = mc_entity_field(ent, "Content-Type");
  const char *cd = mc_entity_field(ent, "Content-Disposition");
  const char *te = mc_entity_field(ent, "Content-Transfer-Encoding");
  if (failed ||
      mc_structured_parse(&ent->type, ct ? ct : default_type, strlen(ct ? ct : default_type)) != 0 ||
      mc_structured_parse(&ent->disposition, cd ? cd : "", cd ? strlen(cd) : 0) != 0) {
    mc_entity_free(ent);
    return NULL;
  }
  if (strchr(ent->type.value, '/') == NULL) {  /* RFC 2045 5.2: invalid means text/plain */
    mc_structured_free(&ent->type);
    if (mc_structured_parse(&ent->type, "text/plain", 10) != 0) { mc_entity_free(ent); return NULL; }
  }
  mc_structured_t enc;
  if (mc_structured_parse(&enc, te ? te : "7bit", te ? strlen(te) : 4) != 0) {
    mc_entity_free(ent);
    return NULL;
  }
  ent->encoding = enc.value;
  enc.value = NULL;
  mc_structured_free(&enc);

  const char *b = mc_structured_param(&ent->type, "boundary");
  int nested = depth < MC_MIME_MAX_DEPTH;
  if (strncmp(ent->type.value, "multipart/", 10) == 0 && b && *b && strlen(b) <= 200 && nested) {
    parse_multipart(ent, s + body, n - body, b, depth, st);
  } else {
    decode_body(ent, s + body, n - body);
    if ((strcmp(ent->type.value, "message/rfc822") == 0 ||
         strcmp(ent->type.value, "message/global") == 0) && nested && !ent->body.failed) {
      mc_entity_t *kid = parse_entity(ent->body.data ? ent->body.data : "", ent->body.len,
                                      depth + 1, "text/plain", st);
      if (kid == NULL || add_kid(ent, kid) != 0) { mc_entity_free(kid); st->failed = 1; }
    }
  }
  if (ent->body.failed) st->failed = 1;
  return ent;
}


mc_entity_t *mc_mime_parse(const char *s, size_t n, mc_error_t *e) {
  parse_state_t st = {0, 0};
  mc_entity_t *ent = parse_entity(s, n, 0, "text/plain", &st);
  if (ent == NULL || st.failed) {
    mc_entity_free(ent);
    mc_error_set(e, "out of memory");
    return NULL;
  }
  return ent;
}


void mc_entity_free(mc_entity_t *ent) {
  if (ent == NULL) return;
  for (size_t i = 0; i < ent->nfields; i++) {
    free(ent->fields[i].name);
    free(ent->fields[i].value);
  }
  free(ent->fields);
  mc_structured_free(&ent->type);
  mc_structured_free(&ent->disposition);
  free(ent->encoding);
  mc_buf_free(&ent->body);
  for (size_t i = 0; i < ent->nkids; i++) mc_entity_free(ent->kids[i]);
  free(ent->kids);
  free(ent);
}
