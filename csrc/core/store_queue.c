/* The queue: campaigns and their recipients. A recipient is added
 * pending, claimed (in flight) by a run, and finished with its outcome;
 * a crash leaves claimed ones in flight until the store is recovered. A
 * connection may work on one shard of the recipients only. */
#include "store_internal.h"

#include "buf.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The row is in flight, marked cancelled, and its outcome ?2 is not final. */
#define CANCELLED_NOW "(state = 'in_flight' AND last_text = '" MC_CANCEL_TEXT "' AND ?2 IN ('deferred', 'pending'))"

/* Records an outcome ?2 with its reply (?3 code, ?4 enhanced, ?5 text),
 * next attempt ?6, time ?7, route ?8 and host ?9, after ?10 attempts
 * more (1, or 0 for a job taken back unsent) (Q_FINISH). */
#define FINISH \
  "UPDATE recipients SET state = CASE WHEN " CANCELLED_NOW " THEN 'failed' ELSE ?2 END," \
  " last_code = ?3, last_enhanced = ?4," \
  " last_text = CASE WHEN " CANCELLED_NOW " THEN '" MC_CANCEL_TEXT "' || CASE WHEN ?3 > 0" \
  "   THEN ' (last reply: ' || ?3 || coalesce(' ' || ?4, '') || coalesce(' ' || ?5, '') || ')'" \
  "   ELSE '' END ELSE ?5 END," \
  " next_at = ?6, updated = ?7, attempts = attempts + ?10," \
  " first_at = coalesce(first_at, ?7), route = coalesce(?8, route), host = coalesce(?9, host)"

const mc_store_sql_t mc_store_sql_queue[] = {
  {Q_CAMPAIGN_GET, "SELECT id FROM campaigns WHERE name = ?1"},
  {Q_CAMPAIGN_ADD, "INSERT INTO campaigns(name, created) VALUES (?1, ?2)"},
  {Q_LIST_READ, "UPDATE campaigns SET list_read = ?2 WHERE id = ?1"},
  /* A recipient held for an A/B test's winner (variant 0) is due at no
   * time the claims reach: it waits until the pick makes it due. */
  {Q_ADD, "INSERT OR IGNORE INTO recipients(campaign, address, data, variant, next_at)"
          " VALUES (?1, ?2, ?3, ?4, CASE WHEN ?4 = 0 THEN " MC_STORE_HELD " ELSE 0 END)"},
  /* Retries that are due first, then pending ones in list order. Each
   * half walks the (campaign, state, next_at) index in order and stops
   * at the limit: no scan of the campaign and no sort, so a claim costs
   * the same at the millionth recipient as at the first. */
  {Q_DUE, "SELECT * FROM (SELECT id, address, data, attempts, first_at, variant, 1 FROM recipients"
          " WHERE campaign = ?1 AND state = 'deferred' AND next_at <= ?2 AND " IN_SHARD("?4", "?5", "?6")
          " ORDER BY next_at, id LIMIT ?3)"
          " UNION ALL SELECT * FROM (SELECT id, address, data, attempts, first_at, variant, 0 FROM recipients"
          " WHERE campaign = ?1 AND state = 'pending' AND next_at <= ?2 AND " IN_SHARD("?4", "?5", "?6")
          " ORDER BY next_at, id LIMIT ?3) LIMIT ?3"},
  {Q_SET_STATE, "UPDATE recipients SET state = ?2, last_text = ?3, updated = ?4 WHERE id = ?1"},
  /* The claimed recipients that go out, all in one statement: ?1 is a
   * JSON array of their ids. Row by row, the statement's own cost was
   * as much as the row's. */
  {Q_IN_FLIGHT, "UPDATE recipients SET state = 'in_flight', last_text = NULL, updated = ?2"
                " WHERE id IN (SELECT value FROM json_each(?1))"},
  /* A recipient cancelled while in flight (mailcast queue --cancel marks
   * it: store.h, MC_CANCEL_TEXT) whose outcome is not final (deferred,
   * or handed back unsent) is failed instead, with its reply in the text;
   * a delivery or a failure is recorded as it is. (SET reads the row as
   * it was.) Only an outcome that is not final can be overruled, so only
   * it pays for RETURNING (which goes through a table of its own) to say
   * so: a fifth of the update's cost. */
  {Q_FINISH, FINISH " WHERE id = ?1"},
  {Q_FINISH_OVERRULABLE, FINISH " WHERE id = ?1 RETURNING CASE WHEN state <> ?2 THEN last_text END"},
  /* (one cancelled in flight before the crash stays cancelled) */
  {Q_RECOVER, "UPDATE recipients SET state = CASE WHEN last_text = '" MC_CANCEL_TEXT "' THEN 'failed'"
              " ELSE 'pending' END WHERE campaign = ?1 AND state = 'in_flight'"
              " AND " IN_SHARD("?2", "?3", "?4")},
  {Q_COUNTS, "SELECT state, count(*) FROM recipients WHERE campaign = ?1 GROUP BY state"},
  {0, NULL},
};


