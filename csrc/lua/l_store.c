/* mailcast.Store: the campaign store from Lua. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "binding.h"
#include "core/store.h"
#include "core/bounce_class.h"

#define MC_STORE_CLASS "mailcast.Store"

typedef struct {
  mc_store_t *store;   /* NULL once closed */
} store_box;


static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static mc_store_t *check(lua_State *L) {
  store_box *box = luaL_checkudata(L, 1, MC_STORE_CLASS);
  if (box->store == NULL) luaL_error(L, "attempt to use a closed store");
  return box->store;
}


static int ok_or_fail(lua_State *L, int rc, const mc_error_t *e) {
  if (rc != 0) return mc_l_fail(L, e);
  lua_pushboolean(L, 1);
  return 1;
}


/* store(path) -> Store | fail, message */
static int l_store(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  store_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->store = NULL;
  luaL_setmetatable(L, MC_STORE_CLASS);
  mc_error_t e;
  box->store = mc_store_open(path, &e);
  if (box->store == NULL) return mc_l_fail(L, &e);
  return 1;
}


/* store:campaign(name) -> id | fail, message */
static int s_campaign(lua_State *L) {
  mc_store_t *s = check(L);
  mc_error_t e;
  long long id = mc_store_campaign(s, luaL_checkstring(L, 2), now_seconds(), &e);
  if (id < 0) return mc_l_fail(L, &e);
  lua_pushinteger(L, id);
  return 1;
}


/* store:add(campaign, address [, data [, variant]]) -> true (added) |
 * false (already there) | fail, message. variant: its A/B test variant
 * (0: held until the winner is picked). */
static int s_add(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_checkinteger(L, 2);
  const char *address = luaL_checkstring(L, 3);
  size_t n = 0;
  const char *data = luaL_optlstring(L, 4, NULL, &n);
  lua_Integer variant = luaL_optinteger(L, 5, -1);
  luaL_argcheck(L, variant >= -1 && variant <= 1000, 5, "0 to 1000");
  mc_error_t e;
  int rc = mc_store_add(s, campaign, address, data, n, (int)variant, &e);
  if (rc < 0) return mc_l_fail(L, &e);
  lua_pushboolean(L, rc);
  return 1;
}


/* store:begin(), store:commit(): what comes between is one transaction. */
static int s_begin(lua_State *L) {
  mc_error_t e;
  return ok_or_fail(L, mc_store_begin(check(L), &e), &e);
}


static int s_commit(lua_State *L) {
  mc_error_t e;
  return ok_or_fail(L, mc_store_commit(check(L), &e), &e);
}


/* store:claim(campaign, max [, now]) -> {{id=, address=, data=, attempts=,
 * first_at=, was = "pending"|"deferred", suppressed= (why, when it is
 * suppressed and not to be sent)}...} */
static int s_claim(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_checkinteger(L, 2);
  lua_Integer max = luaL_checkinteger(L, 3);
  double now = luaL_optnumber(L, 4, now_seconds());
  luaL_argcheck(L, max > 0 && max <= 100000, 3, "1 to 100000");
  mc_claim_t *list;
  size_t n;
  mc_error_t e;
  if (mc_store_claim(s, campaign, now, (size_t)max, &list, &n, &e) != 0) return mc_l_fail(L, &e);
  /* Copied into Lua before anything can raise, then freed. */
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, list[i].id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, list[i].address);
    lua_setfield(L, -2, "address");
    lua_pushlstring(L, list[i].data, list[i].datalen);
    lua_setfield(L, -2, "data");
    lua_pushinteger(L, list[i].attempts);
    lua_setfield(L, -2, "attempts");
    lua_pushstring(L, list[i].was_deferred ? "deferred" : "pending");
    lua_setfield(L, -2, "was");
    if (list[i].first_at > 0) {
      lua_pushnumber(L, list[i].first_at);
      lua_setfield(L, -2, "first_at");
    }
    if (list[i].variant != 0) {
      lua_pushinteger(L, list[i].variant);
      lua_setfield(L, -2, "variant");
    }
    if (list[i].suppressed) {
      lua_pushstring(L, list[i].suppressed);
      lua_setfield(L, -2, "suppressed");
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  mc_store_claims_free(list, n);
  return 1;
}


