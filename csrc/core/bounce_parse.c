/* mc_bounce_parse: what a message that came back is, who it is about,
 * and why. The MIME tree comes from mc_mime_parse; the reports' fields,
 * the texts and the heuristics live in bounce_report.c, bounce_text.c
 * and bounce_detect.c. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounce_internal.h"
#include "bounce_rules.h"
#include "buf.h"
#include "charset.h"
#include "hdrdecode.h"
#include "html_entity.h"
#include "utf8.h"

#define MAX_PART_DEPTH 4   /* reports sit at the top; a wrapper or two is tolerated */

/* The parts of the notice that matter, found once. */
typedef struct {
  const mc_entity_t *dsn;       /* message/delivery-status */
  const mc_entity_t *arf;       /* message/feedback-report */
  const mc_entity_t *text;      /* the notice's words for people */
  const mc_entity_t *text2;     /* a second text/plain part: a report mislabelled? */
  const mc_entity_t *html;      /* ... when it has no text/plain */
  const mc_entity_t *returned;  /* the returned message's header entity */
  const mc_entity_t *rheaders;  /* text/rfc822-headers */
  const mc_entity_t *mdn;       /* a read receipt (RFC 8098), or a Sieve rejection (RFC 5429) */
} parts_t;


const char *mc_bounce_kind_name(mc_bounce_kind_t k) {
  switch (k) {
    case MC_BOUNCE_DSN: return "dsn";
    case MC_BOUNCE_BOUNCE: return "bounce";
    case MC_BOUNCE_AUTOREPLY: return "autoreply";
    case MC_BOUNCE_COMPLAINT: return "complaint";
    default: return "none";
  }
}


static int is_type(const mc_entity_t *ent, const char *type) {
  return strcmp(ent->type.value, type) == 0;
}


/* Walks the multipart structure, never into an enclosed message: a
 * report forwarded inside a person's mail is not a report to us. */
static void find_parts(const mc_entity_t *ent, int depth, parts_t *p) {
  if (strncmp(ent->type.value, "multipart/", 10) == 0) {
    if (depth >= MAX_PART_DEPTH) return;
    for (size_t i = 0; i < ent->nkids; i++) find_parts(ent->kids[i], depth + 1, p);
    return;
  }
  int attachment = strcmp(ent->disposition.value, "attachment") == 0;
  if (is_type(ent, "message/delivery-status") || is_type(ent, "message/global-delivery-status")) {
    if (!p->dsn) p->dsn = ent;
  } else if (is_type(ent, "message/feedback-report")) {
    if (!p->arf) p->arf = ent;
  } else if (is_type(ent, "message/disposition-notification") ||
             is_type(ent, "message/global-disposition-notification")) {
    if (!p->mdn) p->mdn = ent;
  } else if (is_type(ent, "message/rfc822") || is_type(ent, "message/global")) {
    if (!p->returned && ent->nkids == 1) p->returned = ent->kids[0];
  } else if (is_type(ent, "text/rfc822-headers") || is_type(ent, "message/global-headers")) {
    if (!p->rheaders) p->rheaders = ent;
  } else if (is_type(ent, "text/plain") && !attachment) {
    if (!p->text) p->text = ent;
    else if (!p->text2) p->text2 = ent;
  } else if (is_type(ent, "text/html") && !attachment) {
    if (!p->html) p->html = ent;
  }
}


/* Whether the tag name at s[0..n) is one whose start or end breaks a
 * line: br, p, div, tr, li (a whole name: not <pre> or <param>). */
static int line_tag(const char *s, size_t n) {
  static const char *const names[] = {"br", "p", "div", "tr", "li"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    size_t len = strlen(names[k]);
    if (len <= n && strncasecmp(s, names[k], len) == 0 && (len == n || !isalpha((unsigned char)s[len])))
      return 1;
  }
  return 0;
}


/* The words of an HTML notice: tags dropped, block ends made line
 * breaks, character references decoded as the HTML scanner decodes them
 * (a no-break space as a space). */