long long mc_store_campaign(mc_store_t *s, const char *name, double now, mc_error_t *e) {
  sqlite3_stmt *get = s->q[Q_CAMPAIGN_GET];
  sqlite3_bind_text(get, 1, name, -1, SQLITE_TRANSIENT);
  long long id = -1;
  int rc = sqlite3_step(get);
  if (rc == SQLITE_ROW) id = sqlite3_column_int64(get, 0);
  sqlite3_reset(get);
  sqlite3_clear_bindings(get);
  if (rc == SQLITE_ROW) return id;
  if (rc != SQLITE_DONE) { mc_store_db_error(s, e, "campaign"); return -1; }
  sqlite3_bind_text(s->q[Q_CAMPAIGN_ADD], 1, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(s->q[Q_CAMPAIGN_ADD], 2, now);
  if (mc_store_run(s, Q_CAMPAIGN_ADD, e) != 0) return -1;
  return sqlite3_last_insert_rowid(s->db);
}


long long mc_store_campaign_find(mc_store_t *s, const char *name, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_CAMPAIGN_GET);
  sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  long long id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return mc_store_db_error(s, e, "campaign");
  return id;
}


int mc_store_list_read(mc_store_t *s, long long campaign, int read, mc_error_t *e) {
  sqlite3_bind_int64(s->q[Q_LIST_READ], 1, campaign);
  sqlite3_bind_int(s->q[Q_LIST_READ], 2, read != 0);
  return mc_store_run(s, Q_LIST_READ, e);
}


int mc_store_add(mc_store_t *s, long long campaign, const char *address,
                 const char *data, size_t datalen, int variant, mc_error_t *e) {
  sqlite3_stmt *st = s->q[Q_ADD];
  sqlite3_bind_int64(st, 1, campaign);
  /* Not copied: mc_store_run unbinds them before it returns. */
  sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC);
  if (data) sqlite3_bind_blob(st, 3, data, (int)datalen, SQLITE_STATIC);
  if (variant >= 0) sqlite3_bind_int(st, 4, variant);
  if (mc_store_run(s, Q_ADD, e) != 0) return -1;
  return sqlite3_changes(s->db) > 0 ? 1 : 0;
}


void mc_store_claims_free(mc_claim_t *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(c[i].address);
    free(c[i].data);
    free(c[i].suppressed);
  }
  free(c);
}


static int set_state(mc_store_t *s, long long id, mc_rstate_t state, const char *text,
                     double now, mc_error_t *e) {
  sqlite3_stmt *st = s->q[Q_SET_STATE];
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, mc_rstate_name(state), -1, SQLITE_STATIC);
  if (text) sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 4, now);
  return mc_store_run(s, Q_SET_STATE, e);
}


/* Marks the claimed recipients suppressed (with the reason) when they
 * are on the suppression list, and the others in flight. */
