/* The deferred recipients for an operator (mailcast queue): grouped by
 * domain and reason with their next attempt, made due now, cancelled.
 * Safe next to a run of the same store: every change is one UPDATE (or
 * one transaction of two) that SQLite orders with the run's claims, so a
 * recipient is either claimed first (in flight: MC_CANCEL_TEXT says what
 * becomes of it) or changed first (a claim no longer finds it, or finds
 * it due). */
#include "store_internal.h"

#include <string.h>

/* A recipient of the campaign (?1, 0: any) and domain (?2, NULL: any). */
#define CHOSEN "(?1 = 0 OR r.campaign = ?1) AND (?2 IS NULL OR mc_domain(r.address) = lower(?2))"
#define CLASS(what) "mc_class(r.last_code, r.last_enhanced, r.last_text, '" what "')"

static const mc_store_sql_t sql[] = {
  /* The group's latest reply is the one of its first row by updated. */
  {Q_QUEUE_GROUPS,
   "SELECT campaign, campaign_name, domain, reason, category, count, next_at_min AS next_at, last_at, code,"
   " enhanced, text"
   " FROM (SELECT *, count(*) OVER g AS count, min(next_at) OVER g AS next_at_min,"
   "   max(updated) OVER g AS last_at,"
   "   row_number() OVER (PARTITION BY campaign, domain, reason, category ORDER BY updated DESC, id DESC) AS rank"
   "   FROM (SELECT r.id AS id, r.campaign AS campaign, c.name AS campaign_name,"
   "     mc_domain(r.address) AS domain, " CLASS("reason") " AS reason, " CLASS("category") " AS category,"
   "     r.next_at AS next_at, r.updated AS updated, r.last_code AS code, r.last_enhanced AS enhanced,"
   "     r.last_text AS text"
   "     FROM recipients r JOIN campaigns c ON c.id = r.campaign WHERE r.state = 'deferred' AND " CHOSEN ")"
   "   WINDOW g AS (PARTITION BY campaign, domain, reason, category))"
   " WHERE rank = 1 ORDER BY campaign, count DESC, domain, reason"},
  {Q_QUEUE_RECIPIENTS,
   "SELECT r.id AS id, r.campaign AS campaign, c.name AS campaign_name, r.address AS address,"
   " mc_domain(r.address) AS domain, r.attempts AS attempts, r.next_at AS next_at, r.first_at AS first_at,"
   " r.updated AS updated, r.last_code AS code, r.last_enhanced AS enhanced, r.last_text AS text,"
   " " CLASS("reason") " AS reason"
   " FROM recipients r JOIN campaigns c ON c.id = r.campaign WHERE r.state = 'deferred' AND " CHOSEN
   " ORDER BY r.next_at, r.id LIMIT ?3"},
  {Q_QUEUE_RETRY,
   "UPDATE recipients AS r SET next_at = ?3 WHERE r.state = 'deferred' AND r.next_at > ?3 AND " CHOSEN},
  /* last_code is set (to 0) so that the outcome trigger writes the
   * failed event; the last reply is kept in the text. */
  {Q_QUEUE_CANCEL,
   "UPDATE recipients AS r SET state = 'failed', last_code = 0, last_enhanced = NULL,"
   " last_text = '" MC_CANCEL_TEXT "' || CASE WHEN r.last_code > 0 THEN ' (last reply: ' || r.last_code"
   "   || coalesce(' ' || r.last_enhanced, '') || coalesce(' ' || r.last_text, '') || ')' ELSE '' END,"
   " next_at = 0, updated = ?3"
   " WHERE r.state IN ('pending', 'deferred') AND " CHOSEN},
  /* A claim clears last_text: the mark is only ever this. (?3 is there
   * for the shared binding; it is not used.) */
  {Q_QUEUE_CANCEL_FLIGHT,
   "UPDATE recipients AS r SET last_text = '" MC_CANCEL_TEXT "'"
   " WHERE r.state = 'in_flight' AND ?3 IS NOT NULL AND " CHOSEN},
  /* (by the (campaign, state) index: a run holds a few hundred in flight) */
  {Q_QUEUE_CANCELLED,
   "SELECT id FROM recipients WHERE campaign = ?1 AND state = 'in_flight' AND last_text = '" MC_CANCEL_TEXT "'"},
  {0, NULL},
};


