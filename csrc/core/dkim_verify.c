#include "dkim_verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "dkim.h"
#include "dkim_hash.h"
#include "dkim_tags.h"

#define FIELD "DKIM-Signature"
#define FIELD_LEN 14
#define MAX_NAMES 1024   /* in h=: selecting costs names x fields, so a hostile
                            message must not name thousands */

/* What the check needs of a signature parsed by mc_dkim_verify_begin;
 * the strings point into the message. */
struct mc_dkim_sig {
  const mc_dkim_field_t *field;
  mc_dkim_alg_t alg;
  mc_dkim_canon_t header_canon, body_canon;
  uint64_t length;               /* l=, or UINT64_MAX */
  mc_dkim_str_t b, bh, d, auid;  /* auid: the domain of i= */
  mc_dkim_tag_t h;
  size_t b_from, b_to;           /* the b= value (and white space) within the field */
};


const char *mc_dkim_status_name(mc_dkim_status_t s) {
  static const char *const names[] = {"none", "pass", "fail", "permerror", "temperror"};
  return names[s];
}


static void copy(char *dst, size_t size, const char *s, size_t n) {
  if (n >= size) n = size - 1;
  memcpy(dst, s, n);
  dst[n] = '\0';
}


static void set(mc_dkim_result_t *r, mc_dkim_status_t status, const char *reason) {
  r->status = status;
  copy(r->reason, sizeof r->reason, reason, strlen(reason));
}


/* A run of digits as a number, saturated: l= may have up to 76 digits. */
static int number(const mc_dkim_tag_t *tag, uint64_t *out) {
  if (tag->value_len == 0) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < tag->value_len; i++) {
    char c = tag->value[i];
    if (c < '0' || c > '9') return -1;
    unsigned d = (unsigned)(c - '0');
    v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
  }
  *out = v;
  return 0;
}


static int64_t clamp(uint64_t v) {
  return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}


static int canon_word(const char *s, size_t n, mc_dkim_canon_t *c) {
  if (n == 6 && memcmp(s, "simple", 6) == 0) *c = MC_DKIM_SIMPLE;
  else if (n == 7 && memcmp(s, "relaxed", 7) == 0) *c = MC_DKIM_RELAXED;
  else return -1;
  return 0;
}


/* c=header[/body]; body alone defaults to simple, both without c= (3.5). */
static int parse_canon(const mc_dkim_tag_t *c, mc_dkim_sig_t *sig) {
  sig->header_canon = sig->body_canon = MC_DKIM_SIMPLE;
  if (c == NULL) return 0;
  const char *slash = memchr(c->value, '/', c->value_len);
  size_t hn = slash ? (size_t)(slash - c->value) : c->value_len;
  if (canon_word(c->value, hn, &sig->header_canon) != 0) return -1;
  return slash ? canon_word(slash + 1, c->value_len - hn - 1, &sig->body_canon) : 0;
}


/* True when h= names From (6.1.1: a signature that does not is ignored). */
static int signs_from(const mc_dkim_tag_t *h) {
  size_t pos = 0, n;
  const char *s;
  while (mc_dkim_tag_next(h, ':', &pos, &s, &n) == 0)
    if (n == 4 && strncasecmp(s, "from", 4) == 0) return 1;
  return 0;
}


/* d= ends with i='s domain: equal, or i= in a subdomain of d=. */
static int auid_in_domain(const mc_dkim_str_t *auid, const mc_dkim_str_t *d, int strict) {
  if (auid->n == d->n) return strncasecmp(auid->p, d->p, d->n) == 0;
  return !strict && auid->n > d->n && auid->p[auid->n - d->n - 1] == '.' &&
         strncasecmp(auid->p + auid->n - d->n, d->p, d->n) == 0;
}


