/* The campaign store (SQLite in WAL mode): recipients and their state,
 * an event per outcome, and the suppression list campaigns share. Every
 * statement is prepared; a crash loses nothing that was committed, and
 * recipients caught in flight go back to pending when the store is
 * recovered (so at most those are sent twice). */
#ifndef MC_STORE_H
#define MC_STORE_H

#include <stddef.h>

#include "error.h"

typedef enum {
  MC_R_PENDING, MC_R_IN_FLIGHT, MC_R_DEFERRED, MC_R_DELIVERED,
  MC_R_FAILED, MC_R_SKIPPED, MC_R_SUPPRESSED, MC_R_STATES
} mc_rstate_t;

typedef struct mc_store mc_store_t;

typedef struct {
  long long id;
  char *address;
  char *data;
  size_t datalen;
  int attempts;
  double first_at;   /* time of the first attempt; 0: none yet */
  int was_deferred;  /* claimed from deferred (else from pending) */
  char *suppressed;  /* why, when it was on the suppression list (and is
                        now marked suppressed, not in flight); else NULL */
  int variant;       /* its A/B test variant: k (test group), -k (sent the
                        winner k), 0: the campaign has no test */
} mc_claim_t;

const char *mc_rstate_name(mc_rstate_t s);
int mc_rstate_parse(const char *name, mc_rstate_t *s);

/* Opens the store at path, made when absent; one made by an earlier
 * version is brought up to date (store_schema.c). NULL (e says why) also
 * for a store a newer version made: it is left as it is. */
mc_store_t *mc_store_open(const char *path, mc_error_t *e);
void mc_store_close(mc_store_t *s);

/* Groups what follows into one transaction (batched commits). */
int mc_store_begin(mc_store_t *s, mc_error_t *e);
int mc_store_commit(mc_store_t *s, mc_error_t *e);

/* The campaign's id, made on first use; -1 on error. */
long long mc_store_campaign(mc_store_t *s, const char *name, double now, mc_error_t *e);

/* Notes whether the campaign's list has been read to its end (read is
 * 0 while a run reads it, 1 once it has read the last row). */
int mc_store_list_read(mc_store_t *s, long long campaign, int read, mc_error_t *e);

/* 1 when added, 0 when the address is already in the campaign, -1.
 * variant: its A/B test variant (1 ..: of the test group; 0: held
 * until the winner is picked, never claimed before; -1: no test). */
int mc_store_add(mc_store_t *s, long long campaign, const char *address,
                 const char *data, size_t datalen, int variant, mc_error_t *e);

/* When a held recipient is due: later than any claim's now. */
#define MC_STORE_HELD "9e15"

/* Up to max recipients that are due (pending, or deferred with next_at
 * <= now), marked in flight; suppressed ones are marked so and come with
 * their reason in `suppressed`.
 * The caller frees the list with mc_store_claims_free. */
int mc_store_claim(mc_store_t *s, long long campaign, double now, size_t max,
                   mc_claim_t **out, size_t *n, mc_error_t *e);
void mc_store_claims_free(mc_claim_t *c, size_t n);

/* Where an attempt went: the campaign's route and the server that
 * answered (either NULL: not known, the last one kept); unsent: there
 * was no attempt (a job taken back before it was sent), so none is
 * counted. */
typedef struct {
  const char *route, *host;
  int unsent;
} mc_store_via_t;

/* Records an outcome: the new state, the reply, where the attempt went
 * (NULL: not known), when to try again (for deferred), and an event. A
 * recipient cancelled while in flight whose outcome is not final is
 * failed instead: *cancelled (when not NULL) is then that failure's text,
 * the caller's to free, and NULL otherwise. */
int mc_store_finish(mc_store_t *s, long long id, mc_rstate_t state, int code,
                    const char *enhanced, const char *text, const mc_store_via_t *via,
                    double next_at, double now, char **cancelled, mc_error_t *e);

/* From now on this connection claims and recovers only the recipients of
 * shard index (0 .. count - 1), chosen by a hash of the recipient's
 * domain (by_domain) or whole address; count 1: all of them. */
void mc_store_shard(mc_store_t *s, long long index, long long count, int by_domain);

/* After a crash: in-flight recipients (of this connection's shard) are
 * pending again; *n says how many. */
int mc_store_recover(mc_store_t *s, long long campaign, size_t *n, mc_error_t *e);

int mc_store_counts(mc_store_t *s, long long campaign, size_t counts[MC_R_STATES], mc_error_t *e);

int mc_store_suppress(mc_store_t *s, const char *address, const char *reason, double now,
                      double expires, mc_error_t *e);