sqlite3_stmt *mc_store_lazy(mc_store_t *s, int q, const mc_store_sql_t *table, mc_error_t *e) {
  if (s->q[q] == NULL) {
    while (table->sql && table->id != q) table++;
    if (table->sql == NULL) {
      mc_error_set(e, "store: statement %d has no SQL", q);
      return NULL;
    }
    if (sqlite3_prepare_v3(s->db, table->sql, -1, SQLITE_PREPARE_PERSISTENT, &s->q[q], NULL) != SQLITE_OK) {
      mc_store_db_error(s, e, "queue");
      return NULL;
    }
  }
  return mc_store_fresh(s, q);
}


static sqlite3_stmt *chosen(mc_store_t *s, int q, long long campaign, const char *domain, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_lazy(s, q, sql, e);
  if (st == NULL) return NULL;
  sqlite3_bind_int64(st, 1, campaign);
  mc_store_bind_opt_text(st, 2, domain);
  return st;
}


int mc_store_queue_groups(mc_store_t *s, long long campaign, const char *domain, mc_row_cb cb,
                          void *arg, mc_error_t *e) {
  sqlite3_stmt *st = chosen(s, Q_QUEUE_GROUPS, campaign, domain, e);
  return st ? mc_store_each_row(s, st, cb, arg, e) : -1;
}


int mc_store_queue_recipients(mc_store_t *s, long long campaign, const char *domain, long long limit,
                              mc_row_cb cb, void *arg, mc_error_t *e) {
  sqlite3_stmt *st = chosen(s, Q_QUEUE_RECIPIENTS, campaign, domain, e);
  if (st == NULL) return -1;
  sqlite3_bind_int64(st, 3, limit);
  return mc_store_each_row(s, st, cb, arg, e);
}


/* Runs one of the UPDATEs: the rows it changed, or -1. */
static long long change(mc_store_t *s, int q, long long campaign, const char *domain, double now,
                        mc_error_t *e) {
  sqlite3_stmt *st = chosen(s, q, campaign, domain, e);
  if (st == NULL) return -1;
  sqlite3_bind_double(st, 3, now);
  if (mc_store_run(s, q, e) != 0) return -1;
  return sqlite3_changes(s->db);
}


long long mc_store_queue_retry(mc_store_t *s, long long campaign, const char *domain, double now,
                               mc_error_t *e) {
  return change(s, Q_QUEUE_RETRY, campaign, domain, now, e);
}


int mc_store_queue_cancelled(mc_store_t *s, long long campaign, mc_row_cb cb, void *arg, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_lazy(s, Q_QUEUE_CANCELLED, sql, e);
  if (st == NULL) return -1;
  sqlite3_bind_int64(st, 1, campaign);
  return mc_store_each_row(s, st, cb, arg, e);
}


int mc_store_queue_cancel(mc_store_t *s, long long campaign, const char *domain, double now,
                          long long *cancelled, long long *in_flight, mc_error_t *e) {
  if (mc_store_begin(s, e) != 0) return -1;
  *cancelled = change(s, Q_QUEUE_CANCEL, campaign, domain, now, e);
  *in_flight = *cancelled < 0 ? -1 : change(s, Q_QUEUE_CANCEL_FLIGHT, campaign, domain, now, e);
  if (*in_flight < 0) {
    mc_error_t ignored;
    mc_store_rollback(s, &ignored);
    return -1;
  }
  return mc_store_commit(s, e);
}