/* store:finish(id, state [, reply {code=, enhanced=, text=, route=, host=, unsent=} [, next_at]])
 *   -> true [, cancelled] | fail, message (route, host: where the attempt
 *   went; unsent: there was none, the job was taken back before it was
 *   sent, and it is not counted; cancelled: the text of the failure
 *   recorded instead, for a recipient cancelled in flight whose outcome
 *   was not final) */
static int s_finish(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  const char *name = luaL_checkstring(L, 3);
  mc_rstate_t state;
  if (mc_rstate_parse(name, &state) != 0) return luaL_argerror(L, 3, "not a recipient state");
  int code = 0;
  const char *enhanced = NULL, *text = NULL;
  mc_store_via_t via = {NULL, NULL, 0};
  if (lua_istable(L, 4)) {
    lua_getfield(L, 4, "code");
    code = (int)luaL_optinteger(L, -1, 0);
    lua_getfield(L, 4, "enhanced");
    enhanced = lua_tostring(L, -1);
    lua_getfield(L, 4, "text");
    text = lua_tostring(L, -1);
    lua_getfield(L, 4, "route");
    via.route = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_getfield(L, 4, "host");
    via.host = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_getfield(L, 4, "unsent");
    via.unsent = lua_toboolean(L, -1);
    lua_pop(L, 6);   /* the table keeps them */
  }
  double next_at = luaL_optnumber(L, 5, 0);
  mc_error_t e;
  char *cancelled = NULL;
  if (mc_store_finish(s, id, state, code, enhanced, text, &via, next_at, now_seconds(), &cancelled, &e) != 0)
    return mc_l_fail(L, &e);
  lua_pushboolean(L, 1);
  if (cancelled == NULL) return 1;
  lua_pushstring(L, cancelled);   /* copied into Lua, then freed, as s_claim does */
  free(cancelled);
  return 2;
}


/* store:shard(index, count [, by_domain]): claims and recoveries see only
 * that shard from now on (the workers of `mailcast run --workers`). */
static int s_shard(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer count = luaL_checkinteger(L, 3);
  luaL_argcheck(L, count >= 1, 3, "at least 1");
  lua_Integer index = luaL_checkinteger(L, 2);
  luaL_argcheck(L, index >= 0 && index < count, 2, "0 to count - 1");
  mc_store_shard(s, index, count, lua_toboolean(L, 4));
  return 0;
}


/* store:recover(campaign) -> how many in-flight recipients became pending */
static int s_recover(lua_State *L) {
  mc_store_t *s = check(L);
  size_t n;
  mc_error_t e;
  if (mc_store_recover(s, luaL_checkinteger(L, 2), &n, &e) != 0) return mc_l_fail(L, &e);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}


/* store:counts(campaign) -> {pending=, in_flight=, deferred=, delivered=, ...} */
static int s_counts(lua_State *L) {
  mc_store_t *s = check(L);
  size_t counts[MC_R_STATES];
  mc_error_t e;
  if (mc_store_counts(s, luaL_checkinteger(L, 2), counts, &e) != 0) return mc_l_fail(L, &e);
  lua_createtable(L, 0, MC_R_STATES);
  for (int i = 0; i < MC_R_STATES; i++) {
    lua_pushinteger(L, (lua_Integer)counts[i]);
    lua_setfield(L, -2, mc_rstate_name((mc_rstate_t)i));
  }
  return 1;
}


/* store:suppress(address, reason [, expires [, since]]) -> true | fail, message
 * expires: when the entry ends (seconds since the epoch; nil or 0: never);
 * since: when it began (default now). */
static int s_suppress(lua_State *L) {
  mc_store_t *s = check(L);
  mc_error_t e;
  return ok_or_fail(L, mc_store_suppress(s, luaL_checkstring(L, 2), luaL_checkstring(L, 3),
                                         luaL_optnumber(L, 5, now_seconds()),
                                         luaL_optnumber(L, 4, 0), &e), &e);
}


/* store:unsuppress(address) -> true, removed (whether there was an entry) */
static int s_unsuppress(lua_State *L) {
  mc_store_t *s = check(L);
  mc_error_t e;
  if (mc_store_unsuppress(s, luaL_checkstring(L, 2), &e) != 0) return mc_l_fail(L, &e);
  lua_pushboolean(L, 1);
  lua_pushboolean(L, mc_store_changes(s) > 0);
  return 2;
}


