#include "store.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

static const char *const state_names[MC_R_STATES] = {
  "pending", "in_flight", "deferred", "delivered", "failed", "skipped", "suppressed",
};

static const char schema[] =
  "PRAGMA journal_mode=WAL;"
  "PRAGMA synchronous=NORMAL;"   /* WAL + NORMAL: nothing committed is lost when the process dies */
  "PRAGMA foreign_keys=ON;"
  "CREATE TABLE IF NOT EXISTS campaigns("
  "  id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, created REAL NOT NULL);"
  "CREATE TABLE IF NOT EXISTS recipients("
  "  id INTEGER PRIMARY KEY, campaign INTEGER NOT NULL REFERENCES campaigns(id),"
  "  address TEXT NOT NULL, data BLOB, state TEXT NOT NULL DEFAULT 'pending',"
  "  attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0,"
  "  last_code INTEGER, last_enhanced TEXT, last_text TEXT, updated REAL, first_at REAL,"
  "  UNIQUE(campaign, address));"
  "CREATE INDEX IF NOT EXISTS recipients_due ON recipients(campaign, state, next_at);"
  "CREATE TABLE IF NOT EXISTS events("
  "  id INTEGER PRIMARY KEY, campaign INTEGER NOT NULL, recipient INTEGER NOT NULL,"
  "  at REAL NOT NULL, kind TEXT NOT NULL, code INTEGER, enhanced TEXT, text TEXT);"
  "CREATE TABLE IF NOT EXISTS suppression("
  "  address TEXT PRIMARY KEY COLLATE NOCASE, reason TEXT NOT NULL, since REAL NOT NULL,"
  "  expires REAL);";

/* Added for bounce processing, run once per store (under a lock, so two
 * processes opening an old store at once do not both alter it): what an
 * event says in the bounce taxonomy, the messages already read, the
 * store's own secrets, and indexes for finding a recipient by address. */
static const char migration_check[] =
  "SELECT count(*) FROM pragma_table_info('events') WHERE name = 'counted'";
static const char migration[] =
  "ALTER TABLE events ADD COLUMN reason TEXT;"
  "ALTER TABLE events ADD COLUMN category TEXT;"
  "ALTER TABLE events ADD COLUMN hard INTEGER;"
  "ALTER TABLE events ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;";
static const char bounce_schema[] =
  "CREATE TABLE IF NOT EXISTS bounce_seen("
  "  key TEXT PRIMARY KEY, at REAL NOT NULL, outcome TEXT NOT NULL);"
  "CREATE TABLE IF NOT EXISTS secrets(name TEXT PRIMARY KEY, value BLOB NOT NULL);"
  "CREATE INDEX IF NOT EXISTS recipients_address ON recipients(address COLLATE NOCASE);"
  "CREATE INDEX IF NOT EXISTS events_recipient ON events(recipient, at);";

/* Added for mailcast serve: the tracked links of each campaign (a click
 * token names only an index) and, on events, the link clicked and
 * whether an open came from a machine (a prefetching proxy or scanner). */
static const char serve_check[] =
  "SELECT count(*) FROM pragma_table_info('events') WHERE name = 'link'";
static const char serve_migration[] =
  "ALTER TABLE events ADD COLUMN link INTEGER;"
  "ALTER TABLE events ADD COLUMN machine INTEGER;";
static const char serve_schema[] =
  "CREATE TABLE IF NOT EXISTS links("
  "  campaign INTEGER NOT NULL, idx INTEGER NOT NULL, url TEXT NOT NULL,"
  "  PRIMARY KEY(campaign, idx));";

/* Added for personalised links: the URL a recipient's message had at a
 * link index when it was not the campaign's (a {{variable}} in the href,
 * or a repeated section whose indexes differ by recipient), so a click
 * goes to the link as that recipient saw it. Only the differing ones are
 * kept: a newsletter that is the same for everyone has no rows here. */
static const char recipient_links_schema[] =
  "CREATE TABLE IF NOT EXISTS recipient_links("
  "  campaign INTEGER NOT NULL, recipient INTEGER NOT NULL, idx INTEGER NOT NULL,"
  "  url TEXT NOT NULL, PRIMARY KEY(campaign, recipient, idx)) WITHOUT ROWID;";

/* Added when the list came to be read while the run sends: whether a
 * campaign's list has been read to its end by the last run (a pause
 * while it reads leaves the rest for the next run). The versions before
 * read the whole list before sending anything, so their campaigns count
 * as read. */
