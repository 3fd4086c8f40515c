/* Tracked links, the only places a click is sent to: a campaign's URL
 * of each link index (a click token names only the index), and a
 * recipient's own URL of an index where their message had another one
 * (a {{variable}} in the href, or a repeated section whose indexes
 * differ by recipient). A newsletter that is the same for everyone has
 * no recipient rows. */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

const mc_store_sql_t mc_store_sql_links[] = {
  {Q_LINK_ADD, "INSERT OR IGNORE INTO links(campaign, idx, url, tag) VALUES (?1, ?2, ?3, ?4)"},
  {Q_LINK_GET, "SELECT url FROM links WHERE campaign = ?1 AND idx = ?2"},
  /* The latest wins: a retry's message is the one the recipient has. */
  {Q_LINK_RECIPIENT_ADD, "INSERT INTO recipient_links(campaign, recipient, idx, url)"
                         " VALUES (?1, ?2, ?3, ?4)"
                         " ON CONFLICT(campaign, recipient, idx) DO UPDATE SET url = ?4"},
  /* One row always: the recipient's own URL, else the campaign's, else
   * NULL. Recipient 0 (aggregate tokens) has no rows of its own. */
  {Q_LINK_FOR, "SELECT coalesce("
               "(SELECT url FROM recipient_links WHERE campaign = ?1 AND recipient = ?2 AND idx = ?3),"
               " (SELECT url FROM links WHERE campaign = ?1 AND idx = ?3))"},
  {Q_LINKS, "SELECT idx AS idx, url AS url FROM links WHERE campaign = ?1 AND ?2 = 0"
            " UNION ALL SELECT idx, url FROM recipient_links"
            " WHERE campaign = ?1 AND recipient = ?2 AND ?2 > 0 ORDER BY 1"},
  {0, NULL},
};


int mc_store_link(mc_store_t *s, long long campaign, long long index, const char *url,
                  const char *tag, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_LINK_ADD);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_int64(st, 2, index);
  sqlite3_bind_text(st, 3, url, -1, SQLITE_TRANSIENT);
  if (tag) sqlite3_bind_text(st, 4, tag, -1, SQLITE_TRANSIENT);
  return mc_store_run(s, Q_LINK_ADD, e);
}


int mc_store_link_get(mc_store_t *s, long long campaign, long long index, char **url,
                      mc_error_t *e) {
  *url = NULL;
  sqlite3_stmt *st = mc_store_fresh(s, Q_LINK_GET);
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
  if (rc != SQLITE_ROW) return mc_store_db_error(s, e, "link");
  if (*url == NULL) { mc_error_set(e, "out of memory"); return -1; }
  return 1;
}


int mc_store_link_recipient(mc_store_t *s, long long campaign, long long recipient,
                            long long index, const char *url, size_t len, mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_LINK_RECIPIENT_ADD);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_int64(st, 2, recipient);
  sqlite3_bind_int64(st, 3, index);
  sqlite3_bind_text(st, 4, url, (int)len, SQLITE_TRANSIENT);
  return mc_store_run(s, Q_LINK_RECIPIENT_ADD, e);
}


int mc_store_link_for(mc_store_t *s, long long campaign, long long recipient, long long index,
                      char **url, mc_error_t *e) {
  *url = NULL;
  sqlite3_stmt *st = mc_store_fresh(s, Q_LINK_FOR);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_int64(st, 2, recipient);
  sqlite3_bind_int64(st, 3, index);
  int rc = sqlite3_step(st);
  int found = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
  if (found) *url = strdup((const char *)sqlite3_column_text(st, 0));
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_ROW) return mc_store_db_error(s, e, "link");
  if (!found) return 0;
  if (*url == NULL) { mc_error_set(e, "out of memory"); return -1; }
  return 1;
}


int mc_store_links(mc_store_t *s, long long campaign, long long recipient, mc_row_cb cb, void *arg,
                   mc_error_t *e) {
  sqlite3_stmt *st = mc_store_fresh(s, Q_LINKS);
  sqlite3_bind_int64(st, 1, campaign);
  sqlite3_bind_int64(st, 2, recipient);
  return mc_store_each_row(s, st, cb, arg, e);
}