/* store:suppressed(address [, now]) -> reason | nil */
static int s_suppressed(lua_State *L) {
  mc_store_t *s = check(L);
  char reason[256];
  mc_error_t e;
  int rc = mc_store_suppressed(s, luaL_checkstring(L, 2), luaL_optnumber(L, 3, now_seconds()),
                               reason, sizeof reason, &e);
  if (rc < 0) return mc_l_fail(L, &e);
  if (rc) lua_pushstring(L, reason);
  else lua_pushnil(L);
  return 1;
}


/* Pushes a row as a table of its columns (a NULL one left absent). */
static void push_fields(lua_State *L, const mc_col_t *cols, int n) {
  lua_createtable(L, 0, n);
  for (int i = 0; i < n; i++) {
    switch (cols[i].type) {
    case MC_COL_INT: lua_pushinteger(L, cols[i].i); break;
    case MC_COL_REAL: lua_pushnumber(L, cols[i].f); break;
    case MC_COL_TEXT: lua_pushlstring(L, cols[i].t, cols[i].len); break;
    default: continue;   /* NULL: the field stays absent */
    }
    lua_setfield(L, -2, cols[i].name);
  }
}


static int push_row(void *arg, const mc_col_t *cols, int n) {
  lua_State *L = arg;
  push_fields(L, cols, n);
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  return 0;
}


/* Calls the function at index 6 with the row as a table (the rows of
 * a big report, such as every event of a campaign, one at a time instead
 * of a list of them all). An error in it ends the report; the statement
 * is made ready again by its next use (mc_store_fresh). */
/* fn(row) for a row of a report. An error in fn stops the rows (the
 * store resets its statement, whose read snapshot would otherwise hold
 * the log's checkpoints back) and is raised again by s_report. */
static int call_row(void *arg, const mc_col_t *cols, int n) {
  lua_State *L = arg;
  lua_pushvalue(L, 6);
  push_fields(L, cols, n);
  return lua_pcall(L, 1, 0, 0) == LUA_OK ? 0 : 1;
}


/* store:report(name [, campaign [, state [, limit = 20 [, fn]]]]) -> list of rows, or true when fn is given
 * name: "campaigns", "reasons", "next_due", "recipients", or one of
 * mailcast report's: "funnel", "outcomes", "links", "groups",
 * "group_replies", "group_latency", "per_minute", "per_hour", "open_delay",
 * "accounting", and an A/B test's: "variants", "test"
 * (store.h and store_report.c say what each holds). A limit of -1: no
 * limit. With fn, fn(row) is called for each row and no list is made. */
static int s_report(lua_State *L) {
  mc_store_t *s = check(L);
  static const char *const names[] = {"campaigns", "reasons", "next_due", "recipients", "funnel",
                                      "outcomes", "links", "groups", "group_replies", "per_minute",
                                      "per_hour", "open_delay", "accounting", "variants", "test",
                                      "group_latency", NULL};
  const char *name = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
  int which = 0;
  while (names[which] && (name == NULL || strcmp(names[which], name) != 0)) which++;
  if (names[which] == NULL)   /* luaL_checkoption would say "bad argument #2 to '?'" */
    return luaL_error(L, "store:report(NAME): NAME is \"campaigns\", \"reasons\", \"next_due\","
                      " \"recipients\" or a report's (\"funnel\", \"outcomes\", ...), not %s%s%s",
                      name ? "'" : "", name ? name : "given", name ? "'" : "");
  lua_Integer campaign = luaL_optinteger(L, 3, 0);
  const char *state = luaL_optstring(L, 4, NULL);
  lua_Integer limit = luaL_optinteger(L, 5, 20);
  mc_error_t e;
  if (!lua_isnoneornil(L, 6)) {
    luaL_checktype(L, 6, LUA_TFUNCTION);
    lua_settop(L, 6);
    int top = lua_gettop(L);
    int rc = mc_store_report(s, (mc_report_t)which, campaign, state, limit, call_row, L, &e);
    if (lua_gettop(L) > top) return lua_error(L);   /* fn's own error, left by call_row */
    if (rc != 0) return mc_l_fail(L, &e);
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_newtable(L);
  if (mc_store_report(s, (mc_report_t)which, campaign, state, limit, push_row, L, &e) != 0)
    return mc_l_fail(L, &e);
  return 1;
}


/* store:list_read(campaign, read): whether the campaign's list has been
 * read to its end (false while a run reads it). */
static int s_list_read(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TBOOLEAN);
  mc_error_t e;
  return ok_or_fail(L, mc_store_list_read(s, campaign, lua_toboolean(L, 3), &e), &e);
}