static const char list_read_check[] =
  "SELECT count(*) FROM pragma_table_info('campaigns') WHERE name = 'list_read'";
static const char list_read_migration[] =
  "ALTER TABLE campaigns ADD COLUMN list_read INTEGER NOT NULL DEFAULT 1;";

/* A worker of `mailcast run --workers N` sees only its shard of the
 * recipients: those whose mc_shard() hash (of the domain, or of the
 * whole address) leaves its index modulo N. One worker (N = 1) sees all. */
#define IN_SHARD(count, by_domain, index) \
  "(" count " <= 1 OR mc_shard(address, " by_domain ") % " count " = " index ")"

#define ROW_COLUMNS "r.id AS id, r.campaign AS campaign, c.name AS campaign_name," \
                    " r.address AS address, r.state AS state"

enum {
  Q_CAMPAIGN_GET, Q_CAMPAIGN_ADD, Q_ADD, Q_DUE, Q_SET_STATE, Q_FINISH, Q_EVENT, Q_RECOVER,
  Q_COUNTS, Q_SUPPRESS, Q_UNSUPPRESS, Q_SUPPRESSED, Q_BEGIN, Q_COMMIT, Q_ROLLBACK,
  Q_REPORT_CAMPAIGNS, Q_REPORT_REASONS, Q_REPORT_NEXT_DUE, Q_REPORT_RECIPIENTS,
  Q_RECIPIENT, Q_BY_ADDRESS, Q_EVENT_BOUNCE, Q_SOFT_COUNT, Q_SUPPRESSION_GET,
  Q_SUPPRESSION_LIST, Q_SEEN_GET, Q_SEEN_SET, Q_SECRET_ADD, Q_SECRET_GET,
  Q_LINK_ADD, Q_LINK_GET, Q_LINK_RECIPIENT_ADD, Q_LINK_FOR, Q_LINKS, Q_HIT, Q_HIT_SEEN, Q_HIT_COUNT,
  Q_LIST_READ, NQUERIES
};

