/* The store's schema as an ordered list of migrations. A store records
 * in PRAGMA user_version how many it has had; opening it applies the
 * rest in order, each in a transaction of its own taken under the write
 * lock (two processes opening an old store at once never both apply
 * one). A store whose version is above the last one here was made by a
 * newer mailcast: it is refused, never written to.
 *
 * A migration never changes once released: a new table or column is a
 * new migration at the end of the list. Their SQL is written as the
 * first versions ran it, so every store has the same schema text,
 * however old it was when it was opened. */
#include "store_internal.h"

#include <stdio.h>

typedef struct {
  const char *what;   /* for error messages */
  const char *sql;
  /* A store made before the migrations were numbered (user_version 0)
   * has had this one when this query counts more than 0. */
  const char *had;
} migration_t;

static const migration_t migrations[] = {
  /* 1: campaigns, their recipients, an event per outcome, and the
   * suppression list campaigns share. */
  {"the campaign store",
   "CREATE TABLE campaigns("
   "  id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, created REAL NOT NULL);"
   "CREATE TABLE recipients("
   "  id INTEGER PRIMARY KEY, campaign INTEGER NOT NULL REFERENCES campaigns(id),"
   "  address TEXT NOT NULL, data BLOB, state TEXT NOT NULL DEFAULT 'pending',"
   "  attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0,"
   "  last_code INTEGER, last_enhanced TEXT, last_text TEXT, updated REAL, first_at REAL,"
   "  UNIQUE(campaign, address));"
   "CREATE INDEX recipients_due ON recipients(campaign, state, next_at);"
   "CREATE TABLE events("
   "  id INTEGER PRIMARY KEY, campaign INTEGER NOT NULL, recipient INTEGER NOT NULL,"
   "  at REAL NOT NULL, kind TEXT NOT NULL, code INTEGER, enhanced TEXT, text TEXT);"
   "CREATE TABLE suppression("
   "  address TEXT PRIMARY KEY COLLATE NOCASE, reason TEXT NOT NULL, since REAL NOT NULL,"
   "  expires REAL);",
   "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'campaigns'"},

  /* 2: bounce processing: what an event says in the bounce taxonomy,
   * the messages already read, the store's own secrets, and indexes for
   * finding a recipient by address. */
  {"bounce processing",
   "ALTER TABLE events ADD COLUMN reason TEXT;"
   "ALTER TABLE events ADD COLUMN category TEXT;"
   "ALTER TABLE events ADD COLUMN hard INTEGER;"
   "ALTER TABLE events ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;"
   "CREATE TABLE bounce_seen("
   "  key TEXT PRIMARY KEY, at REAL NOT NULL, outcome TEXT NOT NULL);"
   "CREATE TABLE secrets(name TEXT PRIMARY KEY, value BLOB NOT NULL);"
   "CREATE INDEX recipients_address ON recipients(address COLLATE NOCASE);"
   "CREATE INDEX events_recipient ON events(recipient, at);",
   "SELECT count(*) FROM pragma_table_info('events') WHERE name = 'counted'"},

  /* 3: mailcast serve: on events, the link clicked and whether an open
   * came from a machine (a prefetching proxy or scanner); the tracked
   * links of each campaign (a click token names only an index). */
  {"tracked links",
   "ALTER TABLE events ADD COLUMN link INTEGER;"
   "ALTER TABLE events ADD COLUMN machine INTEGER;"
   "CREATE TABLE links("
   "  campaign INTEGER NOT NULL, idx INTEGER NOT NULL, url TEXT NOT NULL,"
   "  PRIMARY KEY(campaign, idx));",
   "SELECT count(*) FROM pragma_table_info('events') WHERE name = 'link'"},

  /* 4: personalised links: a recipient's URL of a link index where it
   * was not the campaign's. */
  {"recipients' links",
   "CREATE TABLE recipient_links("
   "  campaign INTEGER NOT NULL, recipient INTEGER NOT NULL, idx INTEGER NOT NULL,"
   "  url TEXT NOT NULL, PRIMARY KEY(campaign, recipient, idx)) WITHOUT ROWID;",
   "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'recipient_links'"},

  /* 5: whether a campaign's list has been read to its end (the list is
   * read while the run sends, and a pause leaves the rest for the next
   * run). The versions before read the whole list before sending
   * anything, so their campaigns count as read. */
  {"lists read while sending",
   "ALTER TABLE campaigns ADD COLUMN list_read INTEGER NOT NULL DEFAULT 1;",
   "SELECT count(*) FROM pragma_table_info('campaigns') WHERE name = 'list_read'"},

  /* 6: campaign tools. A recipient's variant in an A/B test (k: of the
   * test group, sent variant k; 0: held for the winner; -k: sent the
   * winner k after the pick; NULL: no test); when a campaign's test
   * group was all sent, its winner and when it was picked; and the
   * newest event of the store its segment was read from when it was
   * first read (later events do not change it). The index holds the
   * held recipients only: a recipient's changes of state never touch it. */
  {"segments and A/B tests",
   "ALTER TABLE recipients ADD COLUMN variant INTEGER;"
   "ALTER TABLE campaigns ADD COLUMN test_sent REAL;"
   "ALTER TABLE campaigns ADD COLUMN test_winner INTEGER;"
   "ALTER TABLE campaigns ADD COLUMN test_picked REAL;"
   "ALTER TABLE campaigns ADD COLUMN segment_upto INTEGER;"
   "CREATE INDEX recipients_held ON recipients(campaign) WHERE variant = 0;",
   "SELECT count(*) FROM pragma_table_info('recipients') WHERE name = 'variant'"},

  /* 7: the last transcript of each recipient not delivered (its last
   * failed or deferred transaction's lines), replaced by each attempt. */
  {"recipients' last transcripts",
   "CREATE TABLE IF NOT EXISTS transcripts("
   "  recipient INTEGER PRIMARY KEY, at REAL NOT NULL, text TEXT NOT NULL);",
   "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'transcripts'"},

  /* 8: the route and the server of a recipient's last attempt, for the
   * reports by route and by MX host, each outcome's route (the
   * accounting's vmta), and a tracked link's tag. */
  {"routes, servers and link tags",
   "ALTER TABLE recipients ADD COLUMN route TEXT;"
   "ALTER TABLE recipients ADD COLUMN host TEXT;"
   "ALTER TABLE events ADD COLUMN route TEXT;"
   "ALTER TABLE links ADD COLUMN tag TEXT;",
   "SELECT count(*) FROM pragma_table_info('recipients') WHERE name = 'host'"},

  /* 9: the labels an A/B test's variants had in the campaign's script,
   * for reports of the store alone. */
  {"variant labels",
   "CREATE TABLE IF NOT EXISTS variant_labels("
   "  campaign INTEGER NOT NULL, variant INTEGER NOT NULL, label TEXT NOT NULL,"
   "  PRIMARY KEY(campaign, variant));",
   "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'variant_labels'"},
};

