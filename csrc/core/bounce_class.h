/* Why a delivery failed, in one taxonomy used everywhere: SMTP replies
 * while sending, bounce messages that arrive later, reports. Each reason
 * is hard (the address is bad: suppress it) or soft (retry, or count),
 * and carries the bounce category operators' tools already use
 * (PowerMTA's names, KumoMTA's classes), so accounting logs drop into
 * them unchanged. */
#ifndef MC_BOUNCE_CLASS_H
#define MC_BOUNCE_CLASS_H

#include <stddef.h>

typedef enum {
  MC_REASON_UNKNOWN = 0,
  MC_REASON_USER_UNKNOWN,
  MC_REASON_MAILBOX_FULL,
  MC_REASON_MAILBOX_DISABLED,
  MC_REASON_HOST_UNKNOWN,
  MC_REASON_BLOCKED,
  MC_REASON_SPAM,
  MC_REASON_POLICY,
  MC_REASON_RATE_LIMITED,
  MC_REASON_TOO_BIG,
  MC_REASON_EXPIRED,
  MC_REASON_NETWORK,
  MC_REASON_SYSTEM,
  MC_REASON_CONTENT,
  MC_REASON_COUNT
} mc_reason_t;

typedef struct {
  const char *name;      /* "user_unknown": what scripts and logs say */
  const char *category;  /* PowerMTA bounce category: "bad-mailbox" */
  const char *kumo;      /* KumoMTA bounce class: "InvalidRecipient" */
  int hard;              /* a permanent failure for this reason suppresses */
  const char *summary;   /* one line for people */
} mc_reason_info_t;

/* The row of the taxonomy for r (MC_REASON_UNKNOWN's when out of range). */
const mc_reason_info_t *mc_reason_info(mc_reason_t r);

/* The reason named name, or -1. */
int mc_reason_by_name(const char *name);

#define MC_RULE_MAX 96

typedef struct {
  mc_reason_t reason;
  int permanent;          /* a 5xx reply or 5.x.x status: no retry helps */
  int hard;               /* the reason is hard and the failure permanent */
  char rule[MC_RULE_MAX]; /* what decided: "status 5.1.1", "text \"over quota\"" */
} mc_class_t;

/* Classifies a failure from what the receiver said: code (0 when none),
 * enhanced ("5.1.1"; NULL or "" when none) and the text (n bytes, may
 * hold line breaks). When code or enhanced is missing, it is looked for
 * at the start of the text's lines. permanent_hint (1 or 0) is used when
 * neither code nor status says which it is; -1 means permanent.
 *
 * Order: an enhanced status code whose detail leaves no doubt (X.1.1,
 * X.2.2, X.3.4, ...), then the text rules (providers' reply texts), then
 * what the enhanced code's subject says (X.7.x policy, X.4.x network),
 * then the reply code. Generic codes such as 5.7.1 and 550 come after
 * the text because receivers use them for everything. */
void mc_classify(int code, const char *enhanced, const char *text, size_t n,
                 int permanent_hint, mc_class_t *out);

/* Finds the first reply code (4xx or 5xx) and enhanced status code in
 * text, where a server or an MTA writes them: at a line's start, after
 * "said:", "smtp;", "#" or a quote. *code is 0 and enhanced "" when
 * absent. enhanced has room for 16 bytes. */
void mc_scan_codes(const char *text, size_t n, int *code, char enhanced[16]);

/* Reads an enhanced status code "C.S.D" (class 2, 4 or 5, at most three
 * digits per part) at the start of s, into out[16]. Returns its length,
 * or 0 when s does not start with one (or it runs on into more digits). */
size_t mc_enhanced_parse(const char *s, size_t n, char out[16]);

#endif