static const char *const queries[NQUERIES] = {
  [Q_CAMPAIGN_GET] = "SELECT id FROM campaigns WHERE name = ?1",
  [Q_CAMPAIGN_ADD] = "INSERT INTO campaigns(name, created) VALUES (?1, ?2)",
  [Q_LIST_READ] = "UPDATE campaigns SET list_read = ?2 WHERE id = ?1",
  [Q_ADD] = "INSERT OR IGNORE INTO recipients(campaign, address, data) VALUES (?1, ?2, ?3)",
  /* Retries that are due first, then pending ones in list order. Each
   * half walks the (campaign, state, next_at) index in order and stops
   * at the limit: no scan of the campaign and no sort, so a claim costs
   * the same at the millionth recipient as at the first. */
  [Q_DUE] = "SELECT * FROM (SELECT id, address, data, attempts, first_at FROM recipients"
            " WHERE campaign = ?1 AND state = 'deferred' AND next_at <= ?2 AND " IN_SHARD("?4", "?5", "?6")
            " ORDER BY next_at, id LIMIT ?3)"
            " UNION ALL SELECT * FROM (SELECT id, address, data, attempts, first_at FROM recipients"
            " WHERE campaign = ?1 AND state = 'pending' AND " IN_SHARD("?4", "?5", "?6")
            " ORDER BY next_at, id LIMIT ?3) LIMIT ?3",
  [Q_SET_STATE] = "UPDATE recipients SET state = ?2, last_text = ?3, updated = ?4 WHERE id = ?1",
  [Q_FINISH] = "UPDATE recipients SET state = ?2, last_code = ?3, last_enhanced = ?4,"
               " last_text = ?5, next_at = ?6, updated = ?7, attempts = attempts + 1,"
               " first_at = coalesce(first_at, ?7) WHERE id = ?1",
  /* The campaign from the recipient's row: cheaper than RETURNING it
   * from the update, which goes through a table of its own. */
  [Q_EVENT] = "INSERT INTO events(campaign, recipient, at, kind, code, enhanced, text)"
              " SELECT campaign, id, ?3, ?4, ?5, ?6, ?7 FROM recipients WHERE id = ?2",
  [Q_RECOVER] = "UPDATE recipients SET state = 'pending' WHERE campaign = ?1 AND state = 'in_flight'"
                " AND " IN_SHARD("?2", "?3", "?4"),
  [Q_COUNTS] = "SELECT state, count(*) FROM recipients WHERE campaign = ?1 GROUP BY state",
  [Q_SUPPRESS] = "INSERT INTO suppression(address, reason, since, expires) VALUES (?1, ?2, ?3, ?4)"
                 " ON CONFLICT(address) DO UPDATE SET reason = ?2, since = ?3, expires = ?4",
  [Q_UNSUPPRESS] = "DELETE FROM suppression WHERE address = ?1",
  [Q_SUPPRESSED] = "SELECT reason FROM suppression WHERE address = ?1 AND (expires IS NULL OR expires > ?2)",
  [Q_BEGIN] = "BEGIN IMMEDIATE",
  [Q_COMMIT] = "COMMIT",
  [Q_ROLLBACK] = "ROLLBACK",
  [Q_REPORT_CAMPAIGNS] = "SELECT id, name, created, list_read FROM campaigns ORDER BY id",
  [Q_REPORT_REASONS] = "SELECT last_code AS code, last_enhanced AS enhanced, last_text AS text,"
                       " count(*) AS count FROM recipients WHERE campaign = ?1 AND state = ?2"
                       " GROUP BY 1, 2, 3 ORDER BY 4 DESC, 3 LIMIT ?3",
  /* Of this connection's shard: a worker waits for its own retries only
   * (?2 and ?3 are the other reports' state and limit). */
  [Q_REPORT_NEXT_DUE] = "SELECT min(next_at) AS next_at FROM recipients"
                        " WHERE campaign = ?1 AND state = 'deferred' AND " IN_SHARD("?4", "?5", "?6"),
  [Q_REPORT_RECIPIENTS] = "SELECT id, address, attempts, last_code AS code, last_enhanced AS enhanced,"
                          " last_text AS text, updated FROM recipients"
                          " WHERE campaign = ?1 AND state = ?2 ORDER BY id LIMIT ?3",
  [Q_RECIPIENT] = "SELECT " ROW_COLUMNS " FROM recipients r JOIN campaigns c ON c.id = r.campaign"
                  " WHERE r.id = ?1",
  /* The newest first: a bounce is most likely about the latest sending. */
  [Q_BY_ADDRESS] = "SELECT " ROW_COLUMNS " FROM recipients r JOIN campaigns c ON c.id = r.campaign"
                   " WHERE r.address = ?1 COLLATE NOCASE AND (?2 = 0 OR r.campaign = ?2)"
                   " ORDER BY r.id DESC LIMIT 50",
  [Q_EVENT_BOUNCE] = "INSERT INTO events(campaign, recipient, at, kind, code, enhanced, text,"
                     " reason, category, hard, counted)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
  [Q_SOFT_COUNT] = "SELECT count(*) FROM events e JOIN recipients r ON r.id = e.recipient"
                   " WHERE r.address = ?1 COLLATE NOCASE AND e.counted = 1 AND e.at > ?2",
  [Q_SUPPRESSION_GET] = "SELECT address, reason, since, expires FROM suppression WHERE address = ?1",
  [Q_SUPPRESSION_LIST] = "SELECT address, reason, since, expires FROM suppression"
                         " WHERE (?1 IS NULL OR lower(substr(reason, 1, length(?1))) = lower(?1))"
                         " AND (?3 OR expires IS NULL OR expires > ?2) ORDER BY address",
  [Q_SEEN_GET] = "SELECT outcome FROM bounce_seen WHERE key = ?1",
  [Q_SEEN_SET] = "INSERT INTO bounce_seen(key, at, outcome) VALUES (?1, ?2, ?3)"
                 " ON CONFLICT(key) DO UPDATE SET outcome = ?3",
  [Q_SECRET_ADD] = "INSERT OR IGNORE INTO secrets(name, value) VALUES (?1, randomblob(32))",
  [Q_SECRET_GET] = "SELECT value FROM secrets WHERE name = ?1",
  [Q_LINK_ADD] = "INSERT OR IGNORE INTO links(campaign, idx, url) VALUES (?1, ?2, ?3)",
  [Q_LINK_GET] = "SELECT url FROM links WHERE campaign = ?1 AND idx = ?2",
  /* The latest wins: a retry's message is the one the recipient has. */
  [Q_LINK_RECIPIENT_ADD] = "INSERT INTO recipient_links(campaign, recipient, idx, url)"
                           " VALUES (?1, ?2, ?3, ?4)"
                           " ON CONFLICT(campaign, recipient, idx) DO UPDATE SET url = ?4",
  /* One row always: the recipient's own URL, else the campaign's, else
   * NULL. Recipient 0 (aggregate tokens) has no rows of its own. */
  [Q_LINK_FOR] = "SELECT coalesce("
                 "(SELECT url FROM recipient_links WHERE campaign = ?1 AND recipient = ?2 AND idx = ?3),"
                 " (SELECT url FROM links WHERE campaign = ?1 AND idx = ?3))",
  [Q_LINKS] = "SELECT idx AS idx, url AS url FROM links WHERE campaign = ?1 AND ?2 = 0"
              " UNION ALL SELECT idx, url FROM recipient_links"
              " WHERE campaign = ?1 AND recipient = ?2 AND ?2 > 0 ORDER BY 1",
  [Q_HIT] = "INSERT INTO events(campaign, recipient, at, kind, text, link, machine)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
  [Q_HIT_COUNT] = "SELECT count(*), coalesce(sum(machine), 0), coalesce(sum(text = 'first'), 0)"
                  " FROM events WHERE campaign = ?1 AND kind = ?2",
  [Q_HIT_SEEN] = "SELECT 1 FROM events WHERE recipient = ?2 AND campaign = ?1 AND kind = ?3 LIMIT 1",
};

