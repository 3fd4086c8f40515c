/* Shared by bounce_parse.c and the files it is split into; not part of
 * the core's API. Every function that allocates returns -1 (or NULL)
 * only when memory runs out, and leaves *b consistent for
 * mc_bounce_free either way. */
#ifndef MC_BOUNCE_INTERNAL_H
#define MC_BOUNCE_INTERNAL_H

#include <stddef.h>

#include "bounce_parse.h"
#include "buf.h"

/* bounce_util.c */

/* Replaces *dst with a copy of s[0..n) without its surrounding white
 * space. */
int mc_bounce_set(char **dst, const char *s, size_t n);

/* Frees what r holds and empties it: the one place that knows a
 * recipient's fields. */
void mc_bounce_rcpt_clear(mc_bounce_rcpt_t *r);

/* Appends a line to *dst (a newline between), keeping at most cap bytes;
 * a line whose text already stands anywhere in *dst is not added again. */
int mc_bounce_append(char **dst, const char *s, size_t n, size_t cap);

/* The first thing shaped like an addr-spec in s[from..n): sets *at and
 * *len and returns 1, or returns 0. Quoted local parts are not looked
 * for: bounces write addresses plainly. */
int mc_bounce_find_addr(const char *s, size_t n, size_t from, size_t *at, size_t *len);

/* The address of a field value ("Name <a@b>", "rfc822; a@b", "<a@b>"),
 * copied into *dst; 0 also when there is none (*dst stays NULL). */
int mc_bounce_addr_of(char **dst, const char *value);

/* The recipient for addr (case-insensitive), added when absent; NULL
 * when memory runs out or the list is at MC_BOUNCE_MAX_RCPTS (*oom says
 * which). */
mc_bounce_rcpt_t *mc_bounce_rcpt(mc_bounce_t *b, const char *addr, size_t n, int *oom);

/* A new recipient at the end, even if its address is already listed
 * (a DSN may report one address twice); NULL as above. */
mc_bounce_rcpt_t *mc_bounce_rcpt_new(mc_bounce_t *b, int *oom);

/* Case-insensitive search for a lower-case needle in s[0..n). */
int mc_bounce_icontains(const char *s, size_t n, const char *needle);

/* bounce_report.c: the machine-readable parts of multipart/report. */

/* message/delivery-status (or message/global-delivery-status): the
 * per-message fields and one recipient per per-recipient group. */
int mc_bounce_read_dsn(mc_bounce_t *b, const char *s, size_t n);

/* message/feedback-report: the report's fields, and a recipient for
 * each Original-Rcpt-To. */
int mc_bounce_read_arf(mc_bounce_t *b, const char *s, size_t n);

/* bounce_text.c: bounces written for people. */

/* Where the copy of the returned message starts in a bounce's text:
 * *region_end is where the bounce's own words end, *copy_start where
 * the copy's header begins (n when there is no copy). */
void mc_bounce_split_text(const char *s, size_t n, size_t *region_end, size_t *copy_start);

/* Finds the recipients of a bounce's text (s[0..n), the bounce's own
 * words) with the diagnostic written next to each. Addresses in skip
 * (count nskip, lower case) are the bounce's own and never taken. */
int mc_bounce_read_text(mc_bounce_t *b, const char *s, size_t n,
                        char *const *skip, size_t nskip);

/* When a bounce's words name one address only (not its own, not the
 * mail system's, not in a quoted header line), that address as the
 * failed recipient: the fallback for wordings no rule of read_text
 * knows. Two or more candidates give nobody. */
int mc_bounce_read_lone(mc_bounce_t *b, const char *s, size_t n,
                        char *const *skip, size_t nskip);

/* bounce_detect.c: what kind of message this is, from its header and
 * words. norm is the readable part as mc_rules_normalize writes it. */

/* Whether the sender is a mail system: MAILER-DAEMON, postmaster, "Mail
 * Delivery System", Microsoft's NDR sender. */
int mc_bounce_from_daemon(const mc_entity_t *root);

/* Whether the header and text read as a non-delivery notice. */
int mc_bounce_looks_bounced(const mc_entity_t *root, const char *subject,
                            const char *norm, size_t n);

/* Whether a bounce's text says delivery is only delayed. */
int mc_bounce_says_delayed(const char *subject, const char *norm, size_t n);

/* Whether the message is an automatic reply (RFC 3834 fields, the usual
 * out-of-office and vacation subjects). */
int mc_bounce_is_autoreply(const mc_entity_t *root, const char *subject);

#endif
