/* Bounces written for people (qmail, Exim, sendmail, Exchange, Gmail,
 * Yahoo, Postfix without DSN): the recipient stands on a line of its own
 * (or starts one, with a colon), and the reason follows it. The formats
 * differ in decoration, not in that shape, so one reader takes them all
 * rather than one parser per MTA. */
#include <string.h>
#include <strings.h>

#include "bounce_internal.h"
#include "bounce_rules.h"

#define MAX_REGION 65536   /* the bounce's own words; the rest is a copy */


static size_t line_end(const char *s, size_t n, size_t i) {
  const char *nl = memchr(s + i, '\n', n - i);
  return nl ? (size_t)(nl - s) : n;
}


static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r'; }


static size_t skip_ws(const char *s, size_t i, size_t e) {
  while (i < e && is_ws(s[i])) i++;
  return i;
}


static int blank(const char *s, size_t i, size_t e) {
  return skip_ws(s, i, e) == e;
}


/* Lines that introduce the copy of the returned message. The strong
 * ones are never prose; the weak ones count only on a rule of dashes. */
static const char *const strong_markers[] = {
  "below this line is a copy of the message",      /* qmail, Yahoo */
  "this is a copy of the message",                 /* Exim */
  "header of the original message",                /* Exim, some hosts */
  "original message headers",                      /* Exchange, Microsoft 365 */
  "unsent message below",
  "original message follows",
  "message headers follow",
};

static const char *const weak_markers[] = {
  "original message", "returned message", "undelivered message", "copy of the message",
};


static int marker_line(const char *s, size_t i, size_t e) {
  i = skip_ws(s, i, e);
  if (e - i < 12 || !mc_bounce_icontains(s + i, e - i, "message")) return 0;   /* every marker has it */
  for (size_t k = 0; k < sizeof strong_markers / sizeof strong_markers[0]; k++)
    if (mc_bounce_icontains(s + i, e - i, strong_markers[k])) return 1;
  if (e - i < 3 || s[i] != '-' || s[i + 1] != '-' || s[i + 2] != '-') return 0;
  for (size_t k = 0; k < sizeof weak_markers / sizeof weak_markers[0]; k++)
    if (mc_bounce_icontains(s + i, e - i, weak_markers[k])) return 1;
  return 0;
}


/* The start of the line holding s[at]. */
static size_t line_start(const char *s, size_t at) {
  while (at > 0 && s[at - 1] != '\n') at--;
  return at;
}


void mc_bounce_split_text(const char *s, size_t n, size_t *region_end, size_t *copy_start) {
  *region_end = n;
  *copy_start = n;
  /* Every marker says "message": only the lines where that word is are
   * looked at, found with memmem rather than line by line. */
  static const char *const spellings[] = {"essage", "ESSAGE"};
  size_t best = n;
  for (size_t k = 0; k < 2; k++) {
    size_t from = 0;
    while (from < best) {
      const char *hit = memmem(s + from, best - from, spellings[k], 6);
      if (hit == NULL) break;
      size_t i = line_start(s, (size_t)(hit - s));
      size_t e = line_end(s, n, i);
      if (marker_line(s, i, e)) { best = i; break; }
      from = e;
    }
  }
  if (best < n) {
    size_t e = line_end(s, n, best);
    *region_end = best;
    *copy_start = e < n ? e + 1 : n;
  }
}


static int skipped(const char *a, size_t n, char *const *skip, size_t nskip) {
  for (size_t k = 0; k < nskip; k++)
    if (strlen(skip[k]) == n && mc_bounce_icontains(a, n, skip[k])) return 1;
  /* The mail system's own addresses are never the recipient. */
  return mc_bounce_icontains(a, n, "mailer-daemon@") || mc_bounce_icontains(a, n, "postmaster@");
}


/* Skips "(...)" comments and "<mailto:...>" after an address. */
static size_t skip_decoration(const char *s, size_t i, size_t e) {
  for (;;) {
    i = skip_ws(s, i, e);
    if (i < e && s[i] == '(') {
      const char *close = memchr(s + i, ')', e - i);
      if (close == NULL) return e;
      i = (size_t)(close - s) + 1;
    } else if (i + 8 <= e && mc_bounce_icontains(s + i, 8, "<mailto:")) {
      const char *close = memchr(s + i, '>', e - i);
      if (close == NULL) return e;
      i = (size_t)(close - s) + 1;
    } else {
      return i;
    }
  }
}


