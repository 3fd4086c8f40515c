/* The machine-readable parts of multipart/report: message/delivery-status
 * (RFC 3464 2, RFC 6533 for message/global-delivery-status) and
 * message/feedback-report (RFC 5965 3.1). Both are groups of header-like
 * fields separated by blank lines; senders fold, indent and leave out
 * fields, so the reader takes what is there. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "bounce_internal.h"

typedef int (*field_fn)(void *ctx, int group, const char *name, size_t nn,
                        const char *value, size_t vn);


static size_t line_end(const char *s, size_t n, size_t i) {
  const char *nl = memchr(s + i, '\n', n - i);
  return nl ? (size_t)(nl - s) : n;
}


static int is_blank_line(const char *s, size_t from, size_t to) {
  for (size_t i = from; i < to; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
  return 1;
}


/* Calls fn for every field, its value unfolded (each continuation joined
 * with one space); group counts the blank-line-separated groups from 0.
 * A line that is not "Name: value" is skipped. Returns -1 when fn does. */
static int each_field(const char *s, size_t n, field_fn fn, void *ctx) {
  int group = 0, in_group = 0;
  size_t i = 0;
  mc_buf_t value = MC_BUF_INIT;
  while (i < n) {
    size_t e = line_end(s, n, i);
    size_t next = e < n ? e + 1 : n;
    if (is_blank_line(s, i, e)) {
      if (in_group) group++;
      in_group = 0;
      i = next;
      continue;
    }
    size_t colon = i;
    while (colon < e && s[colon] != ':' && s[colon] > ' ' && s[colon] < 127) colon++;
    if (colon == i || colon >= e || s[colon] != ':') { i = next; continue; }
    size_t name_at = i, nn = colon - i;
    value.len = 0;
    size_t content = e > colon && s[e - 1] == '\r' ? e - 1 : e;
    mc_buf_add(&value, s + colon + 1, content - colon - 1);
    i = next;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) {   /* continuation */
      e = line_end(s, n, i);
      if (is_blank_line(s, i, e)) break;
      content = e > i && s[e - 1] == '\r' ? e - 1 : e;
      size_t from = i;
      while (from < content && (s[from] == ' ' || s[from] == '\t')) from++;
      mc_buf_addc(&value, ' ');
      mc_buf_add(&value, s + from, content - from);
      i = e < n ? e + 1 : n;
    }
    if (value.failed) { mc_buf_free(&value); return -1; }
    in_group = 1;
    if (fn(ctx, group, s + name_at, nn, value.data ? value.data : "", value.len) != 0) {
      mc_buf_free(&value);
      return -1;
    }
  }
  mc_buf_free(&value);
  return 0;
}


static int named(const char *name, size_t nn, const char *want) {
  return strlen(want) == nn && strncasecmp(name, want, nn) == 0;
}


/* The part after "type;" ("rfc822; a@b", "dns; mx.example", "smtp; 550
 * ..."), or all of it when there is no type. */
