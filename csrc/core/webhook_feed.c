#include "webhook_feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "json.h"

/* Ids read at most per batch, matching or not: a campaign's receiver
 * skips the other campaigns' events this many at a time. */
#define WINDOW 10000

/* Writes while serve's loop runs wait this long for another writer at
 * most: a cursor not written now is written at the next poll. */
#define LOOP_BUSY_MS 20

static const char schema[] =
  "CREATE TABLE IF NOT EXISTS webhook_cursors("
  "  url TEXT NOT NULL, campaign INTEGER NOT NULL, last_id INTEGER NOT NULL,"
  "  PRIMARY KEY(url, campaign));"
  "CREATE TABLE IF NOT EXISTS campaign_webhooks("
  "  campaign INTEGER NOT NULL, url TEXT NOT NULL, PRIMARY KEY(campaign, url));";

enum { Q_LAST, Q_CURSOR_GET, Q_CURSOR_ADD, Q_CURSOR_SET, Q_TARGETS, Q_EVENTS, Q_HOOK_ADD, NQ };

static const char *const queries[NQ] = {
  [Q_LAST] = "SELECT coalesce(max(id), 0) FROM events",
  [Q_CURSOR_GET] = "SELECT last_id FROM webhook_cursors WHERE url = ?1 AND campaign = ?2",
  [Q_CURSOR_ADD] = "INSERT OR IGNORE INTO webhook_cursors(url, campaign, last_id)"
                   " VALUES (?1, ?2, (SELECT coalesce(max(id), 0) FROM events))",
  [Q_CURSOR_SET] = "UPDATE webhook_cursors SET last_id = ?3 WHERE url = ?1 AND campaign = ?2",
  [Q_TARGETS] = "SELECT rowid, campaign, url FROM campaign_webhooks WHERE rowid > ?1 ORDER BY rowid",
  /* The range of ids walks the primary key; the joins are by key. */
  [Q_EVENTS] = "SELECT e.id, e.kind, e.at, e.campaign, c.name, e.recipient, r.address,"
               " e.code, e.enhanced, e.text, e.reason, e.category, e.hard, e.link,"
               " coalesce(rl.url, l.url), e.machine"
               " FROM events e LEFT JOIN campaigns c ON c.id = e.campaign"
               " LEFT JOIN recipients r ON r.id = e.recipient"
               " LEFT JOIN recipient_links rl ON rl.campaign = e.campaign AND rl.recipient = e.recipient"
               "   AND rl.idx = e.link"   /* the URL the recipient was sent to */
               " LEFT JOIN links l ON l.campaign = e.campaign AND l.idx = e.link"
               " WHERE e.id > ?1 AND e.id <= ?2 AND (?3 = 0 OR e.campaign = ?3)"
               " ORDER BY e.id LIMIT ?4",
  [Q_HOOK_ADD] = "INSERT OR IGNORE INTO campaign_webhooks(campaign, url) VALUES (?1, ?2)",
};

struct mc_feed {
  sqlite3 *db;
  sqlite3_stmt *q[NQ];
};


static int db_error(mc_feed_t *f, mc_error_t *e, const char *what) {
  mc_error_set(e, "webhooks: %s: %s", what, sqlite3_errmsg(f->db));
  return -1;
}


/* A statement ready for new bindings. */
static sqlite3_stmt *fresh(mc_feed_t *f, int q) {
  sqlite3_reset(f->q[q]);
  sqlite3_clear_bindings(f->q[q]);
  return f->q[q];
}


/* Steps a statement that writes: 0, or -1. */
static int run(mc_feed_t *f, int q, const char *what, mc_error_t *e) {
  int rc = sqlite3_step(f->q[q]);
  sqlite3_reset(f->q[q]);
  return rc == SQLITE_DONE ? 0 : db_error(f, e, what);
}


