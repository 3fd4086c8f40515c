/* Outgoing webhooks for mailcast serve: each event is POSTed as JSON to
 * every URL (http:// only; https needs a local relay), signed with
 * X-Mailcast-Signature: sha256=HEX, the HMAC-SHA256 of "TIMESTAMP.BODY"
 * where TIMESTAMP is the X-Mailcast-Timestamp header. Deliveries wait in
 * a bounded queue (the oldest are dropped beyond it) and are retried
 * with backoff (1 s, 2 s, 4 s, 8 s; five tries) on a connection failure,
 * a timeout or an answer other than 2xx. Nothing here ever blocks. */
#ifndef MC_WEBHOOK_H
#define MC_WEBHOOK_H

#include <stddef.h>

#include "error.h"

struct event_base;

typedef struct mc_webhook mc_webhook_t;

/* urls are copied. NULL with e set on a URL that is not http://HOST[:PORT]/PATH. */
mc_webhook_t *mc_webhook_new(struct event_base *base, const char *const *urls, size_t nurls,
                             const void *secret, size_t secret_len, double timeout,
                             size_t max_queue, mc_error_t *e);

/* Queues the event for every URL; address may be NULL. */
void mc_webhook_event(mc_webhook_t *w, const char *kind, long long campaign,
                      long long recipient, const char *address, unsigned link,
                      int machine, double at);

typedef struct {
  unsigned long long ok, failed, dropped;
  size_t queued;
} mc_webhook_stats_t;

void mc_webhook_stats(const mc_webhook_t *w, mc_webhook_stats_t *s);

/* Cancels what is pending and frees w. */
void mc_webhook_free(mc_webhook_t *w);

#endif