/* Whether line s[i..e) starts with a recipient: "addr", "<addr>",
 * "<addr>:" followed by a reason, "addr (comment)", "addr on <date>",
 * "<addr>... reason" (sendmail). Sets the address and where the reason
 * on the same line starts (e when there is none). */
/* Length of a reply code and its enhanced status at s[i..e) ("550 ",
 * "550 5.1.1 ", "550-"), or 0. */
static size_t reply_prefix(const char *s, size_t i, size_t e) {
  if (e - i < 4 || (s[i] != '4' && s[i] != '5') || s[i + 1] < '0' || s[i + 1] > '9' ||
      s[i + 2] < '0' || s[i + 2] > '9' || (s[i + 3] != ' ' && s[i + 3] != '-'))
    return 0;
  size_t j = i + 4;
  char status[16];
  size_t k = mc_enhanced_parse(s + j, e - j, status);
  if (k && j + k < e && s[j + k] == ' ') j += k + 1;
  return j - i;
}


/* The SMTP dialogue an MTA quotes: ">>> RCPT To:<a@b>" (sendmail,
 * Courier) or "RCPT TO:<a@b>" written alone: the length up to the
 * address, or 0. */
static size_t rcpt_command(const char *s, size_t i, size_t e) {
  size_t j = i;
  if (e - j >= 3 && memcmp(s + j, ">>>", 3) == 0) j = skip_ws(s, j + 3, e);
  if (e - j < 8 || !mc_bounce_icontains(s + j, 8, "rcpt to:")) return 0;
  j = skip_ws(s, j + 8, e);
  return j - i;
}


/* Whether line s[i..e) starts with a recipient: "addr", "<addr>",
 * "<addr>:" followed by a reason, "addr (comment)", "addr on <date>",
 * "<addr>... reason" and "550 addr... reason" (sendmail), "addr, reason"
 * (Zoho), ">>> RCPT To:<addr>" (a quoted dialogue). Sets the address and
 * where the reason on the same line starts (e when there is none). */
static int recipient_line(const char *s, size_t i, size_t e, size_t *at, size_t *len,
                          size_t *rest) {
  i = skip_ws(s, i, e);
  if (e - i > 7 && mc_bounce_icontains(s + i, 7, "rfc822;")) i = skip_ws(s, i + 7, e);
  size_t code = reply_prefix(s, i, e), command = code ? 0 : rcpt_command(s, i, e);
  i += code + command;
  if (i < e && s[i] == '<') i++;
  if (!mc_bounce_find_addr(s, e, i, at, len) || *at != i) return 0;
  size_t j = *at + *len;
  if (j < e && s[j] == '>') j++;
  size_t comment = skip_ws(s, j, e);
  j = skip_decoration(s, j, e);
  *rest = e;
  if (comment < j && s[comment] == '(') *rest = comment;   /* GroupWise: "a@b (user not found)" */
  if (command) return 1;
  if (e - j >= 3 && memcmp(s + j, "...", 3) == 0) { *rest = j + 3; return 1; }
  if (code) return 0;   /* "550 5.7.1 <a@b>: ..." may name the sender */
  if (j >= e) return 1;
  if (s[j] == ',' || s[j] == ':') { *rest = j + 1; return 1; }
  if (e - j >= 3 && mc_bounce_icontains(s + j, 3, "on ")) return 1;   /* Exchange: "a@b on 5/1/2024" */
  return 0;
}


/* Whether line s[i..e) is "reason: addr" (IMail: "Unknown user: a@b",
 * "User mailbox exceeds allowed size: a@b") or "Recipient: addr": a
 * short label with a word of failure or the word recipient, then the
 * address ending the line. A header field quoted in the notice ("From:
 * a@b") has neither. */
static int labelled_recipient(const char *s, size_t i, size_t e, size_t *at, size_t *len) {
  static const char *const failure[] = {"unknown", "invalid", "mailbox", "exceed", "not ",
                                        "fail", "reject", "denied", "error", "full", "quota"};
  /* "recipient" in the languages of the rules */
  static const char *const recipient[] = {"recipient", "empfänger", "destinataire", "destinatario",
                                          "destinatário", "получател", "адресат", "收件人", "宛先"};
  i = skip_ws(s, i, e);
  while (e > i && is_ws(s[e - 1])) e--;
  if (e > i && s[e - 1] == '>') e--;
  const char *colon = memchr(s + i, ':', e - i);
  if (colon == NULL || (size_t)(colon - s) - i > 60) return 0;
  size_t a = skip_ws(s, (size_t)(colon - s) + 1, e);
  if (a < e && s[a] == '<') a++;
  if (!mc_bounce_find_addr(s, e, a, at, len) || *at != a || *at + *len != e) return 0;
  size_t label = (size_t)(colon - s) - i;
  for (size_t f = 0; f < sizeof recipient / sizeof recipient[0]; f++)
    if (mc_bounce_icontains(s + i, label, recipient[f])) return 1;
  /* A failure is said in words: a one-word label is a header field
   * ("Errors-To:"), not a reason. */
  if (memchr(s + i, ' ', label) == NULL) return 0;
  for (size_t f = 0; f < sizeof failure / sizeof failure[0]; f++)
    if (mc_bounce_icontains(s + i, label, failure[f])) return 1;
  return 0;
}