mc_feed_t *mc_feed_open(const char *path, mc_error_t *e) {
  mc_feed_t *f = calloc(1, sizeof *f);
  if (f == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  if (sqlite3_open_v2(path, &f->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
    mc_error_set(e, "webhooks: cannot open %s: %s", path, f->db ? sqlite3_errmsg(f->db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(f->db, 5000);   /* setting up waits for a writer, as the store does */
  char *msg = NULL;
  if (sqlite3_exec(f->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
    mc_error_set(e, "webhooks: %s: %s", path, msg ? msg : "cannot create the tables");
    sqlite3_free(msg);
    goto fail;
  }
  for (int i = 0; i < NQ; i++)
    if (sqlite3_prepare_v3(f->db, queries[i], -1, SQLITE_PREPARE_PERSISTENT, &f->q[i], NULL) != SQLITE_OK) {
      db_error(f, e, queries[i]);
      goto fail;
    }
  return f;
fail:
  mc_feed_close(f);
  return NULL;
}


void mc_feed_close(mc_feed_t *f) {
  if (f == NULL) return;
  for (int i = 0; i < NQ; i++) sqlite3_finalize(f->q[i]);
  sqlite3_close(f->db);
  free(f);
}


/* The one integer a statement answers, or -1. */
static long long one_int(mc_feed_t *f, sqlite3_stmt *st, const char *what, mc_error_t *e) {
  int rc = sqlite3_step(st);
  long long v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_reset(st);
  if (rc != SQLITE_ROW) db_error(f, e, what);
  return v;
}


long long mc_feed_last_id(mc_feed_t *f, mc_error_t *e) {
  return one_int(f, fresh(f, Q_LAST), "newest event", e);
}


static void bind_key(sqlite3_stmt *st, const char *url, long long campaign) {
  sqlite3_bind_text(st, 1, url, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, campaign);
}


long long mc_feed_cursor(mc_feed_t *f, const char *url, long long campaign, mc_error_t *e) {
  bind_key(fresh(f, Q_CURSOR_ADD), url, campaign);
  if (run(f, Q_CURSOR_ADD, "cursor", e) != 0) return -1;
  sqlite3_stmt *st = fresh(f, Q_CURSOR_GET);
  bind_key(st, url, campaign);
  return one_int(f, st, "cursor", e);
}


void mc_feed_in_loop(mc_feed_t *f) {
  sqlite3_busy_timeout(f->db, LOOP_BUSY_MS);
}


int mc_feed_ack(mc_feed_t *f, const char *url, long long campaign, long long last_id,
                mc_error_t *e) {
  sqlite3_stmt *st = fresh(f, Q_CURSOR_SET);
  bind_key(st, url, campaign);
  sqlite3_bind_int64(st, 3, last_id);
  return run(f, Q_CURSOR_SET, "cursor", e);
}


int mc_feed_targets(mc_feed_t *f, long long *seen, mc_feed_target_cb cb, void *arg, mc_error_t *e) {
  sqlite3_stmt *st = fresh(f, Q_TARGETS);
  sqlite3_bind_int64(st, 1, *seen);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *url = (const char *)sqlite3_column_text(st, 2);
    if (url && cb(arg, sqlite3_column_int64(st, 1), url) != 0) {   /* this one again next time */
      rc = SQLITE_DONE;
      break;
    }
    *seen = sqlite3_column_int64(st, 0);
  }
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? 0 : db_error(f, e, "campaign webhooks");
}


/* ,"name":"text" for a text column that is not NULL. */
static void text_field(mc_buf_t *b, const char *name, sqlite3_stmt *st, int col) {
  if (sqlite3_column_type(st, col) == SQLITE_NULL) return;
  const char *s = (const char *)sqlite3_column_text(st, col);
  mc_buf_printf(b, ",\"%s\":", name);
  mc_json_string(b, s ? s : "", (size_t)sqlite3_column_bytes(st, col));
}


static void int_field(mc_buf_t *b, const char *name, sqlite3_stmt *st, int col) {
  if (sqlite3_column_type(st, col) != SQLITE_NULL)
    mc_buf_printf(b, ",\"%s\":%lld", name, (long long)sqlite3_column_int64(st, col));
}


static void bool_field(mc_buf_t *b, const char *name, sqlite3_stmt *st, int col) {
  if (sqlite3_column_type(st, col) != SQLITE_NULL)
    mc_buf_printf(b, ",\"%s\":%s", name, sqlite3_column_int(st, col) ? "true" : "false");
}


/* One row of Q_EVENTS as a JSON object: what every event has, then the
 * columns its kind filled in. */
static void event_json(mc_buf_t *b, sqlite3_stmt *st) {
  const char *kind = (const char *)sqlite3_column_text(st, 1);
  mc_buf_printf(b, "{\"id\":%lld,\"kind\":", (long long)sqlite3_column_int64(st, 0));
  mc_json_string(b, kind ? kind : "", (size_t)sqlite3_column_bytes(st, 1));
  mc_buf_printf(b, ",\"at\":%.3f,\"campaign_id\":%lld,\"recipient\":%lld", sqlite3_column_double(st, 2),
                (long long)sqlite3_column_int64(st, 3), (long long)sqlite3_column_int64(st, 5));
  text_field(b, "campaign", st, 4);
  text_field(b, "address", st, 6);
  int_field(b, "code", st, 7);
  text_field(b, "enhanced", st, 8);
  text_field(b, "text", st, 9);
  text_field(b, "reason", st, 10);
  text_field(b, "category", st, 11);
  bool_field(b, "hard", st, 12);
  int_field(b, "link", st, 13);
  text_field(b, "url", st, 14);
  if (kind && strcmp(kind, "opened") == 0) bool_field(b, "machine", st, 15);   /* clicks store 0 */
  mc_buf_addc(b, '}');
}


int mc_feed_read(mc_feed_t *f, long long after, long long last, long long campaign, size_t max,
                 mc_buf_t *body, mc_feed_batch_t *b, mc_error_t *e) {
  *b = (mc_feed_batch_t){.upto = after};
  /* Ids up to hi were all committed when last was read: none can appear
   * below it later, so the cursor may pass them. */
  long long hi = last - after > WINDOW ? after + WINDOW : last;
  if (hi <= after) return 0;
  sqlite3_stmt *st = fresh(f, Q_EVENTS);
  sqlite3_bind_int64(st, 1, after);
  sqlite3_bind_int64(st, 2, hi);
  sqlite3_bind_int64(st, 3, campaign);
  sqlite3_bind_int64(st, 4, (sqlite3_int64)max);
  mc_buf_addc(body, '[');
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (b->n++ > 0) mc_buf_addc(body, ',');
    else b->first = sqlite3_column_int64(st, 0);
    b->last = sqlite3_column_int64(st, 0);
    event_json(body, st);
  }
  sqlite3_reset(st);
  mc_buf_addc(body, ']');
  if (rc != SQLITE_DONE) return db_error(f, e, "events");
  if (body->failed) { mc_error_set(e, "out of memory"); return -1; }
  b->upto = b->n == max ? b->last : hi;   /* a full batch may have more up to hi */
  return 0;
}


int mc_feed_register(const char *path, long long campaign, const char *const *urls, size_t n,
                     mc_error_t *e) {
  mc_feed_t *f = mc_feed_open(path, e);
  if (f == NULL) return -1;
  int rc = -1;
  if (sqlite3_exec(f->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
    db_error(f, e, "register");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    sqlite3_stmt *st = fresh(f, Q_HOOK_ADD);
    sqlite3_bind_int64(st, 1, campaign);
    sqlite3_bind_text(st, 2, urls[i], -1, SQLITE_TRANSIENT);
    if (run(f, Q_HOOK_ADD, "register", e) != 0 || mc_feed_cursor(f, urls[i], campaign, e) < 0) {
      sqlite3_exec(f->db, "ROLLBACK", NULL, NULL, NULL);
      goto done;
    }
  }
  if (sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    db_error(f, e, "register");
    sqlite3_exec(f->db, "ROLLBACK", NULL, NULL, NULL);
    goto done;
  }
  rc = 0;
done:
  mc_feed_close(f);
  return rc;
}
