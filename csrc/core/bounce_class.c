#include "bounce_class.h"

#include <stdio.h>
#include <string.h>

#include "bounce_rules.h"

/* Hard reasons are those where the address itself is bad: every other
 * one is about the sender, the message, or a passing condition, and
 * suppressing the recipient for it would lose a good address. */
static const mc_reason_info_t reasons[MC_REASON_COUNT] = {
  [MC_REASON_UNKNOWN] = {"unknown", "other", "Uncategorized", 0,
                         "no rule recognised the failure"},
  [MC_REASON_USER_UNKNOWN] = {"user_unknown", "bad-mailbox", "InvalidRecipient", 1,
                              "the mailbox does not exist"},
  [MC_REASON_MAILBOX_FULL] = {"mailbox_full", "quota-issues", "QuotaIssues", 0,
                              "the mailbox is over its quota"},
  [MC_REASON_MAILBOX_DISABLED] = {"mailbox_disabled", "inactive-mailbox", "InactiveMailbox", 1,
                                  "the mailbox exists but is disabled, suspended or closed"},
  [MC_REASON_HOST_UNKNOWN] = {"host_unknown", "bad-domain", "BadDomain", 1,
                              "the domain does not exist or accepts no mail (null MX)"},
  [MC_REASON_BLOCKED] = {"blocked", "spam-related", "SpamBlock", 0,
                         "the sender is refused: its IP, domain or address (block lists, reputation)"},
  [MC_REASON_SPAM] = {"spam", "spam-related", "SpamContent", 0,
                      "the message was taken for spam"},
  [MC_REASON_POLICY] = {"policy", "policy-related", "PolicyRelated", 0,
                        "refused by policy: SPF, DKIM, DMARC, relaying, sender checks"},
  [MC_REASON_RATE_LIMITED] = {"rate_limited", "policy-related", "TransientFailure", 0,
                              "too much mail too fast: rate limits, greylisting"},
  [MC_REASON_TOO_BIG] = {"message_too_big", "quota-issues", "QuotaIssues", 0,
                         "the message is larger than the receiver allows"},
  [MC_REASON_EXPIRED] = {"expired", "message-expired", "MessageExpired", 0,
                         "retried until the message's time ran out"},
  [MC_REASON_NETWORK] = {"network", "bad-connection", "BadConnection", 0,
                         "connection or TLS failure"},
  [MC_REASON_SYSTEM] = {"system_error", "bad-configuration", "BadConfiguration", 0,
                        "the receiving system failed: loops, storage, internal errors"},
  [MC_REASON_CONTENT] = {"content_rejected", "content-related", "ContentRelated", 0,
                         "the content was refused: viruses, attachments, malformed"},
};


const mc_reason_info_t *mc_reason_info(mc_reason_t r) {
  if ((int)r < 0 || r >= MC_REASON_COUNT) r = MC_REASON_UNKNOWN;
  return &reasons[r];
}


int mc_reason_by_name(const char *name) {
  for (int i = 0; i < MC_REASON_COUNT; i++)
    if (strcmp(reasons[i].name, name) == 0) return i;
  return -1;
}


/* What RFC 3463 and the IANA registry say each status means. A decisive
 * one settles the reason before the text is read; the others are only
 * a fallback, because receivers reuse them: Microsoft answers a missing
 * recipient with 5.1.10 (null MX in the registry) and 5.4.1, and Gmail
 * rate-limits with 4.2.1 (mailbox disabled). */
typedef struct {
  unsigned char subject, detail;
  mc_reason_t reason;
  unsigned char decisive;
} status_rule_t;