struct mc_store {
  sqlite3 *db;
  sqlite3_stmt *q[NQUERIES];
  int depth;   /* nested begin/commit: only the outermost counts */
  long long shard, shards;   /* this connection's shard of the recipients */
  int shard_by_domain;
  double waiting_since;   /* when the current wait for the write lock began */
};

#define LOCK_WAIT 5.0   /* seconds a statement waits for another writer */


const char *mc_rstate_name(mc_rstate_t s) { return state_names[s]; }


int mc_rstate_parse(const char *name, mc_rstate_t *s) {
  for (int i = 0; i < MC_R_STATES; i++)
    if (strcmp(name, state_names[i]) == 0) { *s = (mc_rstate_t)i; return 0; }
  return -1;
}


static int db_error(mc_store_t *s, mc_error_t *e, const char *what) {
  mc_error_set(e, "store: %s: %s", what, sqlite3_errmsg(s->db));
  return -1;
}


/* Runs a prepared statement that returns no rows. */
static int run(mc_store_t *s, int q, mc_error_t *e) {
  sqlite3_stmt *st = s->q[q];
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return db_error(s, e, queries[q]);
  return 0;
}


/* Runs alter (columns to add) unless check finds them there already. */
static int add_columns(mc_store_t *s, const char *check, const char *alter, char **msg) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, check, -1, &st, NULL) != SQLITE_OK) return -1;
  int have = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
  sqlite3_finalize(st);
  return have || sqlite3_exec(s->db, alter, NULL, NULL, msg) == SQLITE_OK ? 0 : -1;
}


/* Brings a store made by an older version up to this schema: the bounce,
 * serve and list columns and tables it does not have yet. */
static int migrate(mc_store_t *s, mc_error_t *e) {
  char *msg = NULL;
  if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) goto fail;
  if (add_columns(s, migration_check, migration, &msg) != 0) goto fail_rollback;
  if (sqlite3_exec(s->db, bounce_schema, NULL, NULL, &msg) != SQLITE_OK) goto fail_rollback;
  if (add_columns(s, serve_check, serve_migration, &msg) != 0) goto fail_rollback;
  if (sqlite3_exec(s->db, serve_schema, NULL, NULL, &msg) != SQLITE_OK) goto fail_rollback;
  if (sqlite3_exec(s->db, recipient_links_schema, NULL, NULL, &msg) != SQLITE_OK) goto fail_rollback;
  if (add_columns(s, list_read_check, list_read_migration, &msg) != 0) goto fail_rollback;
  if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) goto fail_rollback;
  return 0;
fail_rollback:
  mc_error_set(e, "store: migration: %s", msg ? msg : sqlite3_errmsg(s->db));
  sqlite3_free(msg);
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return -1;
fail:
  mc_error_set(e, "store: migration: %s", msg ? msg : sqlite3_errmsg(s->db));
  sqlite3_free(msg);
  return -1;
}


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


void mc_store_shard(mc_store_t *s, long long index, long long count, int by_domain) {
  s->shard = index;
  s->shards = count;
  s->shard_by_domain = by_domain;
}