#define LATEST ((int)(sizeof migrations / sizeof migrations[0]))


/* The single integer of a query without parameters into *n; 0, or -1. */
static int query_int(mc_store_t *s, const char *sql, int *n) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : -1;
}


/* How many migrations a store made before they were numbered has had:
 * each of those versions had a first part of this list. */
static int legacy_version(mc_store_t *s, int *version) {
  *version = 0;
  for (int i = 0; i < LATEST; i++) {
    int had = 0;
    if (query_int(s, migrations[i].had, &had) != 0) return -1;
    if (!had) break;
    *version = i + 1;
  }
  return 0;
}


static int newer(const char *path, int version, mc_error_t *e) {
  mc_error_set(e, "store: %s was made by a newer mailcast (schema version %d; this one knows"
               " up to %d): it is left as it is", path, version, LATEST);
  return -1;
}


int mc_store_schema_check(mc_store_t *s, const char *path, mc_error_t *e) {
  int version = 0;
  if (query_int(s, "PRAGMA user_version", &version) != 0)
    return mc_store_db_error(s, e, path);
  return version > LATEST ? newer(path, version, e) : 0;
}


/* One migration in its transaction, the next the store has not had (or
 * none when it has had them all: then only the version of a store made
 * before they were numbered is written). *version says where the store
 * is after it. */
static int migrate_one(mc_store_t *s, const char *path, int *version, mc_error_t *e) {
  char *msg = NULL;
  if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
    mc_error_set(e, "store: %s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return -1;
  }
  int v = 0;
  /* Read again under the lock: another process may have moved it on. */
  if (query_int(s, "PRAGMA user_version", &v) != 0 || (v == 0 && legacy_version(s, &v) != 0)) {
    mc_store_db_error(s, e, path);
    goto fail;
  }
  if (v > LATEST) { newer(path, v, e); goto fail; }
  if (v < LATEST) {
    if (sqlite3_exec(s->db, migrations[v].sql, NULL, NULL, &msg) != SQLITE_OK) {
      mc_error_set(e, "store: %s: migration %d (%s): %s", path, v + 1, migrations[v].what,
                   msg ? msg : sqlite3_errmsg(s->db));
      goto fail;
    }
    v++;
  }
  char set[64];
  snprintf(set, sizeof set, "PRAGMA user_version = %d; COMMIT", v);
  if (sqlite3_exec(s->db, set, NULL, NULL, &msg) != SQLITE_OK) {
    mc_error_set(e, "store: %s: migration %d: %s", path, v, msg ? msg : sqlite3_errmsg(s->db));
    goto fail;
  }
  *version = v;
  return 0;
fail:
  sqlite3_free(msg);
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return -1;
}


int mc_store_migrate(mc_store_t *s, const char *path, mc_error_t *e) {
  int version = 0;
  /* Up to date (every open but the first of each version): no lock. */
  if (query_int(s, "PRAGMA user_version", &version) != 0) return mc_store_db_error(s, e, path);
  if (version == LATEST) return 0;
  do {
    if (migrate_one(s, path, &version, e) != 0) return -1;
  } while (version < LATEST);
  return 0;
}