int mc_store_unsuppress(mc_store_t *s, const char *address, mc_error_t *e);

/* 1 and the reason when address is suppressed at now, 0 when not, -1. */
int mc_store_suppressed(mc_store_t *s, const char *address, double now, char *reason,
                        size_t size, mc_error_t *e);

/* Read-only reports: one call of cb per row (return non-zero to stop). */
typedef enum {
  MC_REPORT_CAMPAIGNS,    /* id, name, created */
  MC_REPORT_REASONS,      /* code, enhanced, text, count: the commonest replies of a state */
  MC_REPORT_NEXT_DUE,     /* next_at: the soonest retry of a deferred recipient (NULL: none) */
  MC_REPORT_RECIPIENTS,   /* id, address, attempts, code, enhanced, text, updated: of a state */
  /* mailcast report (store_report.c has each one's columns): */
  MC_REPORT_FUNNEL,       /* one row: the counts by state, of events, of distinct recipients */
  MC_REPORT_OUTCOMES,     /* failures, deferrals, bounces, complaints by kind, reason and category */
  MC_REPORT_LINKS,        /* each tracked link with its unique and total clicks */
  MC_REPORT_GROUPS,       /* by domain (state "domain"), provider ("provider"), the route
                             ("route") or MX host ("host") of the last attempt: the states */
  MC_REPORT_GROUP_REPLIES,/* the commonest replies of each group (state as above) */
  MC_REPORT_PER_MINUTE,   /* deliveries per minute since the first one */
  MC_REPORT_PER_HOUR,     /* human opens and clicks per hour since the first delivery (limit hours) */
  MC_REPORT_OPEN_DELAY,   /* one row: how many opened after delivery, the median delay */
  MC_REPORT_ACCOUNTING,   /* every outcome, bounce and complaint with its recipient, in order */
  MC_REPORT_VARIANTS,     /* an A/B test's figures by variant and group (test, rest, held) */
  MC_REPORT_TEST,         /* one row: the test's state (sent, winner, picked, unsent, holding;
                             held: how many, with state "count") */
  MC_REPORT_GROUP_LATENCY,/* each group's median time from first attempt to delivery (state as
                             for groups) */
} mc_report_t;

/* The most columns a report's row has. */
#define MC_REPORT_MAX_COLUMNS 32

/* The provider group of a domain in lower case: "gmail", "microsoft",
 * "yahoo", "apple" or "other" (store_report_fn.c has the domains). */
const char *mc_store_provider(const char *domain);

typedef enum { MC_COL_NULL, MC_COL_INT, MC_COL_REAL, MC_COL_TEXT } mc_col_type_t;

typedef struct {
  const char *name;
  mc_col_type_t type;
  long long i;
  double f;
  const char *t;    /* valid during the callback */
  size_t len;
} mc_col_t;

typedef int (*mc_row_cb)(void *arg, const mc_col_t *cols, int n);

/* state and limit are used by the reports that take them. */
int mc_store_report(mc_store_t *s, mc_report_t which, long long campaign, const char *state,
                    long long limit, mc_row_cb cb, void *arg, mc_error_t *e);

/* mailcast queue: the deferred recipients, for an operator ---------------
 * Each takes campaign (0: every campaign of the store) and domain (NULL:
 * every domain; any case). */

/* The text a cancelled recipient's row and event carry (followed by the
 * last reply, when there was one). A recipient in flight when it is
 * cancelled keeps its transaction: delivered or failed, that outcome is
 * recorded as usual; deferred (or handed back unsent), it is failed and
 * cancelled instead of queued again. */
#define MC_CANCEL_TEXT "cancelled by operator"

/* The deferred recipients grouped by campaign, domain and reason (the
 * bounce taxonomy's, of their last reply); rows: campaign,
 * campaign_name, domain, reason, category, count, next_at (the soonest
 * next attempt), last_at (the latest reply), code, enhanced, text (that
 * reply), the largest groups first. */
int mc_store_queue_groups(mc_store_t *s, long long campaign, const char *domain, mc_row_cb cb,
                          void *arg, mc_error_t *e);

/* The deferred recipients, the soonest due first, up to limit (-1: all);
 * rows: id, campaign, campaign_name, address, domain, attempts, next_at,
 * first_at, updated, code, enhanced, text, reason. */
int mc_store_queue_recipients(mc_store_t *s, long long campaign, const char *domain, long long limit,
                              mc_row_cb cb, void *arg, mc_error_t *e);

/* Makes the deferred recipients due at now (a run claims them at its
 * next claim): how many, or -1. */
