#include "dkim.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "b64.h"
#include "dkim_hash.h"

#define WIDTH 78                 /* RFC 5322 2.1.1: lines SHOULD stay within 78 */
#define FIELD "DKIM-Signature"
#define FIELD_LEN 14

const char *const mc_dkim_default_headers[] = {
  "From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
  "Content-Transfer-Encoding", "Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post",
  "Feedback-ID", "In-Reply-To", "References", NULL,
};


int mc_dkim_valid_domain(const char *s, size_t n) {
  if (n == 0 || n > 253) return 0;
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '.') {
      if (label == 0) return 0;   /* an empty label: "..", or a dot at the start */
      label = 0;
      continue;
    }
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_';
    if (!ok || ++label > 63) return 0;
  }
  return label > 0;
}


static int valid_field_name(const char *s) {
  if (*s == '\0') return 0;
  for (; *s; s++)
    if (*s <= 32 || *s >= 127 || *s == ':') return 0;
  return 1;
}


/* i= (3.5): printable ASCII without ";" before an "@", then d= or one of
 * its subdomains. */
static int valid_identity(const char *i, const char *domain) {
  const char *at = strrchr(i, '@');
  if (at == NULL) return 0;
  for (const char *p = i; p < at; p++)
    if (*p <= 32 || *p >= 127 || *p == ';') return 0;
  const char *d = at + 1;
  size_t n = strlen(d), dn = strlen(domain);
  if (!mc_dkim_valid_domain(d, n)) return 0;
  if (n == dn) return strcasecmp(d, domain) == 0;
  return n > dn && d[n - dn - 1] == '.' && strcasecmp(d + n - dn, domain) == 0;
}


static size_t count_fields(const mc_dkim_msg_t *m, const char *name) {
  size_t n = 0, len = strlen(name);
  for (size_t i = 0; i < m->count; i++) n += mc_dkim_field_is(&m->fields[i], name, len);
  return n;
}


static int in_list(const char *const *list, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(list[i], name) == 0) return 1;
  return 0;
}


/* The h= list: each name as many times as the message has the field
 * (all of them signed), once more when oversigned. From comes first and
 * is always there; a name listed twice counts once. NULL with e set. */
static mc_dkim_str_t *sign_list(const mc_dkim_msg_t *m, const mc_dkim_sign_opts_t *o,
                                size_t *count, mc_error_t *e) {
  static const char *const from[] = {"From"};
  const char *const *headers = o->headers ? o->headers : mc_dkim_default_headers;
  size_t nheaders = o->headers ? o->nheaders : sizeof mc_dkim_default_headers / sizeof *headers - 1;
  const char *const *over = o->oversign ? o->oversign : from;
  size_t nover = o->oversign ? o->noversign : 1;
  size_t froms = count_fields(m, "From");
  if (froms == 0) {
    mc_error_set(e, "dkim: the message has no From field");
    return NULL;
  }
  /* Verifiers fail a message with two (mc_dkim_verify, dkimpy): a
   * signature over it would be worth nothing. */
  if (froms > 1) {
    mc_error_set(e, "dkim: the message has more than one From field");
    return NULL;
  }
  mc_dkim_str_t *names = malloc((m->count + nheaders + 2) * sizeof *names);
  if (names == NULL) {
    mc_error_set(e, "dkim: out of memory");
    return NULL;
  }
  size_t n = 0;
  for (size_t i = 0; i <= nheaders; i++) {
    const char *name = i == 0 ? "From" : headers[i - 1];
    if (i > 0 && (strcasecmp(name, "From") == 0 ||
                  (o->headers && in_list(headers, i - 1, name))))   /* the default has no repeats */
      continue;
    size_t times = count_fields(m, name) + in_list(over, nover, name);
    for (size_t k = 0; k < times; k++) names[n++] = (mc_dkim_str_t){name, strlen(name)};
  }
  *count = n;
  return names;
}


/* The signature field as it is written: folded before a tag that would
 * pass column 78, and inside h=, bh= and b= values where they allow it. */
typedef struct {
  mc_buf_t *b;
  size_t col;
} line_t;


static void put(line_t *l, const char *s, size_t n) {
  mc_buf_add(l->b, s, n);
  l->col += n;
}


static void newline(line_t *l) {
  mc_buf_add(l->b, "\r\n ", 3);
  l->col = 1;
}


/* The space before a tag, or a line break when need more columns do not fit. */
static void gap(line_t *l, size_t need) {
  if (l->col + 1 + need > WIDTH) newline(l);
  else put(l, " ", 1);
}


static void tag_n(line_t *l, const char *text, size_t n) {
  gap(l, n);
  put(l, text, n);
}


static void tag(line_t *l, const char *text) {
  tag_n(l, text, strlen(text));
}


/* h=: FWS may come before or after any ":" (3.5). */
static void h_tag(line_t *l, const mc_dkim_str_t *names, size_t n) {
  gap(l, 2 + names[0].n + 1);
  put(l, "h=", 2);
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && l->col + names[i].n + 1 > WIDTH) newline(l);
    for (size_t k = 0; k < names[i].n; k++) {   /* lower case, as canonical names are */
      char c = names[i].p[k];
      mc_buf_addc(l->b, (char)(c >= 'A' && c <= 'Z' ? c + 32 : c));
    }
    l->col += names[i].n;
    put(l, i + 1 < n ? ":" : ";", 1);
  }
}


/* Base64 text, broken where a line fills: FWS may come between any two
 * characters of a base64 value (3.5); one column stays free for ";". */
