/* Shared by the store's files; not part of the core's API.
 *
 *   store.c           the connection: open (settings, schema, statements),
 *                     close, transactions, secrets, the shared helpers
 *   store_schema.c    the schema as numbered migrations (user_version)
 *   store_queue.c     campaigns and their recipients: add, claim, finish,
 *                     recover, shards, counts
 *   store_suppress.c  the suppression list
 *   store_events.c    what happened to a message: outcomes, bounces,
 *                     opens, clicks, unsubscribes; bounces already read
 *   store_links.c     the tracked links a click may be sent to
 *   store_report.c    read-only reports and recipient look-ups
 *   store_report_fn.c the SQL functions the reports group by
 *   store_transcripts.c the last transcript of a recipient not delivered
 *   store_queue_ops.c the deferred recipients for an operator: listed by
 *                     domain and reason, made due now, cancelled
 *   store_segment.c   a campaign's recipients chosen by what happened to
 *                     them (resend to non-openers)
 *   store_abtest.c    A/B tests: the test group sent, the winner picked
 *
 * Each file lists its own SQL (an mc_store_sql_t table); mc_store_open
 * prepares every statement once, into the slot its Q_ id names. */
#ifndef MC_STORE_INTERNAL_H
#define MC_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store.h"

enum {
  /* store.c */
  Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SECRET_ADD, Q_SECRET_GET,
  /* store_queue.c */
  Q_CAMPAIGN_GET, Q_CAMPAIGN_ADD, Q_LIST_READ, Q_ADD, Q_DUE, Q_SET_STATE, Q_IN_FLIGHT, Q_FINISH, Q_FINISH_OVERRULABLE,
  Q_RECOVER, Q_COUNTS,
  /* store_suppress.c */
  Q_SUPPRESS, Q_UNSUPPRESS, Q_SUPPRESSED, Q_SUPPRESSION_ANY, Q_SUPPRESSION_GET, Q_SUPPRESSION_LIST,
  /* store_events.c */
  Q_EVENT, Q_EVENT_BOUNCE, Q_SOFT_COUNT, Q_SEEN_GET, Q_SEEN_SET, Q_HIT, Q_HIT_SEEN, Q_HIT_COUNT,
  /* store_links.c */
  Q_LINK_ADD, Q_LINK_GET, Q_LINK_RECIPIENT_ADD, Q_LINK_FOR, Q_LINKS,
  /* store_report.c */
  Q_REPORT_CAMPAIGNS, Q_REPORT_REASONS, Q_REPORT_NEXT_DUE, Q_REPORT_RECIPIENTS,
  Q_RECIPIENT, Q_BY_ADDRESS,
  /* store_segment.c */
  Q_SEGMENT, Q_LAST_EVENT, Q_SEGMENT_FIX, Q_SEGMENT_UPTO,
  /* store_abtest.c */
  Q_TEST_SENT, Q_TEST_PICK, Q_TEST_RELEASE, Q_LABELS_CLEAR, Q_LABEL_ADD,
  /* store_transcripts.c */
  Q_TRANSCRIPT_PUT, Q_TRANSCRIPT_GET, Q_TRANSCRIPT_BY_ADDRESS,
  /* store_report.c, prepared on first use (mc_store_report_stmt): only
   * mailcast report runs them, and preparing them all took longer than
   * the rest of an open. */
  Q_LAZY, Q_REPORT_FUNNEL = Q_LAZY, Q_REPORT_OUTCOMES, Q_REPORT_LINKS, Q_REPORT_GROUPS,
  Q_REPORT_GROUP_REPLIES, Q_REPORT_PER_MINUTE, Q_REPORT_PER_HOUR, Q_REPORT_OPEN_DELAY,
  Q_REPORT_ACCOUNTING, Q_REPORT_VARIANTS, Q_REPORT_TEST, Q_REPORT_GROUP_LATENCY,
  /* store_queue_ops.c, prepared on first use too (mailcast queue) */
  Q_QUEUE_GROUPS, Q_QUEUE_RECIPIENTS, Q_QUEUE_RETRY, Q_QUEUE_CANCEL, Q_QUEUE_CANCEL_FLIGHT,
  Q_QUEUE_CANCELLED,
  NQUERIES
};

/* A statement of a file's table: the slot it is prepared into. */
typedef struct {
  int id;
  const char *sql;
} mc_store_sql_t;