static void html_text(const char *s, size_t n, mc_buf_t *out) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '<') {
      const char *gt = memchr(s + i, '>', n - i);
      if (gt == NULL) break;
      size_t tag = i + 1 + (i + 1 < n && s[i + 1] == '/');
      if (line_tag(s + tag, (size_t)(gt - s) - tag)) mc_buf_addc(out, '\n');
      i = (size_t)(gt - s);
      continue;
    }
    if (s[i] == '&') {
      char ch[MC_HTML_CHAR_MAX];
      size_t k = 0, used = mc_html_charref(s + i, n - i, 0, ch, &k);
      if (used > 0) {
        if (k == 2 && memcmp(ch, "\xC2\xA0", 2) == 0) mc_buf_addc(out, ' ');
        else mc_buf_add(out, ch, k);
        i += used - 1;
        continue;
      }
    }
    mc_buf_addc(out, s[i]);
  }
}


/* Whether s holds a report's "Final-Recipient:" field (any case): found
 * with memmem on its hyphen's neighbours, not byte by byte. */
static int has_report_fields(const char *s, size_t n) {
  size_t from = 1;
  while (from < n) {
    const char *hit = memchr(s + from, '-', n - from);
    if (hit == NULL) return 0;
    size_t at = (size_t)(hit - s);
    if (at >= 5 && n - at >= 11 && mc_bounce_icontains(s + at - 5, 16, "final-recipient:")) return 1;
    from = at + 1;
  }
  return 0;
}


/* Whether s has no byte above 0x7F: eight bytes a step, this being
 * read for every notice without a charset. */
static int all_ascii(const char *s, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    if (w & UINT64_C(0x8080808080808080)) return 0;
  }
  for (; i < n; i++)
    if ((unsigned char)s[i] >= 0x80) return 0;
  return 1;
}


/* The charset a text part's bytes are in, or NULL when they need no
 * conversion: UTF-8 as labelled, or plain ASCII. An unlabelled or
 * "us-ascii" part with ISO-2022-JP's escape is that (old Japanese
 * mailers); one with 8-bit bytes that are not UTF-8 is read as Windows'
 * Latin-1, the commonest mislabelling. */
static const char *charset_of(const mc_entity_t *ent, const char *s, size_t n) {
  const char *cs = mc_structured_param(&ent->type, "charset");
  if (cs && *cs && strcasecmp(cs, "us-ascii") != 0 && strcasecmp(cs, "ascii") != 0)
    return strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0 ? NULL : cs;
  if (memchr(s, 0x1b, n) && memmem(s, n, "\x1b$B", 3)) return "ISO-2022-JP";
  if (all_ascii(s, n) || mc_utf8_valid(s, n, NULL)) return NULL;
  return "CP1252";
}


/* Converts a text part's body to UTF-8 into *out; leaves out empty when
 * it needs no conversion or iconv knows no such charset (the text is
 * then read as it is). -1 only when memory runs out. */
static int to_utf8(const mc_entity_t *ent, const char *s, size_t n, mc_buf_t *out) {
  if (n > MC_BOUNCE_MAX_INPUT) n = MC_BOUNCE_MAX_INPUT;
  const char *cs = charset_of(ent, s, n);
  if (cs == NULL) return 0;
  int rc = mc_charset_label_utf8(out, cs, s, n);
  if (rc == 1) out->len = 0;
  return rc < 0 ? -1 : 0;
}


/* The addresses the notice itself is from and to, lower case: never
 * the recipient that failed. */
typedef struct {
  char *items[8];
  size_t n;
} skip_t;


static int add_skip(skip_t *sk, const mc_entity_t *root, const char *field) {
  const char *v = mc_entity_field(root, field);
  if (v == NULL || sk->n == sizeof sk->items / sizeof sk->items[0]) return 0;
  char *addr = NULL;
  if (mc_bounce_addr_of(&addr, v) != 0) return -1;
  if (addr == NULL) return 0;
  for (char *p = addr; *p; p++) if (*p >= 'A' && *p <= 'Z') *p += 32;
  sk->items[sk->n++] = addr;
  return 0;
}


static void skip_free(skip_t *sk) {
  for (size_t i = 0; i < sk->n; i++) free(sk->items[i]);
}


static const char *const own_fields[] = {
  "From", "To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "Return-Path", "Reply-To",
};