long long mc_store_queue_retry(mc_store_t *s, long long campaign, const char *domain, double now,
                               mc_error_t *e);

/* Fails the pending and deferred recipients with MC_CANCEL_TEXT (not
 * suppressed: only this campaign's sending of them ends), an event each,
 * and marks those in flight to be cancelled when their outcome is not
 * final (MC_CANCEL_TEXT says how), in one transaction: 0 with *cancelled
 * and *in_flight set, or -1. */
int mc_store_queue_cancel(mc_store_t *s, long long campaign, const char *domain, double now,
                          long long *cancelled, long long *in_flight, mc_error_t *e);

/* The campaign's recipients in flight that were cancelled meanwhile
 * (marked by mc_store_queue_cancel); rows: id. A run takes back those it
 * has not sent yet. */
int mc_store_queue_cancelled(mc_store_t *s, long long campaign, mc_row_cb cb, void *arg, mc_error_t *e);

/* Bounce processing (mailcast bounces) and the suppression list
 * (mailcast suppress). ---------------------------------------------------- */

/* Ends the transaction begun with mc_store_begin (however deep) without
 * keeping what it wrote. */
int mc_store_rollback(mc_store_t *s, mc_error_t *e);

/* The id of the campaign named name, 0 when there is none (it is never
 * made here: a bounce must not create campaigns), -1 on error. */
long long mc_store_campaign_find(mc_store_t *s, const char *name, mc_error_t *e);

/* Recipient id (rows: id, campaign, campaign_name, address, state,
 * attempts, next_at, last_code, last_enhanced, last_text, updated). */
int mc_store_recipient(mc_store_t *s, long long id, mc_row_cb cb, void *arg, mc_error_t *e);

/* The recipients with address (any case), newest first, of campaign
 * (0: of every campaign); the same columns as mc_store_recipient. */
int mc_store_recipients_by_address(mc_store_t *s, const char *address, long long campaign,
                                   mc_row_cb cb, void *arg, mc_error_t *e);

/* The last transcript of a recipient not delivered (store_transcripts.c):
 * put replaces the recipient's row; the reads give rows of recipient,
 * address, campaign (its name), at, text: by recipient id, or the newest
 * of an address's of campaign (0: of any). */
int mc_store_transcript_put(mc_store_t *s, long long recipient, double at, const char *text, size_t len,
                            mc_error_t *e);
int mc_store_transcript(mc_store_t *s, long long recipient, mc_row_cb cb, void *arg, mc_error_t *e);
int mc_store_transcript_by_address(mc_store_t *s, const char *address, long long campaign, mc_row_cb cb,
                                   void *arg, mc_error_t *e);

/* An event with what the bounce taxonomy says about it. */
typedef struct {
  long long campaign, recipient;
  double at;
  const char *kind;       /* "bounced", "complained", "delayed" */
  int code;               /* 0: none */
  const char *enhanced, *text, *reason, *category;   /* NULL: none */
  int hard;               /* 1, 0, or -1 for none */
  int counted;            /* counts towards the soft-bounce limit */
} mc_event_t;

int mc_store_event(mc_store_t *s, const mc_event_t *ev, mc_error_t *e);

/* The counted events of every recipient with address since then; -1. */
long long mc_store_soft_count(mc_store_t *s, const char *address, double since, mc_error_t *e);

/* The suppression entry of address, expired or not (rows: address,
 * reason, since, expires (absent: never)). */
int mc_store_suppression_get(mc_store_t *s, const char *address, mc_row_cb cb, void *arg,
                             mc_error_t *e);

/* The entries in force at now (all: expired ones too) whose reason
 * starts with reason (any case; NULL: every one), by address. */
int mc_store_suppression_list(mc_store_t *s, const char *reason, double now, int all,
                              mc_row_cb cb, void *arg, mc_error_t *e);

/* How many rows the last insert, update or delete changed. */
int mc_store_changes(mc_store_t *s);

/* Messages read before, by a key of the caller's (a Message-ID or a
 * hash): 1 and the outcome recorded (into outcome, size bytes), 0 when
 * never seen, -1. mark_seen records or updates one. */
int mc_store_seen(mc_store_t *s, const char *key, char *outcome, size_t size, mc_error_t *e);
int mc_store_mark_seen(mc_store_t *s, const char *key, double now, const char *outcome,
                       mc_error_t *e);

/* The store's secret called name: 32 random bytes made on first use,
 * into out (size bytes at most; *len says how many). 0, or -1. */
int mc_store_secret(mc_store_t *s, const char *name, unsigned char *out, size_t size,
                    size_t *len, mc_error_t *e);