/* Each ends with an entry whose sql is NULL. mc_store_sql_lazy: the
 * statements from Q_LAZY on, prepared when first used. */
extern const mc_store_sql_t mc_store_sql_core[], mc_store_sql_queue[], mc_store_sql_suppress[],
    mc_store_sql_events[], mc_store_sql_links[], mc_store_sql_report[], mc_store_sql_lazy[],
    mc_store_sql_segment[], mc_store_sql_abtest[], mc_store_sql_transcripts[];

struct mc_store {
  sqlite3 *db;
  sqlite3_stmt *q[NQUERIES];
  int depth;   /* nested begin/commit: only the outermost counts */
  long long shard, shards;   /* this connection's shard of the recipients */
  int shard_by_domain;
  double waiting_since;   /* when the current wait for the write lock began */
};

/* A worker of `mailcast run --workers N` sees only its shard of the
 * recipients: those whose mc_shard() hash (of the domain, or of the
 * whole address) leaves its index modulo N. One worker (N = 1) sees all.
 * The arguments are the statement's parameters, bound by
 * mc_store_bind_shard. */
#define IN_SHARD(count, by_domain, index) \
  "(" count " <= 1 OR mc_shard(address, " by_domain ") % " count " = " index ")"

/* store.c ----------------------------------------------------------------- */

/* Sets e to "store: what: SQLite's message"; returns -1. */
int mc_store_db_error(mc_store_t *s, mc_error_t *e, const char *what);

/* Runs statement q, bound already, that returns no rows; resets it. */
int mc_store_run(mc_store_t *s, int q, mc_error_t *e);

/* Statement q ready for new bindings: a callback that did not return (a
 * Lua error) may have left it mid-step. */
sqlite3_stmt *mc_store_fresh(mc_store_t *s, int q);

/* Steps the bound statement st, calling cb with each row (until it
 * returns non-zero); resets it. */
int mc_store_each_row(mc_store_t *s, sqlite3_stmt *st, mc_row_cb cb, void *arg, mc_error_t *e);

/* Binds v to parameter i, or leaves it NULL when v is NULL. */
void mc_store_bind_opt_text(sqlite3_stmt *st, int i, const char *v);

/* store_schema.c ---------------------------------------------------------- */

/* Refuses (-1, e says why) a store whose schema is newer than this
 * code's, before anything is written to it; 0 otherwise. */
int mc_store_schema_check(mc_store_t *s, const char *path, mc_error_t *e);

/* Applies the migrations the store has not had, in order, each in a
 * transaction of its own. 0, or -1. */
int mc_store_migrate(mc_store_t *s, const char *path, mc_error_t *e);

/* store_queue.c ----------------------------------------------------------- */

/* Makes mc_shard(address, by_domain) known to the connection. */
int mc_store_shard_function(mc_store_t *s);

/* Binds the connection's shard to parameters first .. first + 2 of an
 * IN_SHARD condition. */
void mc_store_bind_shard(mc_store_t *s, sqlite3_stmt *st, int first);

/* store_suppress.c -------------------------------------------------------- */

/* 1 when the suppression list has any address (expired ones count),
 * 0 when it is empty, -1 on error: a claim looks its recipients up one
 * by one only when there is something to find. */
int mc_store_suppression_any(mc_store_t *s, mc_error_t *e);

/* store_queue_ops.c ------------------------------------------------------- */

/* The statement of slot q, prepared from table on its first use; NULL
 * with e set when SQLite refuses it. */
sqlite3_stmt *mc_store_lazy(mc_store_t *s, int q, const mc_store_sql_t *table, mc_error_t *e);

/* store_report_fn.c ------------------------------------------------------- */

/* Makes the reports' SQL functions known to the connection: mc_domain,
 * mc_provider, mc_class. 0, or -1. */
int mc_store_report_functions(mc_store_t *s);

/* store_events.c ---------------------------------------------------------- */

/* The connection's trigger that writes the event of each mc_store_finish. */
extern const char mc_store_outcome_trigger[];

/* The event of a recipient's outcome (what webhooks and reports read). */
int mc_store_outcome_event(mc_store_t *s, long long id, mc_rstate_t state, int code,
                           const char *enhanced, const char *text, double now, mc_error_t *e);

#endif