static void b64_value(line_t *l, const unsigned char *data, size_t n) {
  char text[MC_DKIM_SIG_MAX / 3 * 4 + 8];
  size_t len = mc_b64_encode(text, data, n, 0);
  for (size_t at = 0; at < len;) {
    if (l->col + 1 >= WIDTH) newline(l);
    size_t take = WIDTH - 1 - l->col;
    if (take > len - at) take = len - at;
    put(l, text + at, take);
    at += take;
  }
}


/* Everything up to and with "b=": what the header hash covers. */
static void head(line_t *l, const mc_dkim_key_t *key, const mc_dkim_sign_opts_t *o,
                 const mc_dkim_str_t *names, size_t n, const unsigned char *bh, uint64_t blen) {
  static const char *const canon[] = {"simple", "relaxed"};
  char t[400];
  put(l, FIELD ":", FIELD_LEN + 1);
  tag(l, "v=1;");
  snprintf(t, sizeof t, "a=%s;", mc_dkim_alg_name(mc_dkim_key_alg(key)));
  tag(l, t);
  snprintf(t, sizeof t, "c=%s/%s;", canon[o->header_canon], canon[o->body_canon]);
  tag(l, t);
  snprintf(t, sizeof t, "d=%s;", o->domain);
  tag(l, t);
  snprintf(t, sizeof t, "s=%s;", o->selector);
  tag(l, t);
  if (o->timestamp) {
    snprintf(t, sizeof t, "t=%lld;", (long long)o->time);
    tag(l, t);
  }
  if (o->expire > 0) {
    snprintf(t, sizeof t, "x=%lld;", (long long)(o->time + o->expire));
    tag(l, t);
  }
  if (o->body_length) {
    snprintf(t, sizeof t, "l=%llu;", (unsigned long long)blen);
    tag(l, t);
  }
  if (o->identity) {
    mc_buf_t i = MC_BUF_INIT;
    mc_buf_printf(&i, "i=%s;", o->identity);
    if (!i.failed) tag_n(l, i.data, i.len);
    mc_buf_free(&i);
  }
  h_tag(l, names, n);
  gap(l, 3 + mc_b64_encoded_len(MC_DKIM_HASH_LEN, 0) + 1);   /* whole on one line */
  put(l, "bh=", 3);
  b64_value(l, bh, MC_DKIM_HASH_LEN);
  put(l, ";", 1);
  gap(l, 2 + 8);
  put(l, "b=", 2);
}


static int check_opts(const mc_dkim_key_t *key, const mc_dkim_sign_opts_t *o, mc_error_t *e) {
  if (!mc_dkim_key_is_private(key)) mc_error_set(e, "dkim: signing needs a private key");
  else if (o->domain == NULL || !mc_dkim_valid_domain(o->domain, strlen(o->domain)))
    mc_error_set(e, "dkim: the domain (d=) is not a domain name");
  else if (o->selector == NULL || !mc_dkim_valid_domain(o->selector, strlen(o->selector)))
    mc_error_set(e, "dkim: the selector (s=) is not a domain name label");
  else if (o->identity && !valid_identity(o->identity, o->domain))
    mc_error_set(e, "dkim: the identity (i=) is not an address at the domain or a subdomain");
  else {
    for (size_t i = 0; o->headers && i < o->nheaders; i++) {
      if (valid_field_name(o->headers[i])) continue;
      mc_error_set(e, "dkim: headers[%zu] is not a field name", i + 1);
      return -1;
    }
    for (size_t i = 0; o->oversign && i < o->noversign; i++) {
      if (valid_field_name(o->oversign[i])) continue;
      mc_error_set(e, "dkim: oversign[%zu] is not a field name", i + 1);
      return -1;
    }
    return 0;
  }
  return -1;
}


int mc_dkim_sign(mc_dkim_key_t *key, const mc_dkim_sign_opts_t *o, const char *msg, size_t len,
                 mc_buf_t *out, mc_error_t *e) {
  if (check_opts(key, o, e) != 0) return -1;
  mc_dkim_msg_t m;
  if (mc_dkim_msg_split(&m, msg, len) != 0) {
    mc_error_set(e, "dkim: out of memory");
    return -1;
  }
  size_t n = 0;
  mc_dkim_str_t *names = sign_list(&m, o, &n, e);
  mc_buf_t field = MC_BUF_INIT;
  mc_buf_reserve(&field, 1024);   /* room for a 4096-bit signature: no regrowing */
  line_t l = {&field, 0};
  unsigned char bh[MC_DKIM_HASH_LEN], hash[MC_DKIM_HASH_LEN], sig[MC_DKIM_SIG_MAX];
  uint64_t blen;
  size_t siglen;
  int rc = -1;
  if (names == NULL) goto done;
  if (mc_dkim_body_hash(&m, o->body_canon, UINT64_MAX, bh, &blen) != 0) {
    mc_error_set(e, "dkim: out of memory");
    goto done;
  }
  head(&l, key, o, names, n, bh, blen);
  if (field.failed ||
      mc_dkim_header_hash(&m, names, n, o->header_canon, field.data, field.len, FIELD_LEN, hash) != 0) {
    mc_error_set(e, "dkim: out of memory");
    goto done;
  }
  if (mc_dkim_key_sign(key, hash, sig, &siglen, e) != 0) goto done;
  b64_value(&l, sig, siglen);
  mc_buf_add(&field, "\r\n", 2);
  if (field.failed) {
    mc_error_set(e, "dkim: out of memory");
    goto done;
  }
  mc_buf_add(out, field.data, field.len);
  rc = 0;
done:
  mc_buf_free(&field);
  free(names);
  mc_dkim_msg_free(&m);
  return rc;
}