static const status_rule_t statuses[] = {
  {1, 1, MC_REASON_USER_UNKNOWN, 1},      /* bad destination mailbox address */
  {1, 2, MC_REASON_HOST_UNKNOWN, 1},      /* bad destination system address */
  {1, 3, MC_REASON_USER_UNKNOWN, 1},      /* bad destination mailbox address syntax */
  {1, 4, MC_REASON_USER_UNKNOWN, 0},      /* destination mailbox address ambiguous */
  {1, 6, MC_REASON_MAILBOX_DISABLED, 1},  /* destination mailbox has moved */
  {1, 7, MC_REASON_BLOCKED, 1},           /* bad sender's mailbox address syntax */
  {1, 8, MC_REASON_BLOCKED, 1},           /* bad sender's system address */
  {1, 10, MC_REASON_HOST_UNKNOWN, 0},     /* recipient address has null MX */
  {2, 1, MC_REASON_MAILBOX_DISABLED, 1},  /* mailbox disabled */
  {2, 2, MC_REASON_MAILBOX_FULL, 1},      /* mailbox full */
  {2, 3, MC_REASON_TOO_BIG, 1},           /* message length exceeds administrative limit */
  {2, 4, MC_REASON_SYSTEM, 0},            /* mailing list expansion problem */
  {3, 4, MC_REASON_TOO_BIG, 1},           /* message too big for system */
  {4, 1, MC_REASON_NETWORK, 0},           /* no answer from host */
  {4, 2, MC_REASON_NETWORK, 0},           /* bad connection */
  {4, 3, MC_REASON_NETWORK, 0},           /* directory server failure */
  {4, 4, MC_REASON_HOST_UNKNOWN, 1},      /* unable to route */
  {4, 5, MC_REASON_RATE_LIMITED, 0},      /* mail system congestion */
  {4, 6, MC_REASON_SYSTEM, 0},            /* routing loop detected */
  {4, 7, MC_REASON_EXPIRED, 1},           /* delivery time expired */
  {5, 3, MC_REASON_RATE_LIMITED, 0},      /* too many recipients */
  {7, 7, MC_REASON_CONTENT, 0},           /* message integrity failure */
  {7, 10, MC_REASON_NETWORK, 0},          /* encryption needed */
  {7, 11, MC_REASON_NETWORK, 0},          /* encryption required for mechanism */
  {7, 13, MC_REASON_MAILBOX_DISABLED, 1}, /* user account disabled */
  {7, 16, MC_REASON_TOO_BIG, 1},          /* message too big for specified priority */
  {7, 17, MC_REASON_MAILBOX_DISABLED, 1}, /* mailbox owner has changed (RRVS) */
  {7, 18, MC_REASON_HOST_UNKNOWN, 1},     /* domain owner has changed (RRVS) */
  {7, 20, MC_REASON_POLICY, 1},           /* no passing DKIM signature */
  {7, 21, MC_REASON_POLICY, 1},           /* no acceptable DKIM signature */
  {7, 22, MC_REASON_POLICY, 1},           /* no valid author-matched DKIM signature */
  {7, 23, MC_REASON_POLICY, 1},           /* SPF validation failed */
  {7, 24, MC_REASON_POLICY, 1},           /* SPF validation error */
  {7, 25, MC_REASON_POLICY, 1},           /* reverse DNS validation failed */
  {7, 26, MC_REASON_POLICY, 1},           /* multiple authentication checks failed */
  {7, 27, MC_REASON_POLICY, 1},           /* sender address has null MX */
  {7, 28, MC_REASON_RATE_LIMITED, 0},     /* mail flood detected */
  {7, 29, MC_REASON_POLICY, 1},           /* ARC validation failure */
  {7, 30, MC_REASON_NETWORK, 0},          /* REQUIRETLS support required */
};


/* The reason a subject suggests when no entry names the detail. */
static mc_reason_t subject_reason(int subject, int detail) {
  switch (subject) {
    case 1: return detail == 0 ? MC_REASON_UNKNOWN : MC_REASON_USER_UNKNOWN;
    case 3: return MC_REASON_SYSTEM;
    case 4: return MC_REASON_NETWORK;
    case 5: return MC_REASON_SYSTEM;
    case 6: return MC_REASON_CONTENT;
    case 7: return MC_REASON_POLICY;
    default: return MC_REASON_UNKNOWN;
  }
}


/* RFC 5321 4.2.2's meanings, used last. 550 and 554 say nothing. */
static mc_reason_t code_reason(int code) {
  switch (code) {
    case 421: case 451: case 452: case 455: return MC_REASON_SYSTEM;
    case 500: case 501: case 502: case 503: case 504: case 555: return MC_REASON_SYSTEM;
    case 521: case 556: return MC_REASON_HOST_UNKNOWN;   /* RFC 7504 */
    case 551: case 553: return MC_REASON_USER_UNKNOWN;
    case 552: return MC_REASON_MAILBOX_FULL;
    default: return MC_REASON_UNKNOWN;
  }
}


static int is_digit(char c) { return c >= '0' && c <= '9'; }


/* Digits at s[0..], at most max of them; their count, the value in *v. */
static size_t digits(const char *s, size_t n, size_t max, int *v) {
  size_t i = 0;
  *v = 0;
  while (i < n && i <= max && is_digit(s[i])) *v = *v * 10 + (s[i++] - '0');
  return i <= max ? i : 0;
}


size_t mc_enhanced_parse(const char *s, size_t n, char out[16]) {
  int cls, subject, detail;
  if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return 0;
  cls = s[0] - '0';
  size_t i = 2;
  size_t d = digits(s + i, n - i, 3, &subject);
  if (d == 0) return 0;
  i += d;
  if (i >= n || s[i] != '.') return 0;
  i++;
  d = digits(s + i, n - i, 3, &detail);
  if (d == 0) return 0;
  i += d;
  if (i < n && (is_digit(s[i]) || (s[i] == '.' && i + 1 < n && is_digit(s[i + 1])))) return 0;
  snprintf(out, 16, "%d.%d.%d", cls, subject % 1000, detail % 1000);   /* % keeps gcc's bound */
  return i;
}