static void bind_shard(mc_store_t *s, sqlite3_stmt *st, int first) {
  sqlite3_bind_int64(st, first, s->shards);
  sqlite3_bind_int(st, first + 1, s->shard_by_domain);
  sqlite3_bind_int64(st, first + 2, s->shard);
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
  sqlite3_busy_handler(s->db, wait_for_lock, s);
  sqlite3_create_function_v2(s->db, "mc_shard", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                             shard_of, NULL, NULL, NULL);
  char *msg = NULL;
  if (sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
    mc_error_set(e, "store: %s: %s", path, msg ? msg : "cannot create the schema");
    sqlite3_free(msg);
    mc_store_close(s);
    return NULL;
  }
  if (migrate(s, e) != 0) {
    mc_store_close(s);
    return NULL;
  }
  for (int i = 0; i < NQUERIES; i++) {
    if (sqlite3_prepare_v3(s->db, queries[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL) != SQLITE_OK) {
      db_error(s, e, queries[i]);
      mc_store_close(s);
      return NULL;
    }
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
  if (run(s, Q_BEGIN, e) != 0) { s->depth = 0; return -1; }
  return 0;
}


int mc_store_commit(mc_store_t *s, mc_error_t *e) {
  if (s->depth == 0 || --s->depth > 0) return 0;
  if (run(s, Q_COMMIT, e) != 0) {
    mc_error_t ignored;
    run(s, Q_ROLLBACK, &ignored);
    return -1;
  }
  return 0;
}


long long mc_store_campaign(mc_store_t *s, const char *name, double now, mc_error_t *e) {
  sqlite3_stmt *get = s->q[Q_CAMPAIGN_GET];
  sqlite3_bind_text(get, 1, name, -1, SQLITE_TRANSIENT);
  long long id = -1;
  int rc = sqlite3_step(get);
  if (rc == SQLITE_ROW) id = sqlite3_column_int64(get, 0);
  sqlite3_reset(get);
  sqlite3_clear_bindings(get);
  if (rc == SQLITE_ROW) return id;
  if (rc != SQLITE_DONE) { db_error(s, e, "campaign"); return -1; }
  sqlite3_bind_text(s->q[Q_CAMPAIGN_ADD], 1, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(s->q[Q_CAMPAIGN_ADD], 2, now);
  if (run(s, Q_CAMPAIGN_ADD, e) != 0) return -1;
  return sqlite3_last_insert_rowid(s->db);
}


int mc_store_list_read(mc_store_t *s, long long campaign, int read, mc_error_t *e) {
  sqlite3_bind_int64(s->q[Q_LIST_READ], 1, campaign);
  sqlite3_bind_int(s->q[Q_LIST_READ], 2, read != 0);
  return run(s, Q_LIST_READ, e);
}


int mc_store_add(mc_store_t *s, long long campaign, const char *address,
                 const char *data, size_t datalen, mc_error_t *e) {
  sqlite3_stmt *st = s->q[Q_ADD];
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_text(st, 2, address, -1, SQLITE_TRANSIENT);
  if (data) sqlite3_bind_blob(st, 3, data, (int)datalen, SQLITE_TRANSIENT);
  if (run(s, Q_ADD, e) != 0) return -1;
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


/* The event of an outcome (what webhooks and reports read). */
static int add_event(mc_store_t *s, long long id, mc_rstate_t state, int code,
                     const char *enhanced, const char *text, double now, mc_error_t *e) {
  sqlite3_stmt *ev = s->q[Q_EVENT];
  sqlite3_bind_int64(ev, 2, id);
  sqlite3_bind_double(ev, 3, now);
  sqlite3_bind_text(ev, 4, state_names[state], -1, SQLITE_STATIC);
  sqlite3_bind_int(ev, 5, code);
  if (enhanced) sqlite3_bind_text(ev, 6, enhanced, -1, SQLITE_TRANSIENT);
  if (text) sqlite3_bind_text(ev, 7, text, -1, SQLITE_TRANSIENT);
  return run(s, Q_EVENT, e);
}


static int set_state(mc_store_t *s, long long id, mc_rstate_t state, const char *text,
                     double now, mc_error_t *e) {
  sqlite3_stmt *st = s->q[Q_SET_STATE];
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, state_names[state], -1, SQLITE_STATIC);
  if (text) sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 4, now);
  return run(s, Q_SET_STATE, e);
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
  bind_shard(s, due, 4);
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
    if (c->address == NULL || c->data == NULL) { rc = SQLITE_NOMEM; break; }
  }
  sqlite3_reset(due);
  sqlite3_clear_bindings(due);
  if (list == NULL || rc != SQLITE_DONE) {
    if (list) db_error(s, e, "claim");
    else mc_error_set(e, "out of memory");
    goto fail;
  }
  /* Mark them in flight, or suppressed (with the reason) when they are
   * on the suppression list. */
  for (size_t i = 0; i < count; i++) {
    char reason[256];
    int sup = mc_store_suppressed(s, list[i].address, now, reason, sizeof reason, e);
    if (sup < 0) goto fail;
    if (sup) {
      char text[300];
      snprintf(text, sizeof text, "suppressed: %s", reason);
      if (set_state(s, list[i].id, MC_R_SUPPRESSED, text, now, e) != 0
          || add_event(s, list[i].id, MC_R_SUPPRESSED, 0, NULL, text, now, e) != 0) goto fail;
      list[i].suppressed = strdup(text);   /* kept in the list: the caller logs it */
      if (list[i].suppressed == NULL) { mc_error_set(e, "out of memory"); goto fail; }
      continue;
    }
    if (set_state(s, list[i].id, MC_R_IN_FLIGHT, NULL, now, e) != 0) goto fail;
  }
  if (mc_store_commit(s, e) != 0) goto fail;
  *out = list;
  *n = count;
  return 0;
fail:
  {
    mc_error_t ignored;
    if (s->depth == 1) { run(s, Q_ROLLBACK, &ignored); s->depth = 0; }
    else mc_store_commit(s, &ignored);
  }
  mc_store_claims_free(list, count);
  return -1;
}


int mc_store_finish(mc_store_t *s, long long id, mc_rstate_t state, int code,
                    const char *enhanced, const char *text, double next_at, double now,
                    mc_error_t *e) {
  sqlite3_stmt *st = s->q[Q_FINISH];
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_text(st, 2, state_names[state], -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, code);
  if (enhanced) sqlite3_bind_text(st, 4, enhanced, -1, SQLITE_TRANSIENT);
  if (text) sqlite3_bind_text(st, 5, text, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 6, next_at);
  sqlite3_bind_double(st, 7, now);
  if (run(s, Q_FINISH, e) != 0) return -1;
  if (sqlite3_changes(s->db) == 0) { mc_error_set(e, "store: no recipient %lld", id); return -1; }
  return add_event(s, id, state, code, enhanced, text, now, e);
}


int mc_store_recover(mc_store_t *s, long long campaign, size_t *n, mc_error_t *e) {
  sqlite3_bind_int64(s->q[Q_RECOVER], 1, campaign);
  bind_shard(s, s->q[Q_RECOVER], 2);
  if (run(s, Q_RECOVER, e) != 0) return -1;
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
  return rc == SQLITE_DONE ? 0 : db_error(s, e, "counts");
}


int mc_store_suppress(mc_store_t *s, const char *address, const char *reason, double now,
                      double expires, mc_error_t *e) {
  sqlite3_stmt *st = s->q[Q_SUPPRESS];
  sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 3, now);
  if (expires > 0) sqlite3_bind_double(st, 4, expires);
  return run(s, Q_SUPPRESS, e);
}


