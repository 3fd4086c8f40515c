/* Events: one row per thing that happened to a recipient's message, for
 * webhooks and reports. A run records each outcome (delivered, deferred,
 * failed, suppressed, ...); bounce processing records bounces,
 * complaints and delays with what the bounce taxonomy says of them, and
 * the messages it has read; mailcast serve records opens, clicks and
 * unsubscribes. */
#include "store_internal.h"

#include <stdio.h>
#include <string.h>

/* The event of a finished recipient, written by the same UPDATE that
 * finishes it (mc_store_finish; only it sets last_code): a statement of
 * its own for every message cost as much again as the update. TEMP: a
 * setting of the connection, made at every open, not a part of the
 * store's schema. */
const char mc_store_outcome_trigger[] =
  "CREATE TEMP TRIGGER IF NOT EXISTS outcome_event AFTER UPDATE OF last_code ON recipients"
  " BEGIN"
  "  INSERT INTO events(campaign, recipient, at, kind, code, enhanced, text, route)"
  "  VALUES (NEW.campaign, NEW.id, NEW.updated, NEW.state, NEW.last_code, NEW.last_enhanced,"
  "          NEW.last_text, NEW.route);"
  " END";

const mc_store_sql_t mc_store_sql_events[] = {
  /* The campaign from the recipient's row: cheaper than RETURNING it
   * from the update, which goes through a table of its own. */
  {Q_EVENT, "INSERT INTO events(campaign, recipient, at, kind, code, enhanced, text)"
            " SELECT campaign, id, ?3, ?4, ?5, ?6, ?7 FROM recipients WHERE id = ?2"},
  {Q_EVENT_BOUNCE, "INSERT INTO events(campaign, recipient, at, kind, code, enhanced, text,"
                   " reason, category, hard, counted)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
  {Q_SOFT_COUNT, "SELECT count(*) FROM events e JOIN recipients r ON r.id = e.recipient"
                 " WHERE r.address = ?1 COLLATE NOCASE AND e.counted = 1 AND e.at > ?2"},
  {Q_SEEN_GET, "SELECT outcome FROM bounce_seen WHERE key = ?1"},
  {Q_SEEN_SET, "INSERT INTO bounce_seen(key, at, outcome) VALUES (?1, ?2, ?3)"
               " ON CONFLICT(key) DO UPDATE SET outcome = ?3"},
  /* Only for a campaign of the store and, unless the token is an
   * aggregate one (recipient 0), a recipient of that campaign: a good
   * token made for someone else records nothing. */
  {Q_HIT, "INSERT INTO events(campaign, recipient, at, kind, text, link, machine)"
          " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7"
          " WHERE EXISTS (SELECT 1 FROM campaigns WHERE id = ?1)"
          " AND (?2 = 0 OR EXISTS (SELECT 1 FROM recipients WHERE id = ?2 AND campaign = ?1))"},
  {Q_HIT_SEEN, "SELECT 1 FROM events WHERE recipient = ?2 AND campaign = ?1 AND kind = ?3 LIMIT 1"},
  {Q_HIT_COUNT, "SELECT count(*), coalesce(sum(machine), 0), coalesce(sum(text = 'first'), 0)"
                " FROM events WHERE campaign = ?1 AND kind = ?2"},
  {0, NULL},
};


int mc_store_outcome_event(mc_store_t *s, long long id, mc_rstate_t state, int code,
                           const char *enhanced, const char *text, double now, mc_error_t *e) {
  sqlite3_stmt *ev = s->q[Q_EVENT];
  sqlite3_bind_int64(ev, 2, id);
  sqlite3_bind_double(ev, 3, now);
  sqlite3_bind_text(ev, 4, mc_rstate_name(state), -1, SQLITE_STATIC);
  sqlite3_bind_int(ev, 5, code);
  /* Not copied: mc_store_run unbinds them before it returns. */
  if (enhanced) sqlite3_bind_text(ev, 6, enhanced, -1, SQLITE_STATIC);
  if (text) sqlite3_bind_text(ev, 7, text, -1, SQLITE_STATIC);
  return mc_store_run(s, Q_EVENT, e);
}


/* Bounce processing ------------------------------------------------------- */

int mc_store_event(mc_store_t *s, const mc_event_t *ev, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_EVENT_BOUNCE);
  sqlite3_bind_int64(st, 1, ev->campaign);
  sqlite3_bind_int64(st, 2, ev->recipient);
  sqlite3_bind_double(st, 3, ev->at);
  sqlite3_bind_text(st, 4, ev->kind, -1, SQLITE_TRANSIENT);
  if (ev->code) sqlite3_bind_int(st, 5, ev->code);
  mc_store_bind_opt_text(st, 6, ev->enhanced);
  mc_store_bind_opt_text(st, 7, ev->text);
  mc_store_bind_opt_text(st, 8, ev->reason);
  mc_store_bind_opt_text(st, 9, ev->category);
  if (ev->hard >= 0) sqlite3_bind_int(st, 10, ev->hard);
  sqlite3_bind_int(st, 11, ev->counted ? 1 : 0);
  return mc_store_run(s, Q_EVENT_BOUNCE, e);
}


