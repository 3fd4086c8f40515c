/* Read-only queries whose rows go to a callback: the reports (mailcast
 * status, mailcast report, a run's wait for its next retry) and the
 * look-ups of a recipient by id or address (bounce processing). */
#include "store_internal.h"

/* The group of a recipient in the reports by route or MX host (of its
 * last attempt: "" when it had none), or else by domain: ?2 says which.
 * A provider's rows are its domains' (GROUP_KEY, or the providers' sum
 * of the groups query). */
#define GROUP_INNER_KEY "(CASE ?2 WHEN 'route' THEN coalesce(route, '') WHEN 'host' THEN coalesce(host, '')" \
                        " ELSE mc_domain(address) END)"
/* The same by provider too. */
#define GROUP_KEY "(CASE WHEN ?2 = 'provider' THEN mc_provider(mc_domain(address)) ELSE " GROUP_INNER_KEY " END)"

#define ROW_COLUMNS "r.id AS id, r.campaign AS campaign, c.name AS campaign_name," \
                    " r.address AS address, r.state AS state, r.attempts AS attempts," \
                    " r.next_at AS next_at, r.last_code AS last_code, r.last_enhanced AS last_enhanced," \
                    " r.last_text AS last_text, r.updated AS updated"

const mc_store_sql_t mc_store_sql_report[] = {
  {Q_REPORT_CAMPAIGNS, "SELECT id, name, created, list_read FROM campaigns ORDER BY id"},
  {Q_REPORT_REASONS, "SELECT last_code AS code, last_enhanced AS enhanced, last_text AS text,"
                     " count(*) AS count FROM recipients WHERE campaign = ?1 AND state = ?2"
                     " GROUP BY 1, 2, 3 ORDER BY 4 DESC, 3 LIMIT ?3"},
  /* Of this connection's shard: a worker waits for its own retries only
   * (?2 and ?3 are the other reports' state and limit). */
  {Q_REPORT_NEXT_DUE, "SELECT min(next_at) AS next_at FROM recipients"
                      " WHERE campaign = ?1 AND state = 'deferred' AND " IN_SHARD("?4", "?5", "?6")},
  {Q_REPORT_RECIPIENTS, "SELECT id, address, attempts, last_code AS code, last_enhanced AS enhanced,"
                        " last_text AS text, updated FROM recipients"
                        " WHERE campaign = ?1 AND state = ?2 ORDER BY id LIMIT ?3"},
  {Q_RECIPIENT, "SELECT " ROW_COLUMNS " FROM recipients r JOIN campaigns c ON c.id = r.campaign"
                " WHERE r.id = ?1"},
  /* The newest first: a bounce is most likely about the latest sending. */
  {Q_BY_ADDRESS, "SELECT " ROW_COLUMNS " FROM recipients r JOIN campaigns c ON c.id = r.campaign"
                 " WHERE r.address = ?1 COLLATE NOCASE AND (?2 = 0 OR r.campaign = ?2)"
                 " ORDER BY r.id DESC LIMIT 50"},
  {0, NULL},
};