int mc_store_unsuppress(mc_store_t *s, const char *address, mc_error_t *e) {
  sqlite3_bind_text(s->q[Q_UNSUPPRESS], 1, address, -1, SQLITE_TRANSIENT);
  return run(s, Q_UNSUPPRESS, e);
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
  return db_error(s, e, "suppressed");
}


static int each_row(mc_store_t *s, sqlite3_stmt *st, mc_row_cb cb, void *arg, mc_error_t *e);


int mc_store_report(mc_store_t *s, mc_report_t which, long long campaign, const char *state,
                    long long limit, mc_row_cb cb, void *arg, mc_error_t *e) {
  static const int query[] = {
    [MC_REPORT_CAMPAIGNS] = Q_REPORT_CAMPAIGNS, [MC_REPORT_REASONS] = Q_REPORT_REASONS,
    [MC_REPORT_NEXT_DUE] = Q_REPORT_NEXT_DUE, [MC_REPORT_RECIPIENTS] = Q_REPORT_RECIPIENTS,
  };
  sqlite3_stmt *st = s->q[query[which]];
  /* A callback that did not return (a Lua error) left it mid-step. */
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  int nparams = sqlite3_bind_parameter_count(st);
  if (nparams >= 1) sqlite3_bind_int64(st, 1, campaign);
  if (nparams >= 2) sqlite3_bind_text(st, 2, state ? state : "", -1, SQLITE_TRANSIENT);
  if (nparams >= 3) sqlite3_bind_int64(st, 3, limit);
  if (which == MC_REPORT_NEXT_DUE) bind_shard(s, st, 4);
  return each_row(s, st, cb, arg, e);
}


