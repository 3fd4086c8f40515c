/* A/B tests: a campaign's test group goes out split between its
 * variants while the rest of the list is held (store_queue.c adds a held
 * recipient due at no time a claim reaches); once the test group is all
 * sent and the wait is over, the winner is recorded once for good and
 * the held recipients are made due, to be sent the winner. */
#include "store_internal.h"

#include <string.h>

const mc_store_sql_t mc_store_sql_abtest[] = {
  {Q_TEST_SENT, "UPDATE campaigns SET test_sent = coalesce(test_sent, ?2) WHERE id = ?1"},
  /* Never over another pick: two workers of a run may both decide. */
  {Q_TEST_PICK, "UPDATE campaigns SET test_winner = ?2, test_picked = ?3"
                " WHERE id = ?1 AND test_winner IS NULL"},
  {Q_TEST_RELEASE, "UPDATE recipients SET variant = -(SELECT test_winner FROM campaigns WHERE id = ?1),"
                   " next_at = 0 WHERE campaign = ?1 AND variant = 0"},
  {Q_LABELS_CLEAR, "DELETE FROM variant_labels WHERE campaign = ?1"},
  {Q_LABEL_ADD, "INSERT INTO variant_labels(campaign, variant, label) VALUES (?1, ?2, ?3)"},
  {0, NULL},
};


int mc_store_test_sent(mc_store_t *s, long long campaign, double now, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_TEST_SENT);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_double(st, 2, now);
  return mc_store_run(s, Q_TEST_SENT, e);
}


/* The winner recorded for campaign into *picked (0: none). */
static int read_winner(void *arg, const mc_col_t *cols, int n) {
  for (int i = 0; i < n; i++)
    if (cols[i].type == MC_COL_INT && strcmp(cols[i].name, "winner") == 0) *(int *)arg = (int)cols[i].i;
  return 0;
}


int mc_store_test_pick(mc_store_t *s, long long campaign, int winner, double now, int *picked,
                       mc_error_t *e) {
  *picked = 0;
  if (mc_store_begin(s, e) != 0) return -1;
  sqlite3_stmt *st = mc_store_fresh(s, Q_TEST_PICK);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_int(st, 2, winner);
  sqlite3_bind_double(st, 3, now);
  if (mc_store_run(s, Q_TEST_PICK, e) != 0) goto fail;
  int made = sqlite3_changes(s->db) > 0;
  sqlite3_bind_int64(mc_store_fresh(s, Q_TEST_RELEASE), 1, campaign);
  if (mc_store_run(s, Q_TEST_RELEASE, e) != 0) goto fail;
  if (mc_store_report(s, MC_REPORT_TEST, campaign, NULL, 0, read_winner, picked, e) != 0) goto fail;
  return mc_store_commit(s, e) == 0 ? made : -1;
fail:
  {
    mc_error_t ignored;   /* as mc_store_claim: only a transaction of its own is undone */
    if (s->depth == 1) mc_store_rollback(s, &ignored);
    else mc_store_commit(s, &ignored);
  }
  return -1;
}


int mc_store_variant_labels(mc_store_t *s, long long campaign, const char *const *labels, size_t n,
                            mc_error_t *e) {
  if (mc_store_begin(s, e) != 0) return -1;
  sqlite3_bind_int64(mc_store_fresh(s, Q_LABELS_CLEAR), 1, campaign);
  if (mc_store_run(s, Q_LABELS_CLEAR, e) != 0) goto fail;
  for (size_t i = 0; i < n; i++) {
    if (labels[i] == NULL) continue;
    sqlite3_stmt *st = mc_store_fresh(s, Q_LABEL_ADD);
    sqlite3_bind_int64(st, 1, campaign);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)i + 1);
    sqlite3_bind_text(st, 3, labels[i], -1, SQLITE_STATIC);   /* unbound by mc_store_run */
    if (mc_store_run(s, Q_LABEL_ADD, e) != 0) goto fail;
  }
  return mc_store_commit(s, e);
fail:
  {
    mc_error_t ignored;   /* as mc_store_test_pick */
    if (s->depth == 1) mc_store_rollback(s, &ignored);
    else mc_store_commit(s, &ignored);
  }
  return -1;
}
