/* The text rules of the classifier: phrases that mailbox providers and
 * MTAs put in their replies and bounces, each pointing at a reason. The
 * text is normalized once, then every rule is a plain substring search
 * (with '*' for a short gap, which may be empty), in table order, first match wins. */
#ifndef MC_BOUNCE_RULES_H
#define MC_BOUNCE_RULES_H

#include <stddef.h>

#include "bounce_class.h"

typedef struct {
  const char *pattern;   /* lower case; '*' a gap, '|' a word edge */
  mc_reason_t reason;
} mc_text_rule_t;

#define MC_RULES_MAX_TEXT 4096   /* the part of a text the rules look at */
#define MC_RULES_MAX_GAP 64      /* what '*' may skip */

/* Writes text as the rules see it into out (cap bytes, at least 2):
 * ASCII lower case, every run of white space one space, the "550-5.1.1"
 * prefixes of SMTP continuation lines dropped, a space at each end so
 * word edges need no special case. Returns the length written. */
size_t mc_rules_normalize(const char *s, size_t n, char *out, size_t cap);

/* Whether pattern matches the normalized text. '*' stands for at most
 * MC_RULES_MAX_GAP bytes (between two words, for none as well); a '|'
 * first or last requires that the match start or end at a word's edge. */
int mc_rule_matches(const char *pattern, const char *norm, size_t n);

/* Whether any of patterns (count of them) matches the normalized text:
 * the same test as mc_rule_matches, with the same quick rejection as
 * mc_rules_find. */
int mc_rules_any(const char *const *patterns, size_t count, const char *norm, size_t n);

/* The first built-in rule that matches the normalized text, or NULL. */
const mc_text_rule_t *mc_rules_find(const char *norm, size_t n);

/* The built-in table, for listing it (count in *n). */
const mc_text_rule_t *mc_rules_table(size_t *n);

#endif