/* mailcast serve -----------------------------------------------------------
 * A campaign's tracked link index (from 1) and its URL: with a
 * recipient's own URLs (mc_store_link_recipient), the only places a click
 * is sent to. Kept when already there. tag (NULL: none): the name the
 * campaign's track hook gave the link, for the reports. */
int mc_store_link(mc_store_t *s, long long campaign, long long index, const char *url,
                  const char *tag, mc_error_t *e);

/* 1 and *url (malloc'd, the caller frees it) when the campaign has link
 * index, 0 when not, -1. */
int mc_store_link_get(mc_store_t *s, long long campaign, long long index, char **url,
                      mc_error_t *e);

/* A link as one recipient's message had it, where it was not the
 * campaign's URL for that index (recipient from 1; url is len bytes).
 * Replaces what the recipient had there: the latest message counts. */
int mc_store_link_recipient(mc_store_t *s, long long campaign, long long recipient,
                            long long index, const char *url, size_t len, mc_error_t *e);

/* Where a click on link index of recipient's message goes: 1 and *url
 * (malloc'd, the caller frees it) for the recipient's own URL of that
 * index when there is one, else the campaign's; 0 when neither is
 * there, -1. Recipient 0 (aggregate tokens) gets the campaign's only. */
int mc_store_link_for(mc_store_t *s, long long campaign, long long recipient, long long index,
                      char **url, mc_error_t *e);

/* The campaign's links (recipient 0), or only recipient's own ones,
 * by index (rows: idx, url). */
int mc_store_links(mc_store_t *s, long long campaign, long long recipient, mc_row_cb cb, void *arg,
                   mc_error_t *e);

/* A tracking event: an open (text "first" or "repeat" for the
 * recipient; machine when a prefetching proxy or scanner fetched it), a
 * click (with its link), an unsubscribe. */
typedef struct {
  long long campaign, recipient, link;   /* link: 0 for none */
  double at;
  const char *kind;    /* "opened", "clicked", "unsubscribed" */
  int machine;
} mc_hit_t;

/* Records h: 1, 0 when nothing is recorded (its campaign is not in the
 * store, its recipient (unless 0, an aggregate token's) not in that
 * campaign, or an unsubscribe that was recorded before), -1. */
int mc_store_hit(mc_store_t *s, const mc_hit_t *h, mc_error_t *e);

/* The events of kind in campaign: out = {all, by machines, firsts}. */
int mc_store_hit_counts(mc_store_t *s, long long campaign, const char *kind, long long out[3],
                        mc_error_t *e);

/* Segments: a campaign's recipients by what happened to them
 * (store_segment.c) ------------------------------------------------------ */

typedef struct {
  long long campaign;
  int delivered, opened, clicked, failed;   /* 1: had it, 0: had not, -1: either */
  int machine_opens;   /* an open by a prefetching proxy or scanner counts */
  long long upto;      /* events after this id do not count (0: none does) */
  /* Bit r (an mc_reason_t of bounce_class.h) set: a recipient whose last
   * outcome (failed, deferred, bounced) has reason r; 0: any outcome. */
  unsigned reasons;
} mc_segment_t;

/* The id of the store's newest event (0: none), or -1. */
long long mc_store_last_event(mc_store_t *s, mc_error_t *e);

/* The events bound of campaign's segment: upto when it has none yet
 * (the first run), else the one it has, into *kept. 0, or -1. */
int mc_store_segment_fix(mc_store_t *s, long long campaign, long long upto, long long *kept,
                         mc_error_t *e);

/* Up to limit recipients of the segment whose id is above after, by id
 * (rows: id, address, data): read a page at a time. */
int mc_store_segment(mc_store_t *s, const mc_segment_t *g, long long after, long long limit,
                     mc_row_cb cb, void *arg, mc_error_t *e);

/* A/B tests (store_abtest.c) ------------------------------------------- */

/* Notes that campaign's test group has all been sent, at now (kept
 * when noted before). */
int mc_store_test_sent(mc_store_t *s, long long campaign, double now, mc_error_t *e);

/* The labels of a campaign's variants, labels[k - 1] variant k's (NULL:
 * none), in place of those recorded before. */
int mc_store_variant_labels(mc_store_t *s, long long campaign, const char *const *labels, size_t n,
                            mc_error_t *e);

/* Records winner as campaign's, unless one was picked before, and makes
 * the held recipients due, to be sent the winner; *picked says the
 * winner recorded (another process's pick stays). 1 when this call made
 * the pick, 0 when an earlier one stands, -1. */
int mc_store_test_pick(mc_store_t *s, long long campaign, int winner, double now, int *picked,
                       mc_error_t *e);

#endif