static const char *check_tags(const mc_dkim_tags_t *t, mc_dkim_sig_t *sig, mc_dkim_result_t *r) {
  const mc_dkim_tag_t *v = mc_dkim_tags_get(t, "v"), *a = mc_dkim_tags_get(t, "a"),
                      *b = mc_dkim_tags_get(t, "b"), *bh = mc_dkim_tags_get(t, "bh"),
                      *d = mc_dkim_tags_get(t, "d"), *h = mc_dkim_tags_get(t, "h"),
                      *s = mc_dkim_tags_get(t, "s"), *i = mc_dkim_tags_get(t, "i"),
                      *l = mc_dkim_tags_get(t, "l"), *q = mc_dkim_tags_get(t, "q"),
                      *ts = mc_dkim_tags_get(t, "t"), *x = mc_dkim_tags_get(t, "x");
  if (d) copy(r->domain, sizeof r->domain, d->value, d->value_len);
  if (s) copy(r->selector, sizeof r->selector, s->value, s->value_len);
  if (a) copy(r->algorithm, sizeof r->algorithm, a->value, a->value_len);
  if (i) copy(r->identity, sizeof r->identity, i->value, i->value_len);
  if (!v || !a || !b || !bh || !d || !h || !s) return "a required tag (v, a, b, bh, d, h, s) is missing";
  if (!mc_dkim_tag_is(v, "1")) return "v= is not 1";
  if (mc_dkim_tag_is(a, "rsa-sha256")) sig->alg = MC_DKIM_RSA_SHA256;
  else if (mc_dkim_tag_is(a, "ed25519-sha256")) sig->alg = MC_DKIM_ED25519_SHA256;
  else if (mc_dkim_tag_is(a, "rsa-sha1")) return "rsa-sha1 is not accepted (RFC 8301)";
  else return "unknown algorithm a=";
  if (parse_canon(mc_dkim_tags_get(t, "c"), sig) != 0) return "unknown canonicalization c=";
  if (!mc_dkim_valid_domain(d->value, d->value_len)) return "d= is not a domain name";
  if (!mc_dkim_valid_domain(s->value, s->value_len)) return "s= is not a selector";
  if (!signs_from(h)) return "h= does not sign From";
  size_t names = 1;
  for (size_t k = 0; k < h->value_len; k++) names += h->value[k] == ':';
  if (names > MAX_NAMES) return "h= names too many fields";
  if (q && !memmem(q->value, q->value_len, "dns/txt", 7)) return "unknown query method q=";
  sig->d = (mc_dkim_str_t){d->value, d->value_len};
  sig->auid = sig->d;
  if (i) {
    const char *at = NULL;
    for (size_t k = 0; k < i->value_len; k++) if (i->value[k] == '@') at = i->value + k;
    if (at == NULL) return "i= has no @";
    sig->auid = (mc_dkim_str_t){at + 1, (size_t)(i->value + i->value_len - at - 1)};
    if (!auid_in_domain(&sig->auid, &sig->d, 0)) return "i= is not in d=";
  }
  uint64_t n;
  sig->length = UINT64_MAX;
  if (l) {
    if (number(l, &sig->length) != 0) return "l= is not a number";
    r->body_length = clamp(sig->length);
  }
  if (ts) {
    if (number(ts, &n) != 0) return "t= is not a number";
    r->timestamp = clamp(n);
  }
  if (x) {
    if (number(x, &n) != 0) return "x= is not a number";
    r->expire = clamp(n);
    if (ts && r->expire < r->timestamp) return "x= is before t=";
  }
  sig->b = (mc_dkim_str_t){b->value, b->value_len};
  sig->bh = (mc_dkim_str_t){bh->value, bh->value_len};
  sig->h = *h;
  sig->b_from = (size_t)(b->after_eq - sig->field->start);
  sig->b_to = (size_t)(b->end - sig->field->start);
  return NULL;
}


static void parse_sig(mc_dkim_sig_t *sig, mc_dkim_result_t *r) {
  const mc_dkim_field_t *f = sig->field;
  const char *colon = memchr(f->start, ':', f->len);
  const char *value = colon + 1, *end = f->start + f->len;
  mc_dkim_tags_t tags;
  const char *why;
  r->timestamp = r->expire = r->body_length = -1;
  if (mc_dkim_tags_parse(&tags, value, (size_t)(end - value), &why) != 0) {
    snprintf(r->reason, sizeof r->reason, "malformed signature: %s", why);
    r->status = MC_DKIM_PERMERROR;
    return;
  }
  why = check_tags(&tags, sig, r);
  if (why) set(r, MC_DKIM_PERMERROR, why);
}