/* The recipients of a bounce's words, by the shapes of bounce_text.c;
 * with lone, the one address they name when they have no such shape. */
static int read_words(mc_bounce_t *b, const mc_entity_t *root, const char *text, size_t n, int lone) {
  skip_t sk = {{NULL}, 0};
  int rc = 0;
  for (size_t i = 0; i < sizeof own_fields / sizeof own_fields[0] && rc == 0; i++)
    rc = add_skip(&sk, root, own_fields[i]);
  if (rc == 0) {
    if (lone) rc = mc_bounce_read_lone(b, text, n, sk.items, sk.n);
    else rc = mc_bounce_read_text(b, text, n, sk.items, sk.n);
  }
  skip_free(&sk);
  return rc;
}


static int read_text(mc_bounce_t *b, const mc_entity_t *root, const char *text, size_t n) {
  return read_words(b, root, text, n, 0);
}


static int lacks_diagnostic(const mc_bounce_t *b) {
  for (size_t i = 0; i < b->nrcpts; i++)
    if (b->rcpts[i].diagnostic == NULL) return 1;
  return 0;
}


/* A report that says only "Status: 5.0.0" (Exim's for a failure of its
 * own) has the reason in its text: each recipient without a
 * Diagnostic-Code takes what the text says next to its address. */
static int words_for_report(mc_bounce_t *b, const mc_entity_t *root, const char *text, size_t n) {
  mc_bounce_t words;
  memset(&words, 0, sizeof words);
  int rc = read_text(&words, root, text, n);
  for (size_t i = 0; i < b->nrcpts && rc == 0; i++) {
    mc_bounce_rcpt_t *r = &b->rcpts[i];
    for (size_t k = 0; k < words.nrcpts && r->diagnostic == NULL; k++) {
      const mc_bounce_rcpt_t *w = &words.rcpts[k];
      if (w->diagnostic && strcasecmp(w->address, r->address) == 0)
        rc = mc_bounce_set(&r->diagnostic, w->diagnostic, strlen(w->diagnostic));
    }
  }
  mc_bounce_free(&words);
  return rc;
}


/* RFC 5429: a Sieve "reject" answers with an MDN whose disposition is
 * an automatic "deleted", and words that say the message was rejected.
 * A person's client may also report "deleted", but by a manual action. */
static int sieve_reject(const mc_entity_t *mdn, const char *norm, size_t nn) {
  const char *s = mdn->body.data ? mdn->body.data : "";
  size_t n = mdn->body.len;
  return mc_bounce_icontains(s, n, "automatic-action") && mc_bounce_icontains(s, n, "deleted") &&
         mc_rule_matches("reject", norm, nn);
}


/* "Undeliverable: a@b": the one address of the subject (not the
 * notice's own), with the bounce's words as its diagnostic. */
static int subject_recipient(mc_bounce_t *b, const mc_entity_t *root, const char *text, size_t n) {
  const char *subj = b->subject;
  if (subj == NULL) return 0;
  size_t sn = strlen(subj), at, len, at2, len2;
  if (!mc_bounce_find_addr(subj, sn, 0, &at, &len) || mc_bounce_find_addr(subj, sn, at + len, &at2, &len2))
    return 0;
  skip_t sk = {{NULL}, 0};
  int rc = 0;
  for (size_t i = 0; i < sizeof own_fields / sizeof own_fields[0] && rc == 0; i++)
    rc = add_skip(&sk, root, own_fields[i]);
  int own = 0;
  for (size_t i = 0; i < sk.n; i++) own |= strlen(sk.items[i]) == len && strncasecmp(sk.items[i], subj + at, len) == 0;
  skip_free(&sk);
  if (rc == 0 && !own && !mc_bounce_icontains(subj + at, len, "mailer-daemon@") &&
      !mc_bounce_icontains(subj + at, len, "postmaster@")) {
    int oom;
    mc_bounce_rcpt_t *r = mc_bounce_rcpt(b, subj + at, len, &oom);
    if (r == NULL) rc = oom ? -1 : 0;
    else rc = mc_bounce_append(&r->diagnostic, text, n < MC_BOUNCE_MAX_DIAG ? n : MC_BOUNCE_MAX_DIAG - 1,
                               MC_BOUNCE_MAX_DIAG);
  }
  return rc;
}