static int mark_claimed(mc_store_t *s, mc_claim_t *list, size_t count, double now,
                        mc_error_t *e) {
  int any = count > 0 ? mc_store_suppression_any(s, e) : 0;
  if (any < 0) return -1;
  mc_buf_t ids = MC_BUF_INIT;   /* "[id,id,...]" of those in flight */
  mc_buf_addc(&ids, '[');
  for (size_t i = 0; i < count; i++) {
    if (any) {
      char reason[256];
      int sup = mc_store_suppressed(s, list[i].address, now, reason, sizeof reason, e);
      if (sup < 0) goto fail;
      if (sup) {
        char text[300];
        snprintf(text, sizeof text, "suppressed: %s", reason);
        if (set_state(s, list[i].id, MC_R_SUPPRESSED, text, now, e) != 0
            || mc_store_outcome_event(s, list[i].id, MC_R_SUPPRESSED, 0, NULL, text, now, e) != 0)
          goto fail;
        list[i].suppressed = strdup(text);   /* kept in the list: the caller logs it */
        if (list[i].suppressed == NULL) { mc_error_set(e, "out of memory"); goto fail; }
        continue;
      }
    }
    char digits[24], *end = digits + sizeof digits;
    char *p = mc_decimal(end, (unsigned long long)list[i].id);   /* ids are positive */
    if (ids.len > 1) mc_buf_addc(&ids, ',');
    mc_buf_add(&ids, p, (size_t)(end - p));
  }
  mc_buf_addc(&ids, ']');
  if (ids.failed) { mc_error_set(e, "out of memory"); goto fail; }
  if (ids.len > 2) {
    sqlite3_stmt *st = s->q[Q_IN_FLIGHT];
    sqlite3_bind_text(st, 1, ids.data, (int)ids.len, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, now);
    if (mc_store_run(s, Q_IN_FLIGHT, e) != 0) goto fail;   /* unbinds ids before they are freed */
  }
  mc_buf_free(&ids);
  return 0;
fail:
  mc_buf_free(&ids);
  return -1;
}


int mc_store_claim(mc_store_t *s, long long campaign, double now, size_t max,
                   mc_claim_t **out, size_t *n, mc_error_t *e) {
  *out = NULL;
  *n = 0;
  if (mc_store_begin(s, e) != 0) return -1;
  mc_claim_t *list = calloc(max ? max : 1, sizeof *list);
  size_t count = 0;
  sqlite3_stmt *due = s->q[Q_DUE];
  sqlite3_bind_int64(due, 1, campaign);
  sqlite3_bind_double(due, 2, now);
  sqlite3_bind_int64(due, 3, (sqlite3_int64)max);
  mc_store_bind_shard(s, due, 4);
  int rc = SQLITE_DONE;
  while (list && (rc = sqlite3_step(due)) == SQLITE_ROW) {
    mc_claim_t *c = &list[count++];
    c->id = sqlite3_column_int64(due, 0);
    c->address = strdup((const char *)sqlite3_column_text(due, 1));
    const void *blob = sqlite3_column_blob(due, 2);
    c->datalen = (size_t)sqlite3_column_bytes(due, 2);
    c->data = malloc(c->datalen + 1);
    if (c->data) {
      if (blob) memcpy(c->data, blob, c->datalen);
      c->data[c->datalen] = '\0';
    }
    c->attempts = sqlite3_column_int(due, 3);
    c->first_at = sqlite3_column_double(due, 4);   /* 0 when never tried */
    c->variant = sqlite3_column_int(due, 5);        /* 0 when NULL: no test */
    c->was_deferred = sqlite3_column_int(due, 6);
    if (c->address == NULL || c->data == NULL) { rc = SQLITE_NOMEM; break; }
  }
  sqlite3_reset(due);
  sqlite3_clear_bindings(due);
  if (list == NULL || rc != SQLITE_DONE) {
    if (list) mc_store_db_error(s, e, "claim");
    else mc_error_set(e, "out of memory");
    goto fail;
  }
  if (mark_claimed(s, list, count, now, e) != 0) goto fail;
  if (mc_store_commit(s, e) != 0) goto fail;
  *out = list;
  *n = count;
  return 0;
fail:
  {
    mc_error_t ignored;
    if (s->depth == 1) { mc_store_run(s, Q_ROLLBACK, &ignored); s->depth = 0; }
    else mc_store_commit(s, &ignored);
  }
  mc_store_claims_free(list, count);
  return -1;
}