/* Steps the bound statement st, calling cb with each row; resets it. */
static int each_row(mc_store_t *s, sqlite3_stmt *st, mc_row_cb cb, void *arg, mc_error_t *e) {
  mc_col_t cols[16];
  int ncols = sqlite3_column_count(st);
  if (ncols > 16) ncols = 16;
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
  return rc == SQLITE_DONE ? 0 : db_error(s, e, "report");
}


/* Bounce processing and the suppression list ------------------------------ */

/* A statement ready for new bindings: a callback that did not return (a
 * Lua error) may have left it mid-step. */
static sqlite3_stmt *fresh(mc_store_t *s, int q) {
  sqlite3_stmt *st = s->q[q];
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return st;
}


static void bind_opt_text(sqlite3_stmt *st, int i, const char *v) {
  if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}


long long mc_store_campaign_find(mc_store_t *s, const char *name, mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_CAMPAIGN_GET);
  sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  long long id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(s, e, "campaign");
  return id;
}


int mc_store_recipient(mc_store_t *s, long long id, mc_row_cb cb, void *arg, mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_RECIPIENT);
  sqlite3_bind_int64(st, 1, id);
  return each_row(s, st, cb, arg, e);
}


int mc_store_recipients_by_address(mc_store_t *s, const char *address, long long campaign,
                                   mc_row_cb cb, void *arg, mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_BY_ADDRESS);
  sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, campaign);
  return each_row(s, st, cb, arg, e);
}


int mc_store_event(mc_store_t *s, const mc_event_t *ev, mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_EVENT_BOUNCE);
  sqlite3_bind_int64(st, 1, ev->campaign);
  sqlite3_bind_int64(st, 2, ev->recipient);
  sqlite3_bind_double(st, 3, ev->at);
  sqlite3_bind_text(st, 4, ev->kind, -1, SQLITE_TRANSIENT);
  if (ev->code) sqlite3_bind_int(st, 5, ev->code);
  bind_opt_text(st, 6, ev->enhanced);
  bind_opt_text(st, 7, ev->text);
  bind_opt_text(st, 8, ev->reason);
  bind_opt_text(st, 9, ev->category);
  if (ev->hard >= 0) sqlite3_bind_int(st, 10, ev->hard);
  sqlite3_bind_int(st, 11, ev->counted ? 1 : 0);
  return run(s, Q_EVENT_BOUNCE, e);
}


long long mc_store_soft_count(mc_store_t *s, const char *address, double since, mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_SOFT_COUNT);
  sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 2, since);
  int rc = sqlite3_step(st);
  long long n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_ROW) return db_error(s, e, "soft bounces");
  return n;
}


int mc_store_suppression_get(mc_store_t *s, const char *address, mc_row_cb cb, void *arg,
                             mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_SUPPRESSION_GET);
  sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
  return each_row(s, st, cb, arg, e);
}


int mc_store_suppression_list(mc_store_t *s, const char *reason, double now, int all,
                              mc_row_cb cb, void *arg, mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_SUPPRESSION_LIST);
  bind_opt_text(st, 1, reason);
  sqlite3_bind_double(st, 2, now);
  sqlite3_bind_int(st, 3, all ? 1 : 0);
  return each_row(s, st, cb, arg, e);
}


int mc_store_changes(mc_store_t *s) {
  return sqlite3_changes(s->db);
}


int mc_store_seen(mc_store_t *s, const char *key, char *outcome, size_t size, mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_SEEN_GET);
  sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && outcome && size)
    snprintf(outcome, size, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc == SQLITE_ROW) return 1;
  if (rc == SQLITE_DONE) return 0;
  return db_error(s, e, "seen");
}


int mc_store_mark_seen(mc_store_t *s, const char *key, double now, const char *outcome,
                       mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_SEEN_SET);
  sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_double(st, 2, now);
  sqlite3_bind_text(st, 3, outcome, -1, SQLITE_TRANSIENT);
  return run(s, Q_SEEN_SET, e);
}


