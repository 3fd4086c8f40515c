/* The store's connection: opening it (settings, schema, statements) and
 * closing it, transactions, the store's secrets, and the helpers the
 * store's other files share (store_internal.h). */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const state_names[MC_R_STATES] = {
  "pending", "in_flight", "deferred", "delivered", "failed", "skipped", "suppressed",
};

/* Settings of the connection, made on every open (only journal_mode is
 * kept in the file). WAL + NORMAL: nothing committed is lost when the
 * process dies. */
static const char settings[] =
  "PRAGMA journal_mode=WAL;"
  "PRAGMA synchronous=NORMAL;"
  "PRAGMA foreign_keys=ON;";

const mc_store_sql_t mc_store_sql_core[] = {
  {Q_BEGIN, "BEGIN IMMEDIATE"},
  {Q_COMMIT, "COMMIT"},
  {Q_ROLLBACK, "ROLLBACK"},
  {Q_SECRET_ADD, "INSERT OR IGNORE INTO secrets(name, value) VALUES (?1, randomblob(32))"},
  {Q_SECRET_GET, "SELECT value FROM secrets WHERE name = ?1"},
  {0, NULL},
};

#define LOCK_WAIT 5.0   /* seconds a statement waits for another writer */


const char *mc_rstate_name(mc_rstate_t s) { return state_names[s]; }


int mc_rstate_parse(const char *name, mc_rstate_t *s) {
  for (int i = 0; i < MC_R_STATES; i++)
    if (strcmp(name, state_names[i]) == 0) { *s = (mc_rstate_t)i; return 0; }
  return -1;
}


int mc_store_db_error(mc_store_t *s, mc_error_t *e, const char *what) {
  mc_error_set(e, "store: %s: %s", what, sqlite3_errmsg(s->db));
  return -1;
}


int mc_store_run(mc_store_t *s, int q, mc_error_t *e) {
  sqlite3_stmt *st = s->q[q];
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return mc_store_db_error(s, e, sqlite3_sql(st));
  return 0;
}


sqlite3_stmt *mc_store_fresh(mc_store_t *s, int q) {
  sqlite3_stmt *st = s->q[q];
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return st;
}


int mc_store_each_row(mc_store_t *s, sqlite3_stmt *st, mc_row_cb cb, void *arg, mc_error_t *e) {
  mc_col_t cols[MC_REPORT_MAX_COLUMNS];
  int ncols = sqlite3_column_count(st);
  if (ncols > MC_REPORT_MAX_COLUMNS) ncols = MC_REPORT_MAX_COLUMNS;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int i = 0; i < ncols; i++) {
      mc_col_t *c = &cols[i];
      c->name = sqlite3_column_name(st, i);
      switch (sqlite3_column_type(st, i)) {
      case SQLITE_INTEGER: c->type = MC_COL_INT; c->i = sqlite3_column_int64(st, i); break;
      case SQLITE_FLOAT: c->type = MC_COL_REAL; c->f = sqlite3_column_double(st, i); break;
      case SQLITE_NULL: c->type = MC_COL_NULL; break;
      default:
        c->type = MC_COL_TEXT;
        c->t = (const char *)sqlite3_column_text(st, i);
        c->len = (size_t)sqlite3_column_bytes(st, i);
      }
    }
    if (cb(arg, cols, ncols) != 0) { rc = SQLITE_DONE; break; }
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE ? 0 : mc_store_db_error(s, e, "report");
}


void mc_store_bind_opt_text(sqlite3_stmt *st, int i, const char *v) {
  if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}


static double monotonic_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


/* Waits for another process's write (the workers of one run share the
 * store) in steps of 100 us rather than SQLite's default of sleeping
 * milliseconds at a time, which left the cores idle; gives up after 5 s
 * by the clock (a sleep may last longer than asked on a busy machine). */
static int wait_for_lock(void *arg, int tries) {
  mc_store_t *s = arg;
  double now = monotonic_now();
  if (tries == 0) s->waiting_since = now;
  else if (now - s->waiting_since > LOCK_WAIT) return 0;
  struct timespec step = {0, 100000};
  nanosleep(&step, NULL);
  return 1;
}


/* Every file's statements, each into its slot; a slot left empty or
 * filled twice is a mistake in the tables, reported rather than run. */