/* A condition of a segment's table: 1 (true), 0 (false), -1 (absent). */
static int tristate(lua_State *L, int t, const char *key) {
  int type = lua_getfield(L, t, key);
  int v = type == LUA_TNIL ? -1 : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}


/* The bit of the reason named by the string at index i (raises for a
 * name the taxonomy has not, with the names it has). */
static unsigned reason_bit(lua_State *L, int i) {
  const char *name = lua_tostring(L, i);
  int r = name ? mc_reason_by_name(name) : -1;
  if (r >= 0) return 1u << r;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int k = 0; k < MC_REASON_COUNT; k++) {
    if (k > 0) luaL_addstring(&b, ", ");
    luaL_addstring(&b, mc_reason_info((mc_reason_t)k)->name);
  }
  luaL_pushresult(&b);
  return (unsigned)luaL_error(L, "segment: unknown reason '%s' (reasons: %s)", name ? name : luaL_typename(L, i),
                              lua_tostring(L, -1));
}


/* A segment's reason: a name, or a list of names, as a mask (0: none given). */
static unsigned reasons(lua_State *L, int t) {
  unsigned mask = 0;
  int type = lua_getfield(L, t, "reason");
  if (type == LUA_TTABLE) {
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, -1, i);
      mask |= reason_bit(L, lua_gettop(L));
      lua_pop(L, 1);
    }
    luaL_argcheck(L, mask != 0, 2, "reason: an empty list");
  } else if (type != LUA_TNIL) {
    mask = reason_bit(L, lua_gettop(L));
  }
  lua_pop(L, 1);
  return mask;
}


/* store:segment({campaign=, delivered=, opened=, clicked=, failed=,
 * reason=, machine_opens=, upto=}, after, limit) -> {{id=, address=, data=}...}:
 * the next page of a segment (recipients with an id above after). */
static int s_segment(lua_State *L) {
  mc_store_t *s = check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  mc_segment_t g;
  lua_getfield(L, 2, "campaign");
  g.campaign = luaL_checkinteger(L, -1);
  lua_getfield(L, 2, "upto");
  g.upto = luaL_checkinteger(L, -1);
  lua_pop(L, 2);
  g.delivered = tristate(L, 2, "delivered");
  g.opened = tristate(L, 2, "opened");
  g.clicked = tristate(L, 2, "clicked");
  g.failed = tristate(L, 2, "failed");
  g.machine_opens = tristate(L, 2, "machine_opens") == 1;
  g.reasons = reasons(L, 2);
  lua_Integer after = luaL_checkinteger(L, 3);
  lua_Integer limit = luaL_checkinteger(L, 4);
  luaL_argcheck(L, limit > 0 && limit <= 100000, 4, "1 to 100000");
  lua_settop(L, 4);
  lua_newtable(L);
  mc_error_t e;
  if (mc_store_segment(s, &g, after, limit, push_row, L, &e) != 0) return mc_l_fail(L, &e);
  return 1;
}


/* store:segment_fix(campaign [, upto]) -> the events bound of campaign's
 * segment: upto (default: the newest event's id) when it has none yet. */
static int s_segment_fix(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_checkinteger(L, 2);
  mc_error_t e;
  long long upto = luaL_optinteger(L, 3, -1), kept = 0;
  if (upto < 0 && (upto = mc_store_last_event(s, &e)) < 0) return mc_l_fail(L, &e);
  if (mc_store_segment_fix(s, campaign, upto, &kept, &e) != 0) return mc_l_fail(L, &e);
  lua_pushinteger(L, kept);
  return 1;
}


/* store:last_event() -> the id of the store's newest event (0: none) */
static int s_last_event(lua_State *L) {
  mc_error_t e;
  long long id = mc_store_last_event(check(L), &e);
  if (id < 0) return mc_l_fail(L, &e);
  lua_pushinteger(L, id);
  return 1;
}


/* store:test_sent(campaign [, now]): its A/B test group has all been sent. */
static int s_test_sent(lua_State *L) {
  mc_store_t *s = check(L);
  mc_error_t e;
  return ok_or_fail(L, mc_store_test_sent(s, luaL_checkinteger(L, 2), luaL_optnumber(L, 3, now_seconds()),
                                          &e), &e);
}


