/* The suppression list: addresses (any case) that no campaign of the
 * store sends to, each with why, since when and until when (none:
 * for good). A claim checks it for every recipient it hands out. */
#include "store_internal.h"

#include <stdio.h>

const mc_store_sql_t mc_store_sql_suppress[] = {
  {Q_SUPPRESS, "INSERT INTO suppression(address, reason, since, expires) VALUES (?1, ?2, ?3, ?4)"
               " ON CONFLICT(address) DO UPDATE SET reason = ?2, since = ?3, expires = ?4"},
  {Q_UNSUPPRESS, "DELETE FROM suppression WHERE address = ?1"},
  {Q_SUPPRESSED, "SELECT reason FROM suppression WHERE address = ?1 AND (expires IS NULL OR expires > ?2)"},
  {Q_SUPPRESSION_ANY, "SELECT EXISTS (SELECT 1 FROM suppression)"},
  {Q_SUPPRESSION_GET, "SELECT address, reason, since, expires FROM suppression WHERE address = ?1"},
  {Q_SUPPRESSION_LIST, "SELECT address, reason, since, expires FROM suppression"
                       " WHERE (?1 IS NULL OR lower(substr(reason, 1, length(?1))) = lower(?1))"
                       " AND (?3 OR expires IS NULL OR expires > ?2) ORDER BY address"},
  {0, NULL},
};


int mc_store_suppress(mc_store_t *s, const char *address, const char *reason, double now,
                      double expires, mc_error_t *e) {
  sqlite3_stmt *st = s->q[Q_SUPPRESS];
  sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 3, now);
  if (expires > 0) sqlite3_bind_double(st, 4, expires);
  return mc_store_run(s, Q_SUPPRESS, e);
}


int mc_store_unsuppress(mc_store_t *s, const char *address, mc_error_t *e) {
  sqlite3_bind_text(s->q[Q_UNSUPPRESS], 1, address, -1, SQLITE_TRANSIENT);
  return mc_store_run(s, Q_UNSUPPRESS, e);
}


int mc_store_suppressed(mc_store_t *s, const char *address, double now, char *reason,
                        size_t size, mc_error_t *e) {
  sqlite3_stmt *st = s->q[Q_SUPPRESSED];
  sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 2, now);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && reason) snprintf(reason, size, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc == SQLITE_ROW) return 1;
  if (rc == SQLITE_DONE) return 0;
  return mc_store_db_error(s, e, "suppressed");
}


int mc_store_suppression_any(mc_store_t *s, mc_error_t *e) {
  sqlite3_stmt *st = s->q[Q_SUPPRESSION_ANY];
  int rc = sqlite3_step(st);
  int any = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : 0;
  sqlite3_reset(st);
  if (rc != SQLITE_ROW) return mc_store_db_error(s, e, "suppression");
  return any;
}


int mc_store_suppression_get(mc_store_t *s, const char *address, mc_row_cb cb, void *arg,
                             mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_SUPPRESSION_GET);
  sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
  return mc_store_each_row(s, st, cb, arg, e);
}


int mc_store_suppression_list(mc_store_t *s, const char *reason, double now, int all,
                              mc_row_cb cb, void *arg, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_SUPPRESSION_LIST);
  mc_store_bind_opt_text(st, 1, reason);
  sqlite3_bind_double(st, 2, now);
  sqlite3_bind_int(st, 3, all ? 1 : 0);
  return mc_store_each_row(s, st, cb, arg, e);
}