static int prepare(mc_store_t *s, mc_error_t *e) {
  static const mc_store_sql_t *const files[] = {
    mc_store_sql_core, mc_store_sql_queue, mc_store_sql_suppress, mc_store_sql_events,
    mc_store_sql_links, mc_store_sql_report, mc_store_sql_segment, mc_store_sql_abtest,
    mc_store_sql_transcripts,
  };
  for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
    for (const mc_store_sql_t *t = files[f]; t->sql; t++) {
      if (s->q[t->id]) { mc_error_set(e, "store: statement %d listed twice", t->id); return -1; }
      if (sqlite3_prepare_v3(s->db, t->sql, -1, SQLITE_PREPARE_PERSISTENT, &s->q[t->id], NULL)
          != SQLITE_OK)
        return mc_store_db_error(s, e, t->sql);
    }
  }
  for (int i = 0; i < Q_LAZY; i++)
    if (s->q[i] == NULL) { mc_error_set(e, "store: statement %d has no SQL", i); return -1; }
  return 0;
}


/* Everything after the file is open; s->db is set. */
static int setup(mc_store_t *s, const char *path, mc_error_t *e) {
  sqlite3_busy_handler(s->db, wait_for_lock, s);
  if (mc_store_shard_function(s) != 0) return mc_store_db_error(s, e, "mc_shard");
  if (mc_store_report_functions(s) != 0) return mc_store_db_error(s, e, "report functions");
  /* Before anything is written: a newer version's store is left as it is. */
  if (mc_store_schema_check(s, path, e) != 0) return -1;
  char *msg = NULL;
  if (sqlite3_exec(s->db, settings, NULL, NULL, &msg) != SQLITE_OK) {
    mc_error_set(e, "store: %s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return -1;
  }
  if (mc_store_migrate(s, path, e) != 0) return -1;
  /* Before the statements: those that fire it are prepared with it. */
  if (sqlite3_exec(s->db, mc_store_outcome_trigger, NULL, NULL, &msg) != SQLITE_OK) {
    mc_error_set(e, "store: %s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return -1;
  }
  return prepare(s, e);
}


mc_store_t *mc_store_open(const char *path, mc_error_t *e) {
  mc_store_t *s = calloc(1, sizeof *s);
  if (s == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  /* One thread uses a store: no mutex around each call. */
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
    mc_error_set(e, "store: cannot open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
    mc_store_close(s);
    return NULL;
  }
  if (setup(s, path, e) != 0) {
    mc_store_close(s);
    return NULL;
  }
  return s;
}


void mc_store_close(mc_store_t *s) {
  if (s == NULL) return;
  for (int i = 0; i < NQUERIES; i++) sqlite3_finalize(s->q[i]);
  sqlite3_close(s->db);
  free(s);
}


int mc_store_begin(mc_store_t *s, mc_error_t *e) {
  if (s->depth++ > 0) return 0;
  if (mc_store_run(s, Q_BEGIN, e) != 0) { s->depth = 0; return -1; }
  return 0;
}


int mc_store_commit(mc_store_t *s, mc_error_t *e) {
  if (s->depth == 0 || --s->depth > 0) return 0;
  if (mc_store_run(s, Q_COMMIT, e) != 0) {
    mc_error_t ignored;
    mc_store_run(s, Q_ROLLBACK, &ignored);
    return -1;
  }
  return 0;
}


int mc_store_rollback(mc_store_t *s, mc_error_t *e) {
  if (s->depth == 0) return 0;
  s->depth = 0;
  return mc_store_run(s, Q_ROLLBACK, e);
}


int mc_store_changes(mc_store_t *s) {
  return sqlite3_changes(s->db);
}


int mc_store_secret(mc_store_t *s, const char *name, unsigned char *out, size_t size,
                    size_t *len, mc_error_t *e) {
  sqlite3_stmt *add = mc_store_fresh(s, Q_SECRET_ADD);
  sqlite3_bind_text(add, 1, name, -1, SQLITE_TRANSIENT);
  if (mc_store_run(s, Q_SECRET_ADD, e) != 0) return -1;
  sqlite3_stmt *st = mc_store_fresh(s, Q_SECRET_GET);
  sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  *len = 0;
  if (rc == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    const void *blob = sqlite3_column_blob(st, 0);
    if (n > size) n = size;
    if (blob) memcpy(out, blob, n);
    *len = n;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_ROW || *len == 0) return mc_store_db_error(s, e, "secret");
  return 0;
}