/* store:test_pick(campaign, winner) -> the winner recorded (an earlier
 * pick stays), whether this call made the pick; the held recipients
 * made due. */
static int s_test_pick(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_checkinteger(L, 2);
  lua_Integer winner = luaL_checkinteger(L, 3);
  luaL_argcheck(L, winner >= 1 && winner <= 1000, 3, "1 to 1000");
  int picked = 0;
  mc_error_t e;
  int made = mc_store_test_pick(s, campaign, (int)winner, now_seconds(), &picked, &e);
  if (made < 0) return mc_l_fail(L, &e);
  lua_pushinteger(L, picked);
  lua_pushboolean(L, made);
  return 2;
}


/* store:variant_labels(campaign, labels, count): the labels of the
 * campaign's count variants (labels[k]: variant k's, a string, or nil
 * for none) in place of those recorded before. */
static int s_variant_labels(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_Integer count = luaL_checkinteger(L, 4);
  luaL_argcheck(L, count >= 0 && count <= 1000, 4, "0 to 1000");
  /* The strings stay in the table, which the stack holds, while C reads them. */
  const char **labels = lua_newuserdatauv(L, (size_t)(count ? count : 1) * sizeof *labels, 0);
  for (lua_Integer k = 1; k <= count; k++) {
    int t = lua_geti(L, 3, k);
    if (t != LUA_TNIL && t != LUA_TSTRING) return luaL_error(L, "store:variant_labels: label %d is not a string", (int)k);
    labels[k - 1] = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);
  }
  mc_error_t e;
  return ok_or_fail(L, mc_store_variant_labels(s, campaign, labels, (size_t)count, &e), &e);
}


/* store:rollback(): what was written since begin is not kept. */
static int s_rollback(lua_State *L) {
  mc_error_t e;
  return ok_or_fail(L, mc_store_rollback(check(L), &e), &e);
}


/* The first row of a query into a table, or nil: the rows go into a
 * list first (push_row), whose first element is kept. */
static int first_row(lua_State *L, int rc, const mc_error_t *e) {
  if (rc != 0) return mc_l_fail(L, e);
  lua_rawgeti(L, -1, 1);
  return 1;
}


/* store:find_campaign(name) -> id | nil (never made here) */
static int s_find_campaign(lua_State *L) {
  mc_store_t *s = check(L);
  mc_error_t e;
  long long id = mc_store_campaign_find(s, luaL_checkstring(L, 2), &e);
  if (id < 0) return mc_l_fail(L, &e);
  if (id == 0) lua_pushnil(L);
  else lua_pushinteger(L, id);
  return 1;
}


/* store:recipient(id) -> {id=, campaign=, campaign_name=, address=, state=,
 * attempts=, next_at=, last_code=, last_enhanced=, last_text=, updated=} | nil */
static int s_recipient(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  lua_newtable(L);
  mc_error_t e;
  return first_row(L, mc_store_recipient(s, id, push_row, L, &e), &e);
}


/* store:keep_transcript(recipient, at, text): the recipient's last
 * transcript, replacing the one it had. */
static int s_keep_transcript(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  double at = luaL_checknumber(L, 3);
  size_t len;
  const char *text = luaL_checklstring(L, 4, &len);
  mc_error_t e;
  return ok_or_fail(L, mc_store_transcript_put(s, id, at, text, len, &e), &e);
}


/* store:transcript(recipient id | address [, campaign id]) ->
 * {recipient=, address=, campaign=, at=, text=} | nil when there is
 * none: by id, or the newest of the address's (of the campaign). */
static int s_transcript(lua_State *L) {
  mc_store_t *s = check(L);
  mc_error_t e;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    lua_Integer id = luaL_checkinteger(L, 2);
    lua_newtable(L);
    return first_row(L, mc_store_transcript(s, id, push_row, L, &e), &e);
  }
  const char *address = luaL_checkstring(L, 2);
  lua_Integer campaign = luaL_optinteger(L, 3, 0);
  lua_newtable(L);
  return first_row(L, mc_store_transcript_by_address(s, address, campaign, push_row, L, &e), &e);
}


/* store:recipients(address [, campaign]) -> list of recipient rows, newest first */
static int s_recipients(lua_State *L) {
  mc_store_t *s = check(L);
  const char *address = luaL_checkstring(L, 2);
  lua_Integer campaign = luaL_optinteger(L, 3, 0);
  lua_newtable(L);
  mc_error_t e;
  if (mc_store_recipients_by_address(s, address, campaign, push_row, L, &e) != 0)
    return mc_l_fail(L, &e);
  return 1;
}