/* Exim names the failed addresses in a field of its own. */
static int failed_recipients_field(mc_bounce_t *b, const mc_entity_t *root,
                                   const char *text, size_t n) {
  const char *v = mc_entity_field(root, "X-Failed-Recipients");
  if (v == NULL) return 0;
  size_t vn = strlen(v), from = 0, at, len;
  while (mc_bounce_find_addr(v, vn, from, &at, &len)) {
    int oom;
    mc_bounce_rcpt_t *r = mc_bounce_rcpt(b, v + at, len, &oom);
    if (r == NULL) return oom ? -1 : 0;
    if (r->diagnostic == NULL && mc_bounce_append(&r->diagnostic, text, n, MC_BOUNCE_MAX_DIAG) != 0)
      return -1;
    from = at + len;
  }
  return 0;
}


/* The tag of a VERP address: "TOKEN" of "bounces+TOKEN@domain". */
static int verp_of(mc_bounce_t *b, const char *value) {
  if (value == NULL || b->verp) return 0;
  char *addr = NULL;
  if (mc_bounce_addr_of(&addr, value) != 0) return -1;
  int rc = 0;
  if (addr) {
    char *plus = strchr(addr, '+');
    char *sign = strrchr(addr, '@');
    if (plus && sign && plus < sign && sign > plus + 1) rc = mc_bounce_set(&b->verp, plus + 1, (size_t)(sign - plus - 1));
  }
  free(addr);
  return rc;
}


static const char *const envelope_fields[] = {
  "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To",
};


static int find_verp(mc_bounce_t *b, const mc_entity_t *root, const mc_entity_t *returned) {
  int rc = 0;
  if (b->kind == MC_BOUNCE_COMPLAINT) rc = verp_of(b, b->original_mail_from);
  for (size_t i = 0; i < sizeof envelope_fields / sizeof envelope_fields[0] && rc == 0; i++)
    rc = verp_of(b, mc_entity_field(root, envelope_fields[i]));
  if (rc == 0) rc = verp_of(b, b->original_mail_from);
  if (rc == 0 && returned) rc = verp_of(b, mc_entity_field(returned, "Return-Path"));
  return rc;
}


/* "<id@host>" out of a Message-ID or In-Reply-To value (the first one). */
static int set_msgid(char **dst, const char *value) {
  if (value == NULL || *dst) return 0;
  const char *lt = strchr(value, '<');
  const char *gt = lt ? strchr(lt, '>') : NULL;
  if (lt && gt) return mc_bounce_set(dst, lt, (size_t)(gt - lt + 1));
  return mc_bounce_set(dst, value, strlen(value));
}


static int returned_fields(mc_bounce_t *b, const mc_entity_t *ret) {
  if (set_msgid(&b->message_id, mc_entity_field(ret, "Message-ID")) != 0) return -1;
  for (size_t i = 0; i < ret->nfields && b->nheaders < MC_BOUNCE_MAX_HEADERS; i++) {
    const mc_hfield_t *f = &ret->fields[i];
    if (strncasecmp(f->name, "X-Mailcast-", 11) != 0) continue;
    mc_hfield_t *h = realloc(b->headers, (b->nheaders + 1) * sizeof *h);
    if (h == NULL) return -1;
    b->headers = h;
    mc_hfield_t *nf = &h[b->nheaders];
    memset(nf, 0, sizeof *nf);
    if (mc_bounce_set(&nf->name, f->name, strlen(f->name)) != 0 ||
        mc_bounce_set(&nf->value, f->value, strlen(f->value)) != 0) {
      free(nf->name);
      free(nf->value);
      return -1;
    }
    for (char *p = nf->name; *p; p++) if (*p >= 'A' && *p <= 'Z') *p += 32;
    b->nheaders++;
  }
  return 0;
}


static int action_is(const mc_bounce_rcpt_t *r, const char *a) {
  return r->action && strcmp(r->action, a) == 0;
}


/* Whether a reason says what went wrong (not the generic trouble of a
 * connection, a system or a rate). */
