/* Where webhooks read from: the store's events table, through a SQLite
 * connection of its own (the store is in WAL mode, so reading here never
 * waits for the store's writers, nor they for it). Each receiver has a
 * cursor, the id of the last event it acknowledged, in the table
 * webhook_cursors(url, campaign, last_id) (campaign 0: every campaign); a
 * campaign names its own receivers in campaign_webhooks(campaign, url).
 * Every statement is prepared. */
#ifndef MC_WEBHOOK_FEED_H
#define MC_WEBHOOK_FEED_H

#include <stddef.h>

#include "buf.h"
#include "error.h"

typedef struct mc_feed mc_feed_t;

/* The store at path must exist (mc_store_open made its tables). */
mc_feed_t *mc_feed_open(const char *path, mc_error_t *e);
void mc_feed_close(mc_feed_t *f);

/* The id of the newest event (0: none), or -1. */
long long mc_feed_last_id(mc_feed_t *f, mc_error_t *e);

/* The cursor of url for campaign (0: all); a new one starts at the newest
 * event, so a receiver is not sent the history. -1 on error. */
long long mc_feed_cursor(mc_feed_t *f, const char *url, long long campaign, mc_error_t *e);

/* Moves the cursor to last_id: 0, or -1 (the store was busy: try again). */
/* From now on a statement waits only briefly for another writer: the
 * feed runs on serve's loop, which must not stall (an opened feed waits
 * as the store does, for setting up). */
void mc_feed_in_loop(mc_feed_t *f);

int mc_feed_ack(mc_feed_t *f, const char *url, long long campaign, long long last_id,
                mc_error_t *e);

/* Calls cb for each campaign webhook registered after *seen (a rowid of
 * campaign_webhooks) and moves *seen past it: cheap enough for a timer.
 * A cb that returns -1 (the store was busy) stops there, and that
 * webhook comes again at the next call. */
typedef int (*mc_feed_target_cb)(void *arg, long long campaign, const char *url);
int mc_feed_targets(mc_feed_t *f, long long *seen, mc_feed_target_cb cb, void *arg, mc_error_t *e);

typedef struct {
  size_t n;               /* events in the body */
  long long first, last;  /* their ids */
  long long upto;         /* where the cursor goes once they are posted */
} mc_feed_batch_t;

/* Appends to body a JSON array of the (at most max) events after the id
 * `after` and up to `last` (mc_feed_last_id, read once a poll for every
 * receiver), of campaign (0: all), oldest first; one read of a bounded
 * range of ids, so it is short however far behind the cursor is.
 * 0 (b->n may be 0 with b->upto past events of other campaigns), or -1. */
int mc_feed_read(mc_feed_t *f, long long after, long long last, long long campaign, size_t max,
                 mc_buf_t *body, mc_feed_batch_t *b, mc_error_t *e);

/* Names urls as receivers of campaign's events from now on (kept when
 * already there, with their cursors), in one transaction. */
int mc_feed_register(const char *path, long long campaign, const char *const *urls, size_t n,
                     mc_error_t *e);

#endif