static const char *opt_field(lua_State *L, int t, const char *key) {
  lua_getfield(L, t, key);
  const char *v = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
  lua_pop(L, 1);   /* the table keeps it */
  return v;
}


/* store:event{campaign=, recipient=, kind=, at= (default now), code=,
 * enhanced=, text=, reason=, category=, hard= (boolean), counted=}
 * -> true | fail, message */
static int s_event(lua_State *L) {
  mc_store_t *s = check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  mc_event_t ev = {0};
  lua_getfield(L, 2, "campaign");
  ev.campaign = luaL_checkinteger(L, -1);
  lua_getfield(L, 2, "recipient");
  ev.recipient = luaL_checkinteger(L, -1);
  lua_getfield(L, 2, "code");
  ev.code = (int)luaL_optinteger(L, -1, 0);
  lua_getfield(L, 2, "at");
  ev.at = luaL_optnumber(L, -1, now_seconds());
  lua_getfield(L, 2, "hard");
  ev.hard = lua_isnil(L, -1) ? -1 : lua_toboolean(L, -1);
  lua_getfield(L, 2, "counted");
  ev.counted = lua_toboolean(L, -1);
  lua_pop(L, 6);
  ev.kind = opt_field(L, 2, "kind");
  if (ev.kind == NULL) return luaL_argerror(L, 2, "an event needs a kind");
  ev.enhanced = opt_field(L, 2, "enhanced");
  ev.text = opt_field(L, 2, "text");
  ev.reason = opt_field(L, 2, "reason");
  ev.category = opt_field(L, 2, "category");
  mc_error_t e;
  return ok_or_fail(L, mc_store_event(s, &ev, &e), &e);
}


/* store:soft_bounces(address, since) -> the counted bounces of address since then */
static int s_soft_bounces(lua_State *L) {
  mc_store_t *s = check(L);
  mc_error_t e;
  long long n = mc_store_soft_count(s, luaL_checkstring(L, 2), luaL_checknumber(L, 3), &e);
  if (n < 0) return mc_l_fail(L, &e);
  lua_pushinteger(L, n);
  return 1;
}


/* store:suppression(address) -> {address=, reason=, since=, expires=} | nil
 * (an expired entry too: its expires says so) */
static int s_suppression(lua_State *L) {
  mc_store_t *s = check(L);
  const char *address = luaL_checkstring(L, 2);
  lua_newtable(L);
  mc_error_t e;
  return first_row(L, mc_store_suppression_get(s, address, push_row, L, &e), &e);
}


/* store:suppression_list([{reason=, all=, now=}]) -> list of entries, by
 * address: those in force now (all: expired ones too) whose reason starts
 * with reason. */
static int s_suppression_list(lua_State *L) {
  mc_store_t *s = check(L);
  const char *reason = NULL;
  double now = now_seconds();
  int all = 0;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    reason = opt_field(L, 2, "reason");
    all = mc_l_optbool(L, 2, "all", 0);
    now = mc_l_optnumber(L, 2, "now", now);
  }
  lua_newtable(L);
  mc_error_t e;
  if (mc_store_suppression_list(s, reason, now, all, push_row, L, &e) != 0) return mc_l_fail(L, &e);
  return 1;
}


/* store:seen(key) -> outcome | nil: what was recorded for a message read before */
static int s_seen(lua_State *L) {
  mc_store_t *s = check(L);
  char outcome[64];
  mc_error_t e;
  int rc = mc_store_seen(s, luaL_checkstring(L, 2), outcome, sizeof outcome, &e);
  if (rc < 0) return mc_l_fail(L, &e);
  if (rc) lua_pushstring(L, outcome);
  else lua_pushnil(L);
  return 1;
}


/* store:mark_seen(key, outcome [, at]) -> true | fail, message */
static int s_mark_seen(lua_State *L) {
  mc_store_t *s = check(L);
  mc_error_t e;
  return ok_or_fail(L, mc_store_mark_seen(s, luaL_checkstring(L, 2), luaL_optnumber(L, 4, now_seconds()),
                                          luaL_checkstring(L, 3), &e), &e);
}