/* Whether the line tells of a failure to a recipient in the middle of a
 * sentence: "Your message wasn't delivered to a@b because ...". */
static int sentence_recipient(const char *s, size_t i, size_t e, size_t *at, size_t *len) {
  static const char *const before[] = {"delivered to", "deliver to", "delivery to", "message to",
                                       "deliver your message to", "delivering your mail to",
                                       "delivering your message to"};
  static const char *const failure[] = {"n't", "not", "fail", "unable", "cannot", "undeliverable",
                                        "error", "reject", " lost"};   /* RFC 821's "your message to a@b lost" */
  /* The failure word is the line's, not the address's: looked for once
   * (for every address it made a long hostile line quadratic). */
  if (memchr(s + i, '@', e - i) == NULL) return 0;   /* most lines: no address at all */
  int failed = 0;
  for (size_t f = 0; f < sizeof failure / sizeof failure[0] && !failed; f++)
    failed = mc_bounce_icontains(s + i, e - i, failure[f]);
  if (!failed) return 0;
  size_t from = i;
  while (mc_bounce_find_addr(s, e, from, at, len)) {
    size_t k = *at;
    if (k > i && s[k - 1] == '<') k--;
    while (k > i && is_ws(s[k - 1])) k--;
    for (size_t b = 0; b < sizeof before / sizeof before[0]; b++) {
      size_t bl = strlen(before[b]);
      if (k - i >= bl && mc_bounce_icontains(s + k - bl, bl, before[b])) return 1;
    }
    from = *at + *len;
  }
  return 0;
}


/* Whether the diagnostic gathered so far holds a reply or status code:
 * then the reason is complete at the next blank line. */
static int has_code(const char *d) {
  if (d == NULL) return 0;
  int code;
  char status[16];
  mc_scan_codes(d, strlen(d), &code, status);
  return code != 0 || status[0] != '\0';
}


/* Gathers the lines after a recipient line (index of the next line: i)
 * into r's diagnostic: up to the next recipient, or a blank line once
 * the reason has its code, or the end of the second paragraph. */
static int gather(const char *s, size_t n, size_t i, mc_bounce_rcpt_t *r) {
  int paragraphs = 0, in_paragraph = r->diagnostic != NULL;
  while (i < n) {
    size_t e = line_end(s, n, i);
    size_t at, len, rest;
    if (blank(s, i, e)) {
      if (in_paragraph) {
        paragraphs++;
        if (has_code(r->diagnostic) || paragraphs >= 2) return 0;
      }
      in_paragraph = 0;
    } else {
      if (recipient_line(s, i, e, &at, &len, &rest) || sentence_recipient(s, i, e, &at, &len) ||
          labelled_recipient(s, i, e, &at, &len))
        return 0;
      if (mc_bounce_append(&r->diagnostic, s + i, e - i, MC_BOUNCE_MAX_DIAG) != 0) return -1;
      in_paragraph = 1;
      if (strlen(r->diagnostic) + 1 >= MC_BOUNCE_MAX_DIAG) return 0;
    }
    i = e < n ? e + 1 : n;
  }
  return 0;
}


/* Recipients listed one under the other share the reason written after
 * the last of them (sendmail's "had permanent fatal errors" list): one
 * without words of its own takes the next one's. */
static int share_reasons(mc_bounce_t *b, size_t first) {
  const char *next = NULL;
  for (size_t k = b->nrcpts; k > first; k--) {
    mc_bounce_rcpt_t *r = &b->rcpts[k - 1];
    if (r->diagnostic) next = r->diagnostic;
    else if (next && mc_bounce_set(&r->diagnostic, next, strlen(next)) != 0) return -1;
  }
  return 0;
}