const mc_store_sql_t mc_store_sql_lazy[] = {
  /* mailcast report. A recipient counts once in the distinct counts
   * (count(DISTINCT nullif(recipient, 0))): recipient 0 is an aggregate
   * token's, who is no one in particular. Opens are people's unless a
   * prefetching proxy or a scanner fetched the pixel (machine). */
  {Q_REPORT_FUNNEL,
   "WITH r AS (SELECT count(*) AS recipients, coalesce(sum(attempts > 0), 0) AS sent,"
   "   coalesce(sum(state = 'delivered'), 0) AS delivered, coalesce(sum(state = 'deferred'), 0) AS deferred,"
   "   coalesce(sum(state = 'failed'), 0) AS failed,"
   "   coalesce(sum(CASE WHEN state = 'failed' THEN mc_class(last_code, last_enhanced, last_text, 'hard') END), 0)"
   "     AS failed_hard,"
   "   coalesce(sum(state = 'suppressed'), 0) AS suppressed, coalesce(sum(state = 'skipped'), 0) AS skipped,"
   "   coalesce(sum(state IN ('pending', 'in_flight')), 0) AS pending"
   "   FROM recipients WHERE campaign = ?1),"
   /* One pass over the campaign's events, a row per recipient (far
    * cheaper than a count(DISTINCT ...) for each figure). */
   " p AS (SELECT recipient <> 0 AS someone,"
   "   sum(kind = 'opened' AND NOT coalesce(machine, 0)) AS o, sum(kind = 'opened' AND coalesce(machine, 0)) AS m,"
   "   sum(kind = 'clicked') AS c, sum(kind = 'unsubscribed') AS u, sum(kind = 'complained') AS x,"
   "   sum(kind = 'bounced') AS b, sum(kind = 'bounced' AND coalesce(hard, 0)) AS bh,"
   "   min(CASE WHEN kind = 'delivered' THEN at END) AS d0, max(CASE WHEN kind = 'delivered' THEN at END) AS d1"
   "   FROM events WHERE campaign = ?1 GROUP BY recipient),"
   " e AS (SELECT"
   "   coalesce(sum(someone AND o > 0), 0) AS opens_unique, coalesce(sum(o), 0) AS opens_total,"
   "   coalesce(sum(someone AND m > 0), 0) AS machine_opens_unique, coalesce(sum(m), 0) AS machine_opens_total,"
   "   coalesce(sum(someone AND c > 0), 0) AS clicks_unique, coalesce(sum(c), 0) AS clicks_total,"
   "   coalesce(sum(someone AND u > 0), 0) AS unsubscribes, coalesce(sum(someone AND x > 0), 0) AS complaints,"
   "   coalesce(sum(b > 0), 0) AS bounced, coalesce(sum(bh > 0), 0) AS bounced_hard,"
   "   min(d0) AS first_delivery, max(d1) AS last_delivery FROM p)"
   " SELECT * FROM r, e"},
  /* A failure during the run (its last reply classified here), a
   * recipient deferred now, and the bounces and complaints that came
   * later (classified when they were read). The example is one reply
   * of the group's. */
  {Q_REPORT_OUTCOMES,
   "SELECT kind, reason, category, hard, count(*) AS count, code, enhanced, text FROM"
   " (SELECT state AS kind, mc_class(last_code, last_enhanced, last_text, 'reason') AS reason,"
   "   mc_class(last_code, last_enhanced, last_text, 'category') AS category,"
   "   CASE WHEN state = 'failed' THEN mc_class(last_code, last_enhanced, last_text, 'hard') ELSE 0 END"
   "     AS hard, last_code AS code, last_enhanced AS enhanced, last_text AS text"
   "   FROM recipients WHERE campaign = ?1 AND state IN ('failed', 'deferred')"
   "  UNION ALL"
   "  SELECT kind, coalesce(reason, mc_class(code, enhanced, text, 'reason')),"
   "   coalesce(category, mc_class(code, enhanced, text, 'category')), coalesce(hard, 0), code, enhanced, text"
   "   FROM (SELECT * FROM events WHERE campaign = ?1 AND kind IN ('bounced', 'complained')"
   "         GROUP BY recipient, kind))"
   " GROUP BY kind, reason, category, hard ORDER BY kind = 'deferred', count DESC, reason"},
  {Q_REPORT_LINKS,
   "WITH c AS (SELECT link, count(DISTINCT nullif(recipient, 0)) AS uniq, count(*) AS total FROM events"
   "  WHERE campaign = ?1 AND kind = 'clicked' GROUP BY link)"
   " SELECT l.idx AS idx, l.url AS url, l.tag AS tag, coalesce(c.uniq, 0) AS unique_clicks,"
   " coalesce(c.total, 0) AS clicks"
   " FROM links l LEFT JOIN c ON c.link = l.idx WHERE l.campaign = ?1"
   " ORDER BY clicks DESC, idx"},
  /* By domain first (a call of mc_domain a recipient), then, for the
   * providers, the domains' rows summed (a call of mc_provider a domain). */
  {Q_REPORT_GROUPS,
   "SELECT CASE WHEN ?2 = 'provider' THEN mc_provider(domain) ELSE domain END AS name,"
   " sum(n) AS recipients, sum(delivered) AS delivered, sum(deferred) AS deferred, sum(failed) AS failed,"
   " sum(skipped) AS skipped, sum(pending) AS pending FROM"
   " (SELECT " GROUP_INNER_KEY " AS domain, count(*) AS n,"
   "   sum(state = 'delivered') AS delivered, sum(state = 'deferred') AS deferred,"
   "   sum(state = 'failed') AS failed, sum(state IN ('suppressed', 'skipped')) AS skipped,"
   "   sum(state IN ('pending', 'in_flight')) AS pending"
   "   FROM recipients WHERE campaign = ?1 GROUP BY 1)"
   " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?3"},
  /* The median time from a delivered recipient's first attempt to its
   * delivery (0 when the first went through: what deferrals cost) of
   * each group. */
  {Q_REPORT_GROUP_LATENCY,
   "WITH l AS (SELECT " GROUP_KEY " AS name, updated - first_at AS latency FROM recipients"
   "   WHERE campaign = ?1 AND state = 'delivered' AND first_at IS NOT NULL),"
   " k AS (SELECT name, latency, row_number() OVER (PARTITION BY name ORDER BY latency) AS i,"
   "   count(*) OVER (PARTITION BY name) AS n FROM l)"
   " SELECT name, avg(latency) AS median FROM k WHERE i IN ((n + 1) / 2, (n + 2) / 2) GROUP BY name"},
  {Q_REPORT_GROUP_REPLIES,
   "SELECT name, state, code, enhanced, text, count FROM"
   " (SELECT " GROUP_KEY " AS name, state, last_code AS code, last_enhanced AS enhanced, last_text AS text,"
   "   count(*) AS count,"
   "   row_number() OVER (PARTITION BY " GROUP_KEY " ORDER BY count(*) DESC, last_text) AS rank"
   "   FROM recipients WHERE campaign = ?1 AND state IN ('deferred', 'failed')"
   "   GROUP BY 1, 2, 3, 4, 5)"
   " WHERE rank <= ?3 ORDER BY name, count DESC, text"},
  {Q_REPORT_PER_MINUTE,
   "WITH d AS (SELECT at FROM events WHERE campaign = ?1 AND kind = 'delivered'),"
   " t0 AS (SELECT min(at) AS t FROM d)"
   " SELECT CAST((d.at - t0.t) / 60 AS INTEGER) AS minute, count(*) AS count FROM d, t0"
   " GROUP BY 1 ORDER BY 1"},
  {Q_REPORT_PER_HOUR,
   "WITH t0 AS (SELECT min(at) AS t FROM events WHERE campaign = ?1 AND kind = 'delivered'),"
   " h AS (SELECT CAST((e.at - t0.t) / 3600 AS INTEGER) AS hour, e.kind AS kind FROM events e, t0"
   "  WHERE e.campaign = ?1 AND (e.kind = 'clicked' OR (e.kind = 'opened' AND NOT coalesce(e.machine, 0)))"
   "  AND e.at >= t0.t)"
   " SELECT hour, sum(kind = 'opened') AS opens, sum(kind = 'clicked') AS clicks FROM h"
   " WHERE hour < ?3 GROUP BY 1 ORDER BY 1"},
  /* From each recipient's delivery to their first open by a person
   * (one pass over the events, a row per recipient). */
  {Q_REPORT_OPEN_DELAY,
   "WITH p AS (SELECT min(CASE WHEN kind = 'opened' AND NOT coalesce(machine, 0) THEN at END) AS o,"
   "   min(CASE WHEN kind = 'delivered' THEN at END) AS d"
   "   FROM events WHERE campaign = ?1 AND recipient <> 0 AND kind IN ('opened', 'delivered')"
   "   GROUP BY recipient),"
   " x AS (SELECT o - d AS delay FROM p WHERE o >= d),"
   " n AS (SELECT count(*) AS n FROM x)"
   " SELECT n AS opened, (SELECT avg(delay) FROM (SELECT delay FROM x ORDER BY delay"
   "   LIMIT 2 - (SELECT n FROM n) % 2 OFFSET ((SELECT n FROM n) - 1) / 2)) AS median FROM n"},
  {Q_REPORT_ACCOUNTING,
   "SELECT e.at AS at, e.kind AS kind, r.address AS address, e.code AS code, e.enhanced AS enhanced,"
   " e.text AS text, coalesce(e.reason, mc_class(e.code, e.enhanced, e.text, 'reason')) AS reason,"
   " coalesce(e.category, mc_class(e.code, e.enhanced, e.text, 'category')) AS category,"
   " coalesce(e.route, r.route) AS route"
   " FROM events e JOIN recipients r ON r.id = e.recipient"
   " WHERE e.campaign = ?1 AND e.kind IN ('delivered', 'deferred', 'failed', 'bounced', 'complained',"
   " 'delayed') ORDER BY e.id LIMIT ?3"},
  /* An A/B test by variant: its test group (test = 1), the rest sent it
   * as the winner (test = 0), and those held for the pick (variant 0).
   * Opens are people's, as the funnel counts them. */
  {Q_REPORT_VARIANTS,
   "WITH p AS (SELECT recipient, max(kind = 'opened' AND NOT coalesce(machine, 0)) AS o,"
   "   max(kind = 'clicked') AS c FROM events WHERE campaign = ?1 AND kind IN ('opened', 'clicked')"
   "   GROUP BY recipient)"
   " SELECT abs(r.variant) AS variant, r.variant > 0 AS test, count(*) AS recipients,"
   "  (SELECT label FROM variant_labels l WHERE l.campaign = ?1 AND l.variant = abs(r.variant)) AS label,"
   "  sum(r.state = 'delivered') AS delivered, sum(r.state = 'failed') AS failed,"
   "  sum(r.state IN ('pending', 'in_flight', 'deferred')) AS pending,"
   "  coalesce(sum(p.o), 0) AS opens_unique, coalesce(sum(p.c), 0) AS clicks_unique"
   " FROM recipients r LEFT JOIN p ON p.recipient = r.id"
   " WHERE r.campaign = ?1 AND r.variant IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2 DESC"},
  /* Where a campaign's test stands: whether any of its test group is
   * left to send (before the pick, every pending recipient not held is
   * of the test group; a deferred one has been sent), and whether any
   * is held for the winner: found in the indexes at once, as a run asks
   * every second. How many are held (a count over the held ones) only
   * when ?2 is 'count'. */
  {Q_REPORT_TEST,
   "SELECT test_sent AS sent, test_winner AS winner, test_picked AS picked,"
   " (SELECT label FROM variant_labels l WHERE l.campaign = ?1 AND l.variant = test_winner) AS winner_label,"
   " EXISTS(SELECT 1 FROM recipients WHERE campaign = ?1 AND state IN ('pending', 'in_flight')"
   "   AND next_at < " MC_STORE_HELD ") AS unsent,"
   " EXISTS(SELECT 1 FROM recipients WHERE campaign = ?1 AND variant = 0) AS holding,"
   " CASE WHEN ?2 = 'count' THEN (SELECT count(*) FROM recipients WHERE campaign = ?1 AND variant = 0) END AS held"
   " FROM campaigns WHERE id = ?1"},
  {0, NULL},
};