/* store:secret(name) -> 32 bytes made at random on first use, kept in the store */
static int s_secret(lua_State *L) {
  mc_store_t *s = check(L);
  unsigned char buf[64];
  size_t n;
  mc_error_t e;
  if (mc_store_secret(s, luaL_checkstring(L, 2), buf, sizeof buf, &n, &e) != 0) return mc_l_fail(L, &e);
  lua_pushlstring(L, (const char *)buf, n);
  return 1;
}


static int s_close(lua_State *L) {
  store_box *box = luaL_checkudata(L, 1, MC_STORE_CLASS);
  mc_store_close(box->store);
  box->store = NULL;
  return 0;
}


/* store:link(campaign, index, url [, recipient [, tag]]) -> true | fail, message
 * Without recipient (nil or 0): the campaign's URL of that index, with
 * its tag for the reports (kept when the campaign has that index
 * already). With one (from 1): that recipient's
 * own URL of the index, where their message differed from the campaign's
 * (the latest one written counts). */
static int s_link(lua_State *L) {
  mc_store_t *s = check(L);
  mc_error_t e;
  lua_Integer campaign = luaL_checkinteger(L, 2), index = luaL_checkinteger(L, 3);
  size_t len;
  const char *url = luaL_checklstring(L, 4, &len);
  lua_Integer recipient = luaL_optinteger(L, 5, 0);
  luaL_argcheck(L, index >= 1, 3, "a link index starts at 1");
  luaL_argcheck(L, recipient >= 0, 5, "a recipient id starts at 1");
  const char *tag = luaL_optstring(L, 6, NULL);
  if (recipient == 0) return ok_or_fail(L, mc_store_link(s, campaign, index, url, tag, &e), &e);
  return ok_or_fail(L, mc_store_link_recipient(s, campaign, recipient, index, url, len, &e), &e);
}


/* Sets t[idx] = url for a row of mc_store_links, t on the stack top. */
static int set_link(void *arg, const mc_col_t *cols, int n) {
  lua_State *L = arg;
  if (n < 2 || cols[0].type != MC_COL_INT || cols[1].type != MC_COL_TEXT) return 0;
  lua_pushlstring(L, cols[1].t, cols[1].len);
  lua_rawseti(L, -2, cols[0].i);
  return 0;
}


/* store:links(campaign [, recipient]) -> {[index] = url...}: the
 * campaign's links, or only the recipient's own ones. */
static int s_links(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_checkinteger(L, 2), recipient = luaL_optinteger(L, 3, 0);
  lua_newtable(L);
  mc_error_t e;
  if (mc_store_links(s, campaign, recipient, set_link, L, &e) != 0) return mc_l_fail(L, &e);
  return 1;
}


static int url_gc(lua_State *L) {
  char **url = lua_touserdata(L, 1);
  free(*url);
  *url = NULL;
  return 0;
}


/* store:link_for(campaign, recipient, index) -> url | nil: where mailcast
 * serve sends that recipient's click on the index (0: aggregate). */
static int s_link_for(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_checkinteger(L, 2), recipient = luaL_checkinteger(L, 3);
  lua_Integer index = luaL_checkinteger(L, 4);
  char **url = mc_l_guard(L, sizeof *url, url_gc);   /* frees the copy if pushing it raises */
  int guard = lua_gettop(L);
  mc_error_t e;
  int rc = mc_store_link_for(s, campaign, recipient, index, url, &e);
  if (rc < 0) return mc_l_fail(L, &e);
  if (rc == 0) lua_pushnil(L);
  else lua_pushstring(L, *url);
  mc_l_release(L, guard, url_gc);
  return 1;
}


/* store:hits(campaign, kind) -> count, by_machines, firsts | fail, message:
 * the tracking events (opened, clicked, unsubscribed) mailcast serve
 * recorded. */
static int s_hits(lua_State *L) {
  mc_store_t *s = check(L);
  mc_error_t e;
  long long n[3];
  if (mc_store_hit_counts(s, luaL_checkinteger(L, 2), luaL_checkstring(L, 3), n, &e) != 0)
    return mc_l_fail(L, &e);
  for (int i = 0; i < 3; i++) lua_pushinteger(L, n[i]);
  return 3;
}


/* mailcast queue ------------------------------------------------------- */

/* store:queue_groups([campaign [, domain]]) -> the deferred recipients
 * by campaign, domain and reason: a list of rows (store.h has their
 * fields) | fail, message. campaign 0 or nil: every campaign. */