static const char *after_type(const char *v, size_t vn, size_t *rest) {
  const char *semi = memchr(v, ';', vn);
  if (semi) {
    int typed = semi > v;
    for (const char *p = v; p < semi; p++)
      if (!(((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == ' ')) typed = 0;
    if (typed) {
      *rest = vn - (size_t)(semi + 1 - v);
      return semi + 1;
    }
  }
  *rest = vn;
  return v;
}


static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}


/* Appends code point cp as UTF-8; 0 for one it cannot write. */
static int put_utf8(mc_buf_t *out, unsigned long cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  if (cp < 0x80) { mc_buf_addc(out, (char)cp); return 1; }
  if (cp < 0x800) {
    mc_buf_addc(out, (char)(0xC0 | (cp >> 6)));
  } else if (cp < 0x10000) {
    mc_buf_addc(out, (char)(0xE0 | (cp >> 12)));
    mc_buf_addc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
  } else {
    mc_buf_addc(out, (char)(0xF0 | (cp >> 18)));
    mc_buf_addc(out, (char)(0x80 | ((cp >> 12) & 0x3F)));
    mc_buf_addc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
  }
  mc_buf_addc(out, (char)(0x80 | (cp & 0x3F)));
  return 1;
}


/* An address-typed value ("rfc822; a@b", "utf-8; a@b") as an address:
 * the type dropped, xtext ("+2B", RFC 3461 4) and RFC 6533's "\x{HH}"
 * decoded, angle brackets removed. */
static int set_address(char **dst, const char *v, size_t vn) {
  size_t n;
  const char *a = after_type(v, vn, &n);
  mc_buf_t out = MC_BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    if (a[i] == '+' && i + 2 < n && hexval(a[i + 1]) >= 0 && hexval(a[i + 2]) >= 0 &&
        (a[i + 1] < 'a') && (a[i + 2] < 'a')) {      /* xtext uses upper case */
      mc_buf_addc(&out, (char)(hexval(a[i + 1]) * 16 + hexval(a[i + 2])));
      i += 2;
      continue;
    }
    if (a[i] == '\\' && i + 3 < n && a[i + 1] == 'x' && a[i + 2] == '{') {
      unsigned long cp = 0;
      size_t j = i + 3;
      while (j < n && j < i + 10 && hexval(a[j]) >= 0) cp = cp * 16 + (unsigned long)hexval(a[j++]);
      if (j < n && a[j] == '}' && j > i + 3 && put_utf8(&out, cp)) { i = j; continue; }
    }
    if (a[i] != '<' && a[i] != '>') mc_buf_addc(&out, a[i]);
  }
  const char *v2 = out.data ? out.data : "";
  size_t n2 = out.len, at, len;
  /* "a@b (comment)", "Name a@b": the address alone. */
  if (!out.failed && (memchr(v2, ' ', n2) || memchr(v2, '(', n2)) && !memchr(v2, '"', n2) &&
      mc_bounce_find_addr(v2, n2, 0, &at, &len)) {
    v2 += at;
    n2 = len;
  }
  int rc = out.failed ? -1 : mc_bounce_set(dst, v2, n2);
  mc_buf_free(&out);
  return rc;
}


static int set_typed(char **dst, const char *v, size_t vn) {
  size_t n;
  const char *rest = after_type(v, vn, &n);
  return mc_bounce_set(dst, rest, n);
}


static int set_lower(char **dst, const char *v, size_t vn) {
  if (mc_bounce_set(dst, v, vn) != 0) return -1;
  for (char *p = *dst; *p; p++) if (*p >= 'A' && *p <= 'Z') *p += 32;
  return 0;
}


/* The recipient being read: fields gather here until its group ends. */
typedef struct {
  mc_bounce_t *b;
  int group;
  mc_bounce_rcpt_t cur;
  int has_cur;
} dsn_ctx_t;


/* Moves the gathered recipient into the list when it names someone. */
static int commit(dsn_ctx_t *c) {
  if (!c->has_cur) return 0;
  c->has_cur = 0;
  mc_bounce_rcpt_t *cur = &c->cur;
  /* A Final-Recipient that is no address ("LOCAL; user", an X.400 or
   * Exchange name) gives way to an Original-Recipient that is one. */
  if (cur->original && (cur->address == NULL || (strchr(cur->address, '@') == NULL &&
                                                 strchr(cur->original, '@') != NULL))) {
    char *t = cur->address;
    cur->address = cur->original;
    cur->original = t;
  }
  if (cur->address == NULL || cur->address[0] == '\0') { mc_bounce_rcpt_clear(cur); return 0; }
  int oom;
  mc_bounce_rcpt_t *r = mc_bounce_rcpt_new(c->b, &oom);
  if (r == NULL) { mc_bounce_rcpt_clear(cur); return oom ? -1 : 0; }
  *r = *cur;
  memset(cur, 0, sizeof *cur);
  return 0;
}