static int specific_reason(mc_reason_t reason) {
  switch (reason) {
    case MC_REASON_USER_UNKNOWN: case MC_REASON_MAILBOX_FULL: case MC_REASON_MAILBOX_DISABLED:
    case MC_REASON_BLOCKED: case MC_REASON_SPAM: case MC_REASON_TOO_BIG: case MC_REASON_CONTENT:
      return 1;
    default:
      return 0;
  }
}


/* Whether a text rule decided c with a specific reason. */
static int specific_text(const mc_class_t *c) {
  return strncmp(c->rule, "text ", 5) == 0 && specific_reason(c->reason);
}


/* OpenSMTPD reports a message it dropped at the end of its queue
 * lifetime as "Action: delayed", "Status: 4.4.7", with "Envelope
 * expired" next to the address: nothing is kept to retry, so it failed. */
static int dropped_as_delayed(const mc_bounce_rcpt_t *r, const char *status, const char *diag) {
  return action_is(r, "delayed") && strcmp(status, "4.4.7") == 0 &&
         mc_bounce_icontains(diag, strlen(diag), "envelope expired");
}


static int classify_rcpt(mc_bounce_rcpt_t *r) {
  if (action_is(r, "delivered") || action_is(r, "relayed") || action_is(r, "expanded")) return 0;
  char status[16] = "", found[16];
  size_t comment = 0;
  if (r->status) {
    comment = mc_enhanced_parse(r->status, strlen(r->status), status);
  }
  const char *diag = r->diagnostic ? r->diagnostic : "";
  mc_scan_codes(diag, strlen(diag), &r->code, found);
  /* A report's Status is often only the class ("5.0.0") where the
   * receiver's reply in the diagnostic has the detail. */
  /* Sendmail's "4.4.7" (delivery time expired) for a message it gave up
   * on hides the reply that kept it queued ("452 4.2.2 Mailbox full"):
   * the reply says why. */
  int expired = strcmp(status + 1, ".4.7") == 0;
  if (found[0] && (!status[0] || (status[0] == found[0] && (strcmp(status + 1, ".0.0") == 0 || expired))))
    memcpy(status, found, sizeof status);
  int from_reply = found[0] && strcmp(status, found) == 0;
  if (r->status == NULL && status[0] && mc_bounce_set(&r->status, status, strlen(status)) != 0)
    return -1;
  if (dropped_as_delayed(r, status, diag) && mc_bounce_set(&r->action, "failed", 6) != 0) return -1;
  const char *text = diag;
  if (!*text && r->status && comment) text = r->status + comment;   /* "4.0.0 (host name lookup failure)" */
  /* Haraka writes "5.1.2 (550 Tried all MXs <domain>)" when it could
   * reach no server of a domain that exists, a temporary failure it
   * stopped retrying: no answer from the host (4.4.1), not a bad domain. */
  if (status[0] == '5' && strcmp(status + 1, ".1.2") == 0 && mc_bounce_icontains(text, strlen(text), "tried all mxs"))
    memcpy(status, "4.4.1", 6);
  int delayed = action_is(r, "delayed");
  mc_classify(r->code, status, text, strlen(text), delayed ? 0 : -1, &r->cls);
  int cls = status[0] ? status[0] - '0' : r->code / 100;
  if (action_is(r, "failed")) {
    r->cls.permanent = 1;
    /* The MTA gave up on a temporary failure: it expired, unless the
     * receiver's words said why specifically. */
    if (cls == 4 && !specific_text(&r->cls) && !(from_reply && specific_reason(r->cls.reason))) {
      r->cls.reason = MC_REASON_EXPIRED;
      snprintf(r->cls.rule, sizeof r->cls.rule, "action failed on %s", status[0] ? status : "4xx");
    }
  } else if (delayed) {
    r->cls.permanent = 0;
  }
  /* Only a receiver's permanent answer proves an address bad. */
  r->cls.hard = r->cls.permanent && cls != 4 && mc_reason_info(r->cls.reason)->hard;
  r->classified = 1;
  return 0;
}


