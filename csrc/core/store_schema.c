/* The store's schema: the tables a new store is made with, and the
 * columns and tables added since, brought into a store made by an older
 * version when it is opened. */
#include "store_internal.h"

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


int mc_store_migrate(mc_store_t *s, const char *path, mc_error_t *e) {
  char *msg = NULL;
  if (sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
    mc_error_set(e, "store: %s: %s", path, msg ? msg : "cannot create the schema");
    sqlite3_free(msg);
    return -1;
  }
  return migrate(s, e);
}
