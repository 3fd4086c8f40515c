/* Read-only queries whose rows go to a callback: the reports (mailcast
 * status, mailcast report, a run's wait for its next retry) and the
 * look-ups of a recipient by id or address (bounce processing). */
#include "store_internal.h"

#define ROW_COLUMNS "r.id AS id, r.campaign AS campaign, c.name AS campaign_name," \
                    " r.address AS address, r.state AS state"

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


int mc_store_report(mc_store_t *s, mc_report_t which, long long campaign, const char *state,
                    long long limit, mc_row_cb cb, void *arg, mc_error_t *e) {
  static const int query[] = {
    [MC_REPORT_CAMPAIGNS] = Q_REPORT_CAMPAIGNS, [MC_REPORT_REASONS] = Q_REPORT_REASONS,
    [MC_REPORT_NEXT_DUE] = Q_REPORT_NEXT_DUE, [MC_REPORT_RECIPIENTS] = Q_REPORT_RECIPIENTS,
  };
  sqlite3_stmt *st = mc_store_fresh(s, query[which]);
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