/* The notice as a whole: its first failure, else its first delay. */
static int summarize(mc_bounce_t *b, const char *text, size_t n) {
  const mc_bounce_rcpt_t *pick = NULL;
  for (size_t i = 0; i < b->nrcpts && !pick; i++)
    if (b->rcpts[i].classified && action_is(&b->rcpts[i], "failed")) pick = &b->rcpts[i];
  for (size_t i = 0; i < b->nrcpts && !pick; i++)
    if (b->rcpts[i].classified) pick = &b->rcpts[i];
  if (pick) {
    b->cls = pick->cls;
    b->classified = 1;
    return pick->diagnostic ? mc_bounce_set(&b->diagnostic, pick->diagnostic, strlen(pick->diagnostic)) : 0;
  }
  if (b->kind != MC_BOUNCE_DSN && b->kind != MC_BOUNCE_BOUNCE) return 0;
  if (n > MC_BOUNCE_MAX_DIAG) n = MC_BOUNCE_MAX_DIAG;
  mc_classify(0, NULL, text, n, -1, &b->cls);
  b->classified = 1;
  return mc_bounce_set(&b->diagnostic, text, n);
}


/* The header of the copy that follows a text bounce's words, into *out
 * (NULL when there is nothing after the marker). */
static int inline_copy(const char *text, size_t n, size_t copy_start, mc_entity_t **out) {
  *out = NULL;
  while (copy_start < n && (text[copy_start] == '\n' || text[copy_start] == '\r' ||
                            text[copy_start] == ' ' || text[copy_start] == '\t'))
    copy_start++;
  if (copy_start >= n) return 0;
  mc_error_t e;
  *out = mc_mime_parse(text + copy_start, n - copy_start, &e);
  return *out ? 0 : -1;
}


static int decode_subject(mc_bounce_t *b, const mc_entity_t *root) {
  const char *v = mc_entity_field(root, "Subject");
  if (v == NULL) return 0;
  mc_buf_t out = MC_BUF_INIT;
  mc_hdr_decode(&out, v, strlen(v));
  int rc = out.failed ? -1 : mc_bounce_set(&b->subject, out.data ? out.data : "", out.len);
  mc_buf_free(&out);
  return rc;
}


/* A bounce whose words name nobody: the returned message's one To
 * address (bulk mail has one recipient a message), with the bounce's
 * words as its diagnostic. Not when To lists several, or is the
 * notice's own address. */
static int returned_to(mc_bounce_t *b, const mc_entity_t *root, const mc_entity_t *ret,
                       const char *text, size_t n) {
  const char *to = mc_entity_field(ret, "To");
  if (to == NULL || strchr(to, ',') != NULL) return 0;
  char *addr = NULL;
  if (mc_bounce_addr_of(&addr, to) != 0) return -1;
  if (addr == NULL) return 0;
  skip_t sk = {{NULL}, 0};
  int rc = 0;
  for (size_t i = 0; i < sizeof own_fields / sizeof own_fields[0] && rc == 0; i++)
    rc = add_skip(&sk, root, own_fields[i]);
  int own = 0;
  for (size_t i = 0; i < sk.n; i++) own |= strcasecmp(sk.items[i], addr) == 0;
  skip_free(&sk);
  if (rc == 0 && !own) {
    int oom;
    mc_bounce_rcpt_t *r = mc_bounce_rcpt(b, addr, strlen(addr), &oom);
    if (r == NULL) rc = oom ? -1 : 0;
    else if (n > 0) rc = mc_bounce_append(&r->diagnostic, text, n < MC_BOUNCE_MAX_DIAG ? n : MC_BOUNCE_MAX_DIAG - 1,
                                          MC_BOUNCE_MAX_DIAG);
  }
  free(addr);
  return rc;
}


/* Everything after the kind is known: the recipients' classes and the
 * identifiers that lead back to the original recipient. */