int mc_dkim_verify_begin(mc_dkim_verify_t *v, const char *raw, size_t len, size_t max,
                         mc_error_t *e) {
  memset(v, 0, sizeof *v);
  if (mc_dkim_msg_split(&v->msg, raw, len) != 0) {
    mc_error_set(e, "dkim: out of memory");
    return -1;
  }
  size_t n = 0;
  for (size_t i = 0; i < v->msg.count; i++)
    n += mc_dkim_field_is(&v->msg.fields[i], FIELD, FIELD_LEN);
  if (max && n > max) n = max;
  v->results = calloc(n ? n : 1, sizeof *v->results);
  v->sigs = calloc(n ? n : 1, sizeof *v->sigs);
  if (v->results == NULL || v->sigs == NULL) {
    mc_dkim_verify_end(v);
    mc_error_set(e, "dkim: out of memory");
    return -1;
  }
  for (size_t i = 0; i < v->msg.count && v->count < n; i++) {
    if (!mc_dkim_field_is(&v->msg.fields[i], FIELD, FIELD_LEN)) continue;
    v->sigs[v->count].field = &v->msg.fields[i];
    parse_sig(&v->sigs[v->count], &v->results[v->count]);
    v->count++;
  }
  return 0;
}


void mc_dkim_verify_key_name(const mc_dkim_verify_t *v, size_t i, char *out, size_t size) {
  snprintf(out, size, "%s._domainkey.%s", v->results[i].selector, v->results[i].domain);
}


void mc_dkim_verify_set(mc_dkim_verify_t *v, size_t i, mc_dkim_status_t status,
                        const char *reason) {
  if (v->results[i].status == MC_DKIM_NONE) set(&v->results[i], status, reason);
}


/* Base64 into a new buffer; NULL when it is not base64 (or no memory). */
static unsigned char *decode(const mc_dkim_str_t *s, size_t *n) {
  unsigned char *d = malloc(s->n / 4 * 3 + 3);
  size_t bad;
  if (d && (*n = mc_b64_decode(d, s->p, s->n, 1, &bad)) == (size_t)-1) {
    free(d);
    d = NULL;
  }
  return d;
}


static const char *check_body(const mc_dkim_verify_t *v, const mc_dkim_sig_t *sig,
                              mc_dkim_status_t *status) {
  unsigned char hash[MC_DKIM_HASH_LEN];
  uint64_t len;
  *status = MC_DKIM_FAIL;
  if (mc_dkim_body_hash(&v->msg, sig->body_canon, sig->length, hash, &len) != 0) {
    *status = MC_DKIM_TEMPERROR;
    return "out of memory";
  }
  if (sig->length != UINT64_MAX && sig->length > len) return "l= is longer than the body";
  size_t n;
  unsigned char *bh = decode(&sig->bh, &n);
  if (bh == NULL) {
    *status = MC_DKIM_PERMERROR;
    return "bh= is not base64";
  }
  int same = n == MC_DKIM_HASH_LEN && memcmp(bh, hash, n) == 0;
  free(bh);
  return same ? NULL : "body hash mismatch";
}


/* The header hash, over the fields h= names and this field with its b=
 * value taken out (3.7). */
static int header_hash(const mc_dkim_verify_t *v, const mc_dkim_sig_t *sig,
                       unsigned char hash[MC_DKIM_HASH_LEN]) {
  const mc_dkim_field_t *f = sig->field;
  size_t count = 1, pos = 0, n;
  const char *s;
  for (size_t k = 0; k < sig->h.value_len; k++) count += sig->h.value[k] == ':';
  mc_dkim_str_t *names = malloc(count * sizeof *names);
  char *field = malloc(f->len);
  int rc = -1;
  if (names && field) {
    count = 0;
    while (mc_dkim_tag_next(&sig->h, ':', &pos, &s, &n) == 0) names[count++] = (mc_dkim_str_t){s, n};
    memcpy(field, f->start, sig->b_from);
    memcpy(field + sig->b_from, f->start + sig->b_to, f->len - sig->b_to);
    rc = mc_dkim_header_hash(&v->msg, names, count, sig->header_canon, field,
                             f->len - (sig->b_to - sig->b_from), f->name_len, hash);
  }
  free(names);
  free(field);
  return rc;
}


