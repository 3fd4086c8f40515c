/* Segments: the recipients of a campaign chosen by what happened to
 * them (delivered, opened, clicked, failed), the list of a later
 * campaign (a resend to those who did not open). Read by pages of ids,
 * so a segment of millions is never held whole; and bound to the events
 * there were when it was first read, so that reading it again (a
 * resumed run) gives the same recipients, whoever opened since. */
#include "store_internal.h"
#include "bounce_class.h"

#include <string.h>

/* Whether recipient r had an event of kind, up to the segment's bound
 * (?7; 0: none counts). The events_recipient index finds them. */
#define HAD(kind, extra) \
  "EXISTS(SELECT 1 FROM events e WHERE e.recipient = r.id AND e.kind = '" kind "'" extra \
  " AND e.id <= ?7)"

/* The reason of recipient r's last outcome up to the bound: a bounce's
 * as bounce processing classified it, a failure's or deferral's as the
 * report classifies its last reply (mc_class); NULL when that outcome
 * is a delivery, or there is none. */
#define LAST_REASON \
  "(SELECT CASE WHEN e.kind = 'delivered' THEN NULL" \
  "  ELSE coalesce(e.reason, mc_class(e.code, e.enhanced, e.text, 'reason')) END" \
  " FROM events e WHERE e.recipient = r.id AND e.id <= ?7" \
  " AND e.kind IN ('delivered', 'deferred', 'failed', 'bounced') ORDER BY e.id DESC LIMIT 1)"

const mc_store_sql_t mc_store_sql_segment[] = {
  /* ?3 .. ?6: delivered, opened, clicked, failed (1, 0, or -1: either);
   * ?8: machine opens count; ?9: the page's size; ?10: the reasons
   * chosen, ",name,name," (NULL: any). NOT INDEXED: each page
   * walks the table by id from where the last one ended (an index on
   * the campaign would have every page read all of the campaign's rows
   * and sort them). */
  {Q_SEGMENT,
   "SELECT r.id AS id, r.address AS address, r.data AS data FROM recipients r NOT INDEXED"
   " WHERE r.campaign = ?1 AND r.id > ?2"
   " AND (?3 < 0 OR ?3 = " HAD("delivered", "") ")"
   " AND (?4 < 0 OR ?4 = " HAD("opened", " AND (?8 OR NOT coalesce(e.machine, 0))") ")"
   " AND (?5 < 0 OR ?5 = " HAD("clicked", "") ")"
   " AND (?6 < 0 OR ?6 = " HAD("failed", "") ")"
   " AND (?10 IS NULL OR instr(?10, ',' || " LAST_REASON " || ',') > 0)"
   " ORDER BY r.id LIMIT ?9"},
  {Q_LAST_EVENT, "SELECT coalesce(max(id), 0) FROM events"},
  {Q_SEGMENT_FIX, "UPDATE campaigns SET segment_upto = coalesce(segment_upto, ?2) WHERE id = ?1"},
  {Q_SEGMENT_UPTO, "SELECT segment_upto FROM campaigns WHERE id = ?1"},
  {0, NULL},
};


/* The single integer of statement q (bound already) into *out. */
static int one_int(mc_store_t *s, int q, long long *out, mc_error_t *e) {
  sqlite3_stmt *st = s->q[q];
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_ROW) {
    if (rc == SQLITE_DONE) mc_error_set(e, "store: no such campaign");
    else mc_store_db_error(s, e, "segment");
    return -1;
  }
  return 0;
}


long long mc_store_last_event(mc_store_t *s, mc_error_t *e) {
  long long id = 0;
  mc_store_fresh(s, Q_LAST_EVENT);
  return one_int(s, Q_LAST_EVENT, &id, e) == 0 ? id : -1;
}


int mc_store_segment_fix(mc_store_t *s, long long campaign, long long upto, long long *kept,
                         mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_SEGMENT_FIX);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_int64(st, 2, upto);
  if (mc_store_run(s, Q_SEGMENT_FIX, e) != 0) return -1;
  sqlite3_bind_int64(mc_store_fresh(s, Q_SEGMENT_UPTO), 1, campaign);
  return one_int(s, Q_SEGMENT_UPTO, kept, e);
}


/* A segment's reasons are bits of an unsigned (mc_segment_t.reasons). */
_Static_assert(MC_REASON_COUNT <= 32, "a segment's reason mask holds every reason");

/* The reasons of mask as ",name,name," into out (room for every name),
 * for the query's instr(): each name between commas. */
static void reason_list(unsigned mask, char *out, size_t size) {
  size_t n = 0;
  out[n++] = ',';
  for (int r = 0; r < MC_REASON_COUNT; r++) {
    if (!(mask & (1u << r))) continue;
    const char *name = mc_reason_info((mc_reason_t)r)->name;
    size_t len = strlen(name);
    if (n + len + 2 > size) break;   /* cannot happen: size holds them all */
    memcpy(out + n, name, len);
    n += len;
    out[n++] = ',';
  }
  out[n] = '\0';
}


int mc_store_segment(mc_store_t *s, const mc_segment_t *g, long long after, long long limit,
                     mc_row_cb cb, void *arg, mc_error_t *e) {
  char reasons[MC_REASON_COUNT * 32];
  sqlite3_stmt *st = mc_store_fresh(s, Q_SEGMENT);
  sqlite3_bind_int64(st, 1, g->campaign);
  sqlite3_bind_int64(st, 2, after);
  sqlite3_bind_int(st, 3, g->delivered);
  sqlite3_bind_int(st, 4, g->opened);
  sqlite3_bind_int(st, 5, g->clicked);
  sqlite3_bind_int(st, 6, g->failed);
  sqlite3_bind_int64(st, 7, g->upto);
  sqlite3_bind_int(st, 8, g->machine_opens != 0);
  sqlite3_bind_int64(st, 9, limit);
  if (g->reasons) {
    reason_list(g->reasons, reasons, sizeof reasons);
    sqlite3_bind_text(st, 10, reasons, -1, SQLITE_TRANSIENT);
  }
  return mc_store_each_row(s, st, cb, arg, e);
}