long long mc_store_soft_count(mc_store_t *s, const char *address, double since, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_SOFT_COUNT);
  sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 2, since);
  int rc = sqlite3_step(st);
  long long n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_ROW) return mc_store_db_error(s, e, "soft bounces");
  return n;
}


int mc_store_seen(mc_store_t *s, const char *key, char *outcome, size_t size, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_SEEN_GET);
  sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && outcome && size)
    snprintf(outcome, size, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc == SQLITE_ROW) return 1;
  if (rc == SQLITE_DONE) return 0;
  return mc_store_db_error(s, e, "seen");
}


int mc_store_mark_seen(mc_store_t *s, const char *key, double now, const char *outcome,
                       mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_SEEN_SET);
  sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 2, now);
  sqlite3_bind_text(st, 3, outcome, -1, SQLITE_TRANSIENT);
  return mc_store_run(s, Q_SEEN_SET, e);
}


/* mailcast serve ---------------------------------------------------------- */

int mc_store_hit(mc_store_t *s, const mc_hit_t *h, mc_error_t *e) {
  const char *text = NULL;
  int opened = strcmp(h->kind, "opened") == 0, unsubscribed = strcmp(h->kind, "unsubscribed") == 0;
  if (opened || unsubscribed) {
    sqlite3_stmt *seen = mc_store_fresh(s, Q_HIT_SEEN);
    sqlite3_bind_int64(seen, 1, h->campaign);
    sqlite3_bind_int64(seen, 2, h->recipient);
    sqlite3_bind_text(seen, 3, h->kind, -1, SQLITE_STATIC);
    int rc = sqlite3_step(seen);
    sqlite3_reset(seen);
    sqlite3_clear_bindings(seen);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return mc_store_db_error(s, e, "hit");
    if (unsubscribed && rc == SQLITE_ROW) return 0;   /* once: a second POST is no second event */
    if (opened) text = rc == SQLITE_ROW ? "repeat" : "first";   /* the recipient's first open, or a repeat */
  }
  sqlite3_stmt *st = mc_store_fresh(s, Q_HIT);
  sqlite3_bind_int64(st, 1, h->campaign);
  sqlite3_bind_int64(st, 2, h->recipient);
  sqlite3_bind_double(st, 3, h->at);
  sqlite3_bind_text(st, 4, h->kind, -1, SQLITE_STATIC);
  mc_store_bind_opt_text(st, 5, text);
  if (h->link > 0) sqlite3_bind_int64(st, 6, h->link);
  sqlite3_bind_int(st, 7, h->machine ? 1 : 0);
  if (mc_store_run(s, Q_HIT, e) != 0) return -1;
  return sqlite3_changes(s->db) > 0;
}


int mc_store_hit_counts(mc_store_t *s, long long campaign, const char *kind, long long out[3],
                        mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_HIT_COUNT);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  for (int i = 0; i < 3; i++) out[i] = rc == SQLITE_ROW ? sqlite3_column_int64(st, i) : 0;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_ROW ? 0 : mc_store_db_error(s, e, "hit counts");
}