int mc_store_secret(mc_store_t *s, const char *name, unsigned char *out, size_t size,
                    size_t *len, mc_error_t *e) {
  sqlite3_stmt *add = fresh(s, Q_SECRET_ADD);
  sqlite3_bind_text(add, 1, name, -1, SQLITE_TRANSIENT);
  if (run(s, Q_SECRET_ADD, e) != 0) return -1;
  sqlite3_stmt *st = fresh(s, Q_SECRET_GET);
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
  if (rc != SQLITE_ROW || *len == 0) return db_error(s, e, "secret");
  return 0;
}


int mc_store_rollback(mc_store_t *s, mc_error_t *e) {
  if (s->depth == 0) return 0;
  s->depth = 0;
  return run(s, Q_ROLLBACK, e);
}


/* mailcast serve ---------------------------------------------------------- */

int mc_store_link(mc_store_t *s, long long campaign, long long index, const char *url,
                  mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_LINK_ADD);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_int64(st, 2, index);
  sqlite3_bind_text(st, 3, url, -1, SQLITE_TRANSIENT);
  return run(s, Q_LINK_ADD, e);
}


int mc_store_link_get(mc_store_t *s, long long campaign, long long index, char **url,
                      mc_error_t *e) {
  *url = NULL;
  sqlite3_stmt *st = fresh(s, Q_LINK_GET);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_int64(st, 2, index);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *text = (const char *)sqlite3_column_text(st, 0);
    *url = strdup(text ? text : "");
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc == SQLITE_DONE) return 0;
  if (rc != SQLITE_ROW) return db_error(s, e, "link");
  if (*url == NULL) { mc_error_set(e, "out of memory"); return -1; }
  return 1;
}


int mc_store_link_recipient(mc_store_t *s, long long campaign, long long recipient,
                            long long index, const char *url, size_t len, mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_LINK_RECIPIENT_ADD);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_int64(st, 2, recipient);
  sqlite3_bind_int64(st, 3, index);
  sqlite3_bind_text(st, 4, url, (int)len, SQLITE_TRANSIENT);
  return run(s, Q_LINK_RECIPIENT_ADD, e);
}


int mc_store_link_for(mc_store_t *s, long long campaign, long long recipient, long long index,
                      char **url, mc_error_t *e) {
  *url = NULL;
  sqlite3_stmt *st = fresh(s, Q_LINK_FOR);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_int64(st, 2, recipient);
  sqlite3_bind_int64(st, 3, index);
  int rc = sqlite3_step(st);
  int found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
  if (found) *url = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_ROW) return db_error(s, e, "link");
  if (!found) return 0;
  if (*url == NULL) { mc_error_set(e, "out of memory"); return -1; }
  return 1;
}


int mc_store_links(mc_store_t *s, long long campaign, long long recipient, mc_row_cb cb, void *arg,
                   mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_LINKS);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_int64(st, 2, recipient);
  return each_row(s, st, cb, arg, e);
}


int mc_store_hit(mc_store_t *s, const mc_hit_t *h, mc_error_t *e) {
  const char *text = NULL;
  if (strcmp(h->kind, "opened") == 0) {   /* the first open of the recipient, or a repeat */
    sqlite3_stmt *seen = fresh(s, Q_HIT_SEEN);
    sqlite3_bind_int64(seen, 1, h->campaign);
    sqlite3_bind_int64(seen, 2, h->recipient);
    sqlite3_bind_text(seen, 3, h->kind, -1, SQLITE_STATIC);
    int rc = sqlite3_step(seen);
    sqlite3_reset(seen);
    sqlite3_clear_bindings(seen);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(s, e, "hit");
    text = rc == SQLITE_ROW ? "repeat" : "first";
  }
  sqlite3_stmt *st = fresh(s, Q_HIT);
  sqlite3_bind_int64(st, 1, h->campaign);
  sqlite3_bind_int64(st, 2, h->recipient);
  sqlite3_bind_double(st, 3, h->at);
  sqlite3_bind_text(st, 4, h->kind, -1, SQLITE_STATIC);
  bind_opt_text(st, 5, text);
  if (h->link > 0) sqlite3_bind_int64(st, 6, h->link);
  sqlite3_bind_int(st, 7, h->machine ? 1 : 0);
  return run(s, Q_HIT, e);
}


int mc_store_hit_counts(mc_store_t *s, long long campaign, const char *kind, long long out[3],
                        mc_error_t *e) {
  sqlite3_stmt *st = fresh(s, Q_HIT_COUNT);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  for (int i = 0; i < 3; i++) out[i] = rc == SQLITE_ROW ? sqlite3_column_int64(st, i) : 0;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_ROW ? 0 : db_error(s, e, "hit counts");
}