int mc_store_finish(mc_store_t *s, long long id, mc_rstate_t state, int code,
                    const char *enhanced, const char *text, const mc_store_via_t *via,
                    double next_at, double now, char **cancelled, mc_error_t *e) {
  if (cancelled) *cancelled = NULL;
  int overrulable = state == MC_R_DEFERRED || state == MC_R_PENDING;
  sqlite3_stmt *st = s->q[overrulable ? Q_FINISH_OVERRULABLE : Q_FINISH];
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, mc_rstate_name(state), -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, code);
  /* Not copied: they are unbound below, before this returns. */
  if (enhanced) sqlite3_bind_text(st, 4, enhanced, -1, SQLITE_STATIC);
  if (text) sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 6, next_at);
  sqlite3_bind_double(st, 7, now);
  if (via && via->route) sqlite3_bind_text(st, 8, via->route, -1, SQLITE_STATIC);
  if (via && via->host) sqlite3_bind_text(st, 9, via->host, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 10, via && via->unsent ? 0 : 1);
  /* Overrulable, one row back, the recipient's: NULL, or the text of the
   * failure the store recorded instead. */
  int rc = sqlite3_step(st), found = rc == SQLITE_ROW;
  char *overruled = NULL;
  if (found && sqlite3_column_type(st, 0) != SQLITE_NULL) {
    overruled = strdup((const char *)sqlite3_column_text(st, 0));
    if (overruled == NULL) rc = SQLITE_NOMEM;
  }
  while (rc == SQLITE_ROW) rc = sqlite3_step(st);
  /* sqlite3_changes counts the update's row only, not the trigger's event. */
  if (!overrulable) found = rc == SQLITE_DONE && sqlite3_changes(s->db) > 0;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE) {
    free(overruled);
    if (rc != SQLITE_NOMEM) return mc_store_db_error(s, e, "finish");
    mc_error_set(e, "out of memory");
    return -1;
  }
  if (!found) { mc_error_set(e, "store: no recipient %lld", id); return -1; }
  if (cancelled) *cancelled = overruled;
  else free(overruled);
  return 0;   /* the event: mc_store_outcome_trigger */
}


int mc_store_recover(mc_store_t *s, long long campaign, size_t *n, mc_error_t *e) {
  sqlite3_bind_int64(s->q[Q_RECOVER], 1, campaign);
  mc_store_bind_shard(s, s->q[Q_RECOVER], 2);
  if (mc_store_run(s, Q_RECOVER, e) != 0) return -1;
  *n = (size_t)sqlite3_changes(s->db);
  return 0;
}


int mc_store_counts(mc_store_t *s, long long campaign, size_t counts[MC_R_STATES], mc_error_t *e) {
  memset(counts, 0, sizeof(size_t) * MC_R_STATES);
  sqlite3_stmt *st = s->q[Q_COUNTS];
  sqlite3_bind_int64(st, 1, campaign);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    mc_rstate_t state;
    if (mc_rstate_parse((const char *)sqlite3_column_text(st, 0), &state) == 0)
      counts[state] = (size_t)sqlite3_column_int64(st, 1);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE ? 0 : mc_store_db_error(s, e, "counts");
}


/* Shards ------------------------------------------------------------------ */

/* mc_shard(address, by_domain): FNV-1a of the lower-cased domain (or
 * whole address), so a domain's recipients all fall in one shard. */
static void shard_of(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const unsigned char *a = sqlite3_value_text(argv[0]);
  if (a == NULL) { sqlite3_result_int64(ctx, 0); return; }
  if (sqlite3_value_int(argv[1])) {
    const unsigned char *at = (const unsigned char *)strrchr((const char *)a, '@');
    if (at) a = at + 1;
  }
  uint32_t h = 2166136261u;
  for (; *a; a++) h = (h ^ (uint32_t)tolower(*a)) * 16777619u;
  sqlite3_result_int64(ctx, (sqlite3_int64)h);
}


int mc_store_shard_function(mc_store_t *s) {
  int rc = sqlite3_create_function_v2(s->db, "mc_shard", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                      NULL, shard_of, NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : -1;
}


void mc_store_shard(mc_store_t *s, long long index, long long count, int by_domain) {
  s->shard = index;
  s->shards = count;
  s->shard_by_domain = by_domain;
}


void mc_store_bind_shard(mc_store_t *s, sqlite3_stmt *st, int first) {
  sqlite3_bind_int64(st, first, s->shards);
  sqlite3_bind_int(st, first + 1, s->shard_by_domain);
  sqlite3_bind_int64(st, first + 2, s->shard);
}