static int finish(mc_bounce_t *b, const mc_entity_t *root, const parts_t *p,
                  const char *text, size_t region, size_t copy_start, size_t tn,
                  const char *norm, size_t nn) {
  mc_entity_t *owned = NULL;
  const mc_entity_t *ret = p->returned;
  if (ret == NULL && p->rheaders) {
    mc_error_t e;
    owned = mc_mime_parse(p->rheaders->body.data ? p->rheaders->body.data : "", p->rheaders->body.len, &e);
    if (owned == NULL) return -1;
    ret = owned;
  }
  if (ret == NULL && b->kind == MC_BOUNCE_BOUNCE && copy_start < tn) {
    if (inline_copy(text, tn, copy_start, &owned) != 0) return -1;
    ret = owned;
  }
  int rc = 0;
  if (ret) rc = returned_fields(b, ret);
  if (rc == 0 && b->kind == MC_BOUNCE_AUTOREPLY) rc = set_msgid(&b->message_id, mc_entity_field(root, "In-Reply-To"));
  if (rc == 0 && b->kind == MC_BOUNCE_COMPLAINT && b->nrcpts == 0 && ret) {
    const char *to = mc_entity_field(ret, "To");
    char *addr = NULL;
    int oom = 0;
    if (to && (rc = mc_bounce_addr_of(&addr, to)) == 0 && addr) mc_bounce_rcpt(b, addr, strlen(addr), &oom);
    free(addr);
    if (oom) rc = -1;
  }
  if (rc == 0 && b->kind == MC_BOUNCE_BOUNCE && b->nrcpts == 0 && ret)
    rc = returned_to(b, root, ret, text, region);
  if (rc == 0) rc = find_verp(b, root, ret);
  mc_entity_free(owned);
  if (rc != 0) return -1;

  if (b->kind == MC_BOUNCE_BOUNCE) {
    const char *action = mc_bounce_says_delayed(b->subject, norm, nn) ? "delayed" : "failed";
    for (size_t i = 0; i < b->nrcpts; i++)
      if (b->rcpts[i].action == NULL && mc_bounce_set(&b->rcpts[i].action, action, strlen(action)) != 0)
        return -1;
  }
  if (b->kind == MC_BOUNCE_DSN || b->kind == MC_BOUNCE_BOUNCE)
    for (size_t i = 0; i < b->nrcpts; i++)
      if (classify_rcpt(&b->rcpts[i]) != 0) return -1;
  return summarize(b, text, region);
}


static int read_message(mc_bounce_t *b, const mc_entity_t *root) {
  parts_t p;
  memset(&p, 0, sizeof p);
  find_parts(root, 0, &p);
  /* Some MTAs label the report's fields text/plain. */
  if (!p.dsn && p.text2 && p.text2->body.data && has_report_fields(p.text2->body.data, p.text2->body.len))
    p.dsn = p.text2;
  if (decode_subject(b, root) != 0) return -1;
  const char *from = mc_entity_field(root, "From");
  if (from && mc_bounce_addr_of(&b->from, from) != 0) return -1;

  /* The notice's words: text/plain, or the text of its HTML, in UTF-8
   * so that the phrases of every language match as written. */
  mc_buf_t html = MC_BUF_INIT, utf8 = MC_BUF_INIT;
  const char *text = "";
  size_t tn = 0;
  const mc_entity_t *words = p.text ? p.text : p.html;
  if (words) {
    text = words->body.data ? words->body.data : "";
    tn = words->body.len;
    if (to_utf8(words, text, tn, &utf8) != 0) { mc_buf_free(&utf8); return -1; }
    if (utf8.len > 0) { text = utf8.data; tn = utf8.len; }
  }
  if (!p.text && p.html) {
    html_text(text, tn, &html);
    mc_buf_free(&utf8);
    if (html.failed) { mc_buf_free(&html); return -1; }
    text = html.data ? html.data : "";
    tn = html.len;
  }
  /* Where the notice's words end and the copy begins, and the words as
   * the detection rules read them: a report needs neither, unless its
   * fields name nobody. */
  size_t region = tn, copy_start = tn;
  char norm[MC_RULES_MAX_TEXT];
  size_t nn = 0;
  if (!p.arf && !p.dsn) {
    mc_bounce_split_text(text, tn, &region, &copy_start);
    nn = mc_rules_normalize(text, region, norm, sizeof norm);
  }

  int rc = 0;
  if (p.arf) {
    b->kind = MC_BOUNCE_COMPLAINT;
    rc = mc_bounce_read_arf(b, p.arf->body.data ? p.arf->body.data : "", p.arf->body.len);
  } else if (p.dsn) {
    b->kind = MC_BOUNCE_DSN;
    rc = mc_bounce_read_dsn(b, p.dsn->body.data ? p.dsn->body.data : "", p.dsn->body.len);
    if (rc == 0 && b->nrcpts == 0) {
      mc_bounce_split_text(text, tn, &region, &copy_start);
      rc = read_text(b, root, text, region);
    } else if (rc == 0 && lacks_diagnostic(b)) {
      mc_bounce_split_text(text, tn, &region, &copy_start);
      rc = words_for_report(b, root, text, region);
    }
  } else if (p.mdn && sieve_reject(p.mdn, norm, nn)) {
    b->kind = MC_BOUNCE_BOUNCE;
    rc = mc_bounce_read_dsn(b, p.mdn->body.data ? p.mdn->body.data : "", p.mdn->body.len);
    if (rc == 0 && b->nrcpts == 0) rc = read_text(b, root, text, region);
    else if (rc == 0 && lacks_diagnostic(b)) rc = words_for_report(b, root, text, region);
  } else if (p.mdn) {
    b->kind = MC_BOUNCE_AUTOREPLY;
  } else if (mc_bounce_looks_bounced(root, b->subject, norm, nn)) {
    b->kind = MC_BOUNCE_BOUNCE;
    /* A report's fields written into the text part (some providers send
     * no message/delivery-status part): read as a report. */
    if (has_report_fields(text, region)) {
      rc = mc_bounce_read_dsn(b, text, region);
      if (rc == 0 && b->nrcpts > 0) b->kind = MC_BOUNCE_DSN;
    }
    if (rc == 0 && b->nrcpts == 0) rc = read_text(b, root, text, region);
    if (rc == 0 && b->nrcpts == 0) rc = failed_recipients_field(b, root, text, region);
    if (rc == 0 && b->nrcpts == 0) rc = subject_recipient(b, root, text, region);
    if (rc == 0 && b->nrcpts == 0) rc = read_words(b, root, text, region, 1);
  } else if (mc_bounce_is_autoreply(root, b->subject)) {
    b->kind = MC_BOUNCE_AUTOREPLY;
  }
  if (rc == 0 && b->kind != MC_BOUNCE_NONE)
    rc = finish(b, root, &p, text, region, copy_start, tn, norm, nn);
  mc_buf_free(&html);
  mc_buf_free(&utf8);
  return rc;
}