static int s_queue_groups(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_optinteger(L, 2, 0);
  const char *domain = luaL_optstring(L, 3, NULL);
  mc_error_t e;
  lua_newtable(L);
  if (mc_store_queue_groups(s, campaign, domain, push_row, L, &e) != 0) return mc_l_fail(L, &e);
  return 1;
}


/* store:queue_recipients([campaign [, domain [, limit = -1]]]) -> the
 * deferred recipients, the soonest due first | fail, message */
static int s_queue_recipients(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_optinteger(L, 2, 0);
  const char *domain = luaL_optstring(L, 3, NULL);
  lua_Integer limit = luaL_optinteger(L, 4, -1);
  mc_error_t e;
  lua_newtable(L);
  if (mc_store_queue_recipients(s, campaign, domain, limit, push_row, L, &e) != 0) return mc_l_fail(L, &e);
  return 1;
}


/* store:queue_retry([campaign [, domain [, now]]]) -> how many deferred
 * recipients are due now | fail, message */
static int s_queue_retry(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_optinteger(L, 2, 0);
  const char *domain = luaL_optstring(L, 3, NULL);
  double now = luaL_optnumber(L, 4, now_seconds());
  mc_error_t e;
  long long n = mc_store_queue_retry(s, campaign, domain, now, &e);
  if (n < 0) return mc_l_fail(L, &e);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}


/* store:queue_cancelled(campaign) -> {{id=}...}: the campaign's
 * recipients in flight that were cancelled meanwhile | fail, message */
static int s_queue_cancelled(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_checkinteger(L, 2);
  mc_error_t e;
  lua_newtable(L);
  if (mc_store_queue_cancelled(s, campaign, push_row, L, &e) != 0) return mc_l_fail(L, &e);
  return 1;
}


/* store:queue_cancel([campaign [, domain [, now]]]) -> cancelled, in
 * flight (marked: store.h, MC_CANCEL_TEXT) | fail, message */
static int s_queue_cancel(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_optinteger(L, 2, 0);
  const char *domain = luaL_optstring(L, 3, NULL);
  double now = luaL_optnumber(L, 4, now_seconds());
  mc_error_t e;
  long long cancelled, in_flight;
  if (mc_store_queue_cancel(s, campaign, domain, now, &cancelled, &in_flight, &e) != 0) return mc_l_fail(L, &e);
  lua_pushinteger(L, (lua_Integer)cancelled);
  lua_pushinteger(L, (lua_Integer)in_flight);
  return 2;
}


static const luaL_Reg meta[] = {{"__gc", s_close}, {"__close", s_close}, {NULL, NULL}};
static const luaL_Reg methods[] = {
  {"campaign", s_campaign}, {"add", s_add}, {"begin", s_begin}, {"commit", s_commit},
  {"claim", s_claim}, {"finish", s_finish}, {"recover", s_recover}, {"shard", s_shard}, {"counts", s_counts},
  {"suppress", s_suppress}, {"unsuppress", s_unsuppress}, {"suppressed", s_suppressed},
  {"report", s_report}, {"close", s_close},
  {"find_campaign", s_find_campaign}, {"recipient", s_recipient}, {"recipients", s_recipients},
  {"keep_transcript", s_keep_transcript}, {"transcript", s_transcript},
  {"event", s_event}, {"soft_bounces", s_soft_bounces}, {"suppression", s_suppression},
  {"suppression_list", s_suppression_list}, {"seen", s_seen}, {"mark_seen", s_mark_seen},
  {"secret", s_secret}, {"rollback", s_rollback}, {"list_read", s_list_read},
  {"segment", s_segment}, {"segment_fix", s_segment_fix}, {"last_event", s_last_event},
  {"test_sent", s_test_sent}, {"variant_labels", s_variant_labels}, {"test_pick", s_test_pick},
  {"link", s_link}, {"links", s_links}, {"link_for", s_link_for}, {"hits", s_hits},
  {"queue_groups", s_queue_groups}, {"queue_recipients", s_queue_recipients},
  {"queue_retry", s_queue_retry}, {"queue_cancel", s_queue_cancel}, {"queue_cancelled", s_queue_cancelled},
  {NULL, NULL},
};


void mc_l_open_store(lua_State *L) {
  mc_l_newclass(L, MC_STORE_CLASS, meta, methods);
  lua_pushcfunction(L, l_store);
  lua_setfield(L, -2, "store");
}
