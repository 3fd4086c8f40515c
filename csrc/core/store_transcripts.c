/* The last transcript of a recipient that was not delivered: the lines
 * of its last transaction that failed or was deferred (bounded by the
 * session's ring, smtp_trace_ring.h; credentials never in it), one row
 * per recipient, replaced by each such attempt. A delivery writes
 * nothing: the row left says how the last failure went. */
#include "store_internal.h"

const mc_store_sql_t mc_store_sql_transcripts[] = {
  {Q_TRANSCRIPT_PUT, "INSERT INTO transcripts(recipient, at, text) VALUES (?1, ?2, ?3)"
                     " ON CONFLICT(recipient) DO UPDATE SET at = ?2, text = ?3"},
  {Q_TRANSCRIPT_GET, "SELECT t.recipient AS recipient, r.address AS address, c.name AS campaign,"
                     " t.at AS at, t.text AS text FROM transcripts t"
                     " JOIN recipients r ON r.id = t.recipient JOIN campaigns c ON c.id = r.campaign"
                     " WHERE t.recipient = ?1"},
  /* The newest of an address's, of one campaign or of any. */
  {Q_TRANSCRIPT_BY_ADDRESS, "SELECT t.recipient AS recipient, r.address AS address, c.name AS campaign,"
                            " t.at AS at, t.text AS text FROM recipients r"
                            " JOIN transcripts t ON t.recipient = r.id JOIN campaigns c ON c.id = r.campaign"
                            " WHERE r.address = ?1 COLLATE NOCASE AND (?2 = 0 OR r.campaign = ?2)"
                            " ORDER BY t.at DESC LIMIT 1"},
  {0, NULL},
};


int mc_store_transcript_put(mc_store_t *s, long long recipient, double at, const char *text, size_t len,
                            mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_TRANSCRIPT_PUT);
  sqlite3_bind_int64(st, 1, recipient);
  sqlite3_bind_double(st, 2, at);
  sqlite3_bind_text(st, 3, text, (int)len, SQLITE_TRANSIENT);
  return mc_store_run(s, Q_TRANSCRIPT_PUT, e);
}


int mc_store_transcript(mc_store_t *s, long long recipient, mc_row_cb cb, void *arg, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_TRANSCRIPT_GET);
  sqlite3_bind_int64(st, 1, recipient);
  return mc_store_each_row(s, st, cb, arg, e);
}


int mc_store_transcript_by_address(mc_store_t *s, const char *address, long long campaign, mc_row_cb cb,
                                   void *arg, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_TRANSCRIPT_BY_ADDRESS);
  sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, campaign);
  return mc_store_each_row(s, st, cb, arg, e);
}