int mc_bounce_read_text(mc_bounce_t *b, const char *s, size_t n,
                        char *const *skip, size_t nskip) {
  if (n > MAX_REGION) n = MAX_REGION;
  size_t first = b->nrcpts;
  size_t i = 0;
  while (i < n) {
    size_t e = line_end(s, n, i);
    size_t next = e < n ? e + 1 : n;
    size_t at, len, rest = e;
    int found = recipient_line(s, i, e, &at, &len, &rest);
    int sentence = !found && (sentence_recipient(s, i, e, &at, &len) ||
                              labelled_recipient(s, i, e, &at, &len));
    if ((found || sentence) && !skipped(s + at, len, skip, nskip)) {
      int oom;
      mc_bounce_rcpt_t *r = mc_bounce_rcpt(b, s + at, len, &oom);
      if (r == NULL) return oom ? -1 : 0;
      const char *same = sentence ? s + i : s + rest;
      size_t same_n = sentence ? e - i : e - rest;
      if (mc_bounce_append(&r->diagnostic, same, same_n, MC_BOUNCE_MAX_DIAG) != 0) return -1;
      if (gather(s, n, next, r) != 0) return -1;
    }
    i = next;
  }
  return share_reasons(b, first);
}


/* Lines whose address is never the failed recipient: header fields
 * quoted in the notice ("Message-ID:", "From:", "Errors-To:"), but for
 * those that name a recipient ("To:", "Final-Recipient:"). */
static int quoted_header_line(const char *s, size_t i, size_t e) {
  static const char *const recipient_fields[] = {"to", "envelope-to", "delivered-to", "x-original-to",
                                                 "recipient", "original-recipient", "final-recipient",
                                                 "x-failed-recipients"};
  i = skip_ws(s, i, e);
  size_t j = i;
  while (j < e && ((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z' ? 1 : s[j] == '-')) j++;
  if (j == i || j >= e || s[j] != ':') return 0;   /* not "Name:" */
  for (size_t k = 0; k < sizeof recipient_fields / sizeof recipient_fields[0]; k++)
    if (strlen(recipient_fields[k]) == j - i && strncasecmp(s + i, recipient_fields[k], j - i) == 0) return 0;
  return 1;
}


/* Addresses a notice gives for questions, never a recipient it failed
 * to reach: "For help, write to help@isp.example". */
static int service_address(const char *a, size_t n) {
  static const char *const locals[] = {"help", "helpdesk", "support", "abuse", "hostmaster", "webmaster",
                                       "admin", "administrator", "noc", "security", "noreply", "no-reply",
                                       "do-not-reply", "donotreply", "root", "mailer_daemon"};
  const char *sign = memchr(a, '@', n);
  if (sign == NULL) return 0;
  size_t local = (size_t)(sign - a);
  for (size_t k = 0; k < sizeof locals / sizeof locals[0]; k++)
    if (strlen(locals[k]) == local && strncasecmp(a, locals[k], local) == 0) return 1;
  return 0;
}


int mc_bounce_read_lone(mc_bounce_t *b, const char *s, size_t n,
                        char *const *skip, size_t nskip) {
  if (n > MAX_REGION) n = MAX_REGION;
  size_t first_at = 0, first_len = 0, first_line = 0;
  int found = 0;
  size_t i = 0;
  while (i < n) {
    size_t e = line_end(s, n, i);
    size_t from = quoted_header_line(s, i, e) ? e : i, at, len;
    while (mc_bounce_find_addr(s, e, from, &at, &len)) {
      from = at + len;
      if (at > 0 && s[at - 1] == '=') continue;   /* "...?to=a@b" in a link */
      if (skipped(s + at, len, skip, nskip) || service_address(s + at, len)) continue;
      if (found && len == first_len && strncasecmp(s + at, s + first_at, len) == 0)
        continue;
      if (found) return 0;   /* two candidates: no guess */
      found = 1;
      first_at = at;
      first_len = len;
      first_line = i;
    }
    i = e < n ? e + 1 : n;
  }
  if (!found) return 0;
  int oom;
  mc_bounce_rcpt_t *r = mc_bounce_rcpt(b, s + first_at, first_len, &oom);
  if (r == NULL) return oom ? -1 : 0;
  size_t e = line_end(s, n, first_line);
  if (mc_bounce_append(&r->diagnostic, s + first_line, e - first_line, MC_BOUNCE_MAX_DIAG) != 0) return -1;
  return gather(s, n, e < n ? e + 1 : n, r);
}