/* Whether what comes before s[i] (blanks skipped) is a place where an
 * MTA or a server writes a code: a line's start or after "said:",
 * "smtp;", "(#", a quote. */
static int code_context(const char *s, size_t i) {
  while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t')) i--;
  if (i == 0) return 1;
  return strchr("\n\r;:('\"<#[=", s[i - 1]) != NULL;
}


/* Whether s[i] follows a reply code and its separator: "550 5.1.1",
 * "550-5.1.1". */
static int after_reply_code(const char *s, size_t i) {
  if (i < 4 || (s[i - 1] != ' ' && s[i - 1] != '-')) return 0;
  return is_digit(s[i - 2]) && is_digit(s[i - 3]) && (s[i - 4] == '4' || s[i - 4] == '5') &&
         (i == 4 || !is_digit(s[i - 5]));
}


void mc_scan_codes(const char *text, size_t n, int *code, char enhanced[16]) {
  *code = 0;
  enhanced[0] = '\0';
  if (n > 8192) n = 8192;   /* codes come first; a long text is prose */
  for (size_t i = 0; i < n && (*code == 0 || enhanced[0] == '\0'); i++) {
    if (!is_digit(text[i]) || (i > 0 && (is_digit(text[i - 1]) || text[i - 1] == '.'))) continue;
    int ctx = code_context(text, i);
    if (*code == 0 && ctx && i + 3 <= n && (text[i] == '4' || text[i] == '5') &&
        is_digit(text[i + 1]) && is_digit(text[i + 2]) &&
        (i + 3 == n || strchr(" -:\r\n\t", text[i + 3]))) {
      *code = (text[i] - '0') * 100 + (text[i + 1] - '0') * 10 + (text[i + 2] - '0');
      continue;
    }
    if (enhanced[0] == '\0' && (ctx || after_reply_code(text, i))) {
      char tmp[16];
      if (mc_enhanced_parse(text + i, n - i, tmp) && tmp[0] != '2') memcpy(enhanced, tmp, 16);
    }
  }
}


static void settle(mc_class_t *out, mc_reason_t r, const char *fmt, const char *arg) {
  out->reason = r;
  snprintf(out->rule, sizeof out->rule, fmt, arg);
}


void mc_classify(int code, const char *enhanced, const char *text, size_t n,
                 int permanent_hint, mc_class_t *out) {
  char status[16] = "";
  int success = code >= 200 && code < 400;   /* nothing failed: nothing is permanent */
  if (text == NULL) n = 0;
  if (enhanced && *enhanced) mc_enhanced_parse(enhanced, strlen(enhanced), status);
  if ((code < 400 || code > 599 || status[0] == '\0') && n > 0) {
    int found_code;
    char found_status[16];
    mc_scan_codes(text, n, &found_code, found_status);
    if (code < 400 || code > 599) code = found_code;
    if (status[0] == '\0') memcpy(status, found_status, sizeof status);
  }
  if (code < 400 || code > 599) code = 0;
  int cls = status[0] ? status[0] - '0' : code / 100;
  out->permanent = !success && (cls == 5 || (cls != 4 && cls != 2 && permanent_hint != 0));
  out->reason = MC_REASON_UNKNOWN;
  snprintf(out->rule, sizeof out->rule, "none");

  int subject = -1, detail = -1;
  const status_rule_t *known = NULL;
  if (status[0]) {
    sscanf(status + 2, "%d.%d", &subject, &detail);
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
      if (statuses[i].subject == subject && statuses[i].detail == detail) known = &statuses[i];
  }
  /* A temporary failure cannot prove an address bad, so a 4.x.x code
   * for a hard reason waits for the text like the generic ones. */
  if (known && known->decisive && (cls == 5 || !mc_reason_info(known->reason)->hard)) {
    settle(out, known->reason, "status %s", status);
  } else {
    char norm[MC_RULES_MAX_TEXT];
    size_t len = mc_rules_normalize(text ? text : "", n, norm, sizeof norm);
    const mc_text_rule_t *rule = mc_rules_find(norm, len);
    if (rule) {
      settle(out, rule->reason, "text \"%s\"", rule->pattern);
    } else if (known) {
      settle(out, known->reason, "status %s", status);
    } else if (status[0] && subject_reason(subject, detail) != MC_REASON_UNKNOWN) {
      settle(out, subject_reason(subject, detail), "status %s", status);
    } else if (code && code_reason(code) != MC_REASON_UNKNOWN) {
      char c[16];
      snprintf(c, sizeof c, "%d", code % 1000);
      settle(out, code_reason(code), "code %s", c);
    }
  }
  out->hard = out->permanent && mc_reason_info(out->reason)->hard;
}
