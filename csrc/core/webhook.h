/* Outgoing webhooks for mailcast serve, fed from the store's events
 * table (webhook_feed.h), so they carry every outcome whoever wrote it:
 * delivered, deferred, failed, skipped, suppressed (campaign runs),
 * bounced, complained, delayed (bounce processing), opened, clicked,
 * unsubscribed (serve itself).
 *
 * Every poll interval each receiver is sent the events after its cursor,
 * oldest first, up to `batch` at a time, as one POST of a JSON array:
 *
 *   [{"id":41,"kind":"clicked","at":1764400000.123,"campaign_id":1,
 *     "recipient":7,"campaign":"news","address":"a@example.net","link":1,
 *     "url":"https://example.com/"}, ...]
 *
 * Each object has id, kind, at, campaign_id, recipient, campaign (the
 * name) and address, then what its kind recorded: code, enhanced, text,
 * reason, category, hard (delivery and bounce outcomes; text is "first"
 * or "repeat" for opens), link and url (clicks), machine (opens). A POST
 * carries X-Mailcast-Timestamp (Unix seconds), X-Mailcast-Signature:
 * sha256=HEX, the HMAC-SHA256 of "TIMESTAMP.BODY" with the secret, and
 * X-Mailcast-Events (how many). A receiver has one POST in flight at a
 * time; its cursor moves (and is committed) only on a 2xx, so delivery
 * is at least once, in order, across restarts: receivers de-duplicate by
 * id. A connection failure, timeout or other answer is retried after
 * backoff, backoff * 2, ... (at most backoff_max); after `tries` tries the
 * batch is given up (one line on stderr, counted) and the cursor moves on.
 * A receiver new to the store starts at its newest event.
 *
 * URLs are http:// or https:// (the chain verified against the system's
 * CAs or ca_file, and the host name or address; SNI). The --webhook URLs
 * get every campaign's events; the URLs a campaign registered
 * (mc_feed_register) get that campaign's, and are picked up while serve
 * runs. Nothing here blocks: reads are bounded, I/O is the loop's. */
#ifndef MC_WEBHOOK_H
#define MC_WEBHOOK_H

#include <stddef.h>

#include "error.h"

struct event_base;
struct evbuffer;

typedef struct {
  const void *secret;     /* copied */
  size_t secret_len;
  double timeout;         /* seconds per try (5) */
  double poll;            /* seconds between reads of the events (0.5) */
  size_t batch;           /* events per POST at most (100) */
  int tries;              /* before a batch is given up (10) */
  double backoff;         /* seconds before the first retry (1), doubled after each */
  double backoff_max;     /* the longest wait between tries (60) */
  const char *ca_file;    /* CAs for https:// (NULL: the system's); copied */
} mc_webhook_opts_t;

typedef struct mc_webhook mc_webhook_t;

/* 0 when url is http[s]://HOST[:PORT][/PATH], else -1 with e set. */
int mc_webhook_check_url(const char *url, mc_error_t *e);

/* Feeds urls (copied; none is fine: campaigns may name theirs) from the
 * store at path, which mc_store_open has made. */
mc_webhook_t *mc_webhook_new(struct event_base *base, const char *path, const char *const *urls,
                             size_t nurls, const mc_webhook_opts_t *o, mc_error_t *e);

/* Appends the counters to a Prometheus text page. */
void mc_webhook_metrics(const mc_webhook_t *w, struct evbuffer *out);

/* Cancels the POSTs under way (their events are sent again next time),
 * writes the cursors and frees w. */
void mc_webhook_free(mc_webhook_t *w);

#endif