int mc_store_report(mc_store_t *s, mc_report_t which, long long campaign, const char *state,
                    long long limit, mc_row_cb cb, void *arg, mc_error_t *e) {
  static const int query[] = {
    [MC_REPORT_CAMPAIGNS] = Q_REPORT_CAMPAIGNS, [MC_REPORT_REASONS] = Q_REPORT_REASONS,
    [MC_REPORT_NEXT_DUE] = Q_REPORT_NEXT_DUE, [MC_REPORT_RECIPIENTS] = Q_REPORT_RECIPIENTS,
    [MC_REPORT_FUNNEL] = Q_REPORT_FUNNEL, [MC_REPORT_OUTCOMES] = Q_REPORT_OUTCOMES,
    [MC_REPORT_LINKS] = Q_REPORT_LINKS, [MC_REPORT_GROUPS] = Q_REPORT_GROUPS,
    [MC_REPORT_GROUP_REPLIES] = Q_REPORT_GROUP_REPLIES, [MC_REPORT_PER_MINUTE] = Q_REPORT_PER_MINUTE,
    [MC_REPORT_PER_HOUR] = Q_REPORT_PER_HOUR, [MC_REPORT_OPEN_DELAY] = Q_REPORT_OPEN_DELAY,
    [MC_REPORT_ACCOUNTING] = Q_REPORT_ACCOUNTING, [MC_REPORT_VARIANTS] = Q_REPORT_VARIANTS,
    [MC_REPORT_TEST] = Q_REPORT_TEST, [MC_REPORT_GROUP_LATENCY] = Q_REPORT_GROUP_LATENCY,
  };
  int q = query[which];
  if (s->q[q] == NULL) {   /* a report's statement, prepared on first use */
    const mc_store_sql_t *t = mc_store_sql_lazy;
    while (t->sql && t->id != q) t++;
    if (t->sql == NULL) {
      mc_error_set(e, "store: report statement %d has no SQL", (int)q);
      return -1;
    }
    if (sqlite3_prepare_v3(s->db, t->sql, -1, SQLITE_PREPARE_PERSISTENT, &s->q[q], NULL) != SQLITE_OK)
      return mc_store_db_error(s, e, "report");
  }
  sqlite3_stmt *st = mc_store_fresh(s, q);
  int nparams = sqlite3_bind_parameter_count(st);
  if (nparams >= 1) sqlite3_bind_int64(st, 1, campaign);
  if (nparams >= 2) sqlite3_bind_text(st, 2, state ? state : "", -1, SQLITE_TRANSIENT);
  if (nparams >= 3) sqlite3_bind_int64(st, 3, limit);
  if (which == MC_REPORT_NEXT_DUE) mc_store_bind_shard(s, st, 4);
  return mc_store_each_row(s, st, cb, arg, e);
}


int mc_store_recipient(mc_store_t *s, long long id, mc_row_cb cb, void *arg, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_RECIPIENT);
  sqlite3_bind_int64(st, 1, id);
  return mc_store_each_row(s, st, cb, arg, e);
}


int mc_store_recipients_by_address(mc_store_t *s, const char *address, long long campaign,
                                   mc_row_cb cb, void *arg, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_BY_ADDRESS);
  sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, campaign);
  return mc_store_each_row(s, st, cb, arg, e);
}