static int on_dsn_field(void *ctx, int group, const char *name, size_t nn,
                        const char *v, size_t vn) {
  dsn_ctx_t *c = ctx;
  mc_bounce_t *b = c->b;
  if (group != c->group && commit(c) != 0) return -1;
  c->group = group;
  mc_bounce_rcpt_t *r = &c->cur;
  if (named(name, nn, "Reporting-MTA")) return b->reporting_mta ? 0 : set_typed(&b->reporting_mta, v, vn);
  if (named(name, nn, "Arrival-Date")) return b->arrival_date ? 0 : mc_bounce_set(&b->arrival_date, v, vn);
  if (named(name, nn, "X-Postfix-Sender"))   /* the returned message's envelope sender */
    return b->original_mail_from ? 0 : set_address(&b->original_mail_from, v, vn);
  char **dst = NULL;
  int kind = 0;   /* 0 plain, 1 address, 2 typed, 3 lower */
  if (named(name, nn, "Final-Recipient")) { dst = &r->address; kind = 1; }
  else if (named(name, nn, "Original-Recipient")) { dst = &r->original; kind = 1; }
  else if (named(name, nn, "Action")) { dst = &r->action; kind = 3; }
  else if (named(name, nn, "Status")) { dst = &r->status; }
  else if (named(name, nn, "Diagnostic-Code")) { dst = &r->diagnostic; kind = 2; }
  else if (named(name, nn, "Remote-MTA")) { dst = &r->remote_mta; kind = 2; }
  if (dst == NULL) return 0;
  /* A field met twice in one group starts the next recipient: some
   * reports leave out the blank line between recipients. */
  if (*dst && (kind == 1 || dst == &r->action) && commit(c) != 0) return -1;
  c->has_cur = 1;   /* dst still points into c->cur, now perhaps emptied */
  if (vn > MC_BOUNCE_MAX_DIAG) vn = MC_BOUNCE_MAX_DIAG;
  switch (kind) {
    case 1: return set_address(dst, v, vn);
    case 2: return set_typed(dst, v, vn);
    case 3: return set_lower(dst, v, vn);
    default: return mc_bounce_set(dst, v, vn);
  }
}


int mc_bounce_read_dsn(mc_bounce_t *b, const char *s, size_t n) {
  dsn_ctx_t c;
  memset(&c, 0, sizeof c);
  c.b = b;
  int rc = each_field(s, n, on_dsn_field, &c);
  if (rc == 0) rc = commit(&c);
  mc_bounce_rcpt_clear(&c.cur);
  return rc;
}


static int on_arf_field(void *ctx, int group, const char *name, size_t nn,
                        const char *v, size_t vn) {
  mc_bounce_t *b = ctx;
  (void)group;
  if (named(name, nn, "Feedback-Type")) return b->feedback_type ? 0 : set_lower(&b->feedback_type, v, vn);
  if (named(name, nn, "User-Agent")) return b->user_agent ? 0 : mc_bounce_set(&b->user_agent, v, vn);
  if (named(name, nn, "Source-IP")) return b->source_ip ? 0 : mc_bounce_set(&b->source_ip, v, vn);
  if (named(name, nn, "Reporting-MTA")) return b->reporting_mta ? 0 : set_typed(&b->reporting_mta, v, vn);
  if (named(name, nn, "Arrival-Date") || named(name, nn, "Received-Date"))
    return b->arrival_date ? 0 : mc_bounce_set(&b->arrival_date, v, vn);
  if (named(name, nn, "Original-Mail-From"))
    return b->original_mail_from ? 0 : set_address(&b->original_mail_from, v, vn);
  if (named(name, nn, "Original-Rcpt-To")) {
    char *addr = NULL;
    if (set_address(&addr, v, vn) != 0) return -1;
    int oom = 0;
    if (addr[0]) mc_bounce_rcpt(b, addr, strlen(addr), &oom);
    free(addr);
    return oom ? -1 : 0;
  }
  return 0;
}


int mc_bounce_read_arf(mc_bounce_t *b, const char *s, size_t n) {
  return each_field(s, n, on_arf_field, b);
}