/* Fields a message has at most once (RFC 5322 3.6, RFC 2045): one more
 * of them than the signature signs was added above the signed one after
 * signing, and a reader shows the added one (an extra From). */
static const char *const single_fields[] = {
  "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Message-ID", "In-Reply-To", "References",
  "Subject", "Date", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", NULL,
};


static size_t fields_named(const mc_dkim_msg_t *m, const char *name, size_t n) {
  size_t count = 0;
  for (size_t i = 0; i < m->count; i++) count += mc_dkim_field_is(&m->fields[i], name, n);
  return count;
}


/* Why the message's fields undo what the signature says, or NULL: more
 * than one From (dkimpy fails it too), or more fields of a kind there
 * is one of than h= signs. */
static const char *added_field(const mc_dkim_verify_t *v, const mc_dkim_sig_t *sig) {
  if (fields_named(&v->msg, "From", 4) > 1) return "the message has more than one From field";
  for (size_t k = 0; single_fields[k]; k++) {
    const char *name = single_fields[k];
    size_t len = strlen(name), signed_n = 0, pos = 0, n;
    const char *s;
    while (mc_dkim_tag_next(&sig->h, ':', &pos, &s, &n) == 0)
      signed_n += n == len && strncasecmp(s, name, len) == 0;
    if (signed_n > 0 && fields_named(&v->msg, name, len) > signed_n) return "a signed field was added after signing";
  }
  return NULL;
}


/* Why signature i fails against key, or NULL when it passes. */
static const char *check(const mc_dkim_verify_t *v, size_t i, const mc_dkim_key_t *key,
                         int64_t now, mc_dkim_status_t *status) {
  const mc_dkim_result_t *r = &v->results[i];
  const mc_dkim_sig_t *sig = &v->sigs[i];
  *status = MC_DKIM_PERMERROR;
  if (mc_dkim_key_alg(key) != sig->alg) return "the key is not for a=";
  if (mc_dkim_key_strict(key) && !auid_in_domain(&sig->auid, &sig->d, 1))
    return "the key allows no subdomain in i= (t=s)";
  *status = MC_DKIM_FAIL;
  if (r->expire >= 0 && now > r->expire) return "signature expired";
  const char *why = added_field(v, sig);
  if (why) return why;
  why = check_body(v, sig, status);
  if (why) return why;
  size_t n;
  unsigned char hash[MC_DKIM_HASH_LEN], *b = decode(&sig->b, &n);
  *status = MC_DKIM_PERMERROR;
  if (b == NULL) return "b= is not base64";
  *status = MC_DKIM_TEMPERROR;
  if (header_hash(v, sig, hash) != 0) why = "out of memory";
  else if (!mc_dkim_key_verify(key, hash, b, n)) why = "signature did not verify";
  free(b);
  *status = why ? MC_DKIM_FAIL : MC_DKIM_PASS;
  return why;
}


void mc_dkim_verify_check(mc_dkim_verify_t *v, size_t i, const mc_dkim_key_t *key, int64_t now) {
  mc_dkim_result_t *r = &v->results[i];
  if (r->status != MC_DKIM_NONE) return;
  r->testing = mc_dkim_key_testing(key);
  mc_dkim_status_t status;
  const char *why = check(v, i, key, now, &status);
  if (why) set(r, status, why);
  else r->status = MC_DKIM_PASS;
}


void mc_dkim_verify_end(mc_dkim_verify_t *v) {
  mc_dkim_msg_free(&v->msg);
  free(v->results);
  free(v->sigs);
  memset(v, 0, sizeof *v);
}