/* A copy of s with every CR made a line feed, for mail from systems that
 * end lines with CR alone (NULL when memory runs out). */
static char *cr_to_lf(const char *s, size_t n) {
  char *copy = malloc(n ? n : 1);
  if (copy == NULL) return NULL;
  for (size_t i = 0; i < n; i++) copy[i] = s[i] == '\r' ? '\n' : s[i];
  return copy;
}


int mc_bounce_parse(const char *s, size_t n, mc_bounce_t *out, mc_error_t *e) {
  memset(out, 0, sizeof *out);
  if (n > MC_BOUNCE_MAX_INPUT) n = MC_BOUNCE_MAX_INPUT;
  char *lf = NULL;
  if (memchr(s, '\n', n) == NULL && memchr(s, '\r', n) != NULL) {
    if ((lf = cr_to_lf(s, n)) == NULL) { mc_error_set(e, "out of memory"); return -1; }
    s = lf;
  }
  mc_entity_t *root = mc_mime_parse(s, n, e);
  free(lf);
  if (root == NULL) return -1;
  int rc = read_message(out, root);
  mc_entity_free(root);
  if (rc != 0) mc_error_set(e, "out of memory");
  return rc;
}


void mc_bounce_free(mc_bounce_t *b) {
  for (size_t i = 0; i < b->nrcpts; i++) mc_bounce_rcpt_clear(&b->rcpts[i]);
  free(b->rcpts);
  for (size_t i = 0; i < b->nheaders; i++) {
    free(b->headers[i].name);
    free(b->headers[i].value);
  }
  free(b->headers);
  free(b->diagnostic);
  free(b->verp);
  free(b->message_id);
  free(b->from);
  free(b->subject);
  free(b->reporting_mta);
  free(b->feedback_type);
  free(b->user_agent);
  free(b->source_ip);
  free(b->original_mail_from);
  free(b->arrival_date);
  memset(b, 0, sizeof *b);
}
