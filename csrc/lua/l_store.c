/* mailcast.Store: the campaign store from Lua. */
#include <string.h>
#include <time.h>

#include "binding.h"
#include "core/store.h"

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


/* store:add(campaign, address [, data]) -> true (added) | false (already
 * there) | fail, message */
static int s_add(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer campaign = luaL_checkinteger(L, 2);
  const char *address = luaL_checkstring(L, 3);
  size_t n = 0;
  const char *data = luaL_optlstring(L, 4, NULL, &n);
  mc_error_t e;
  int rc = mc_store_add(s, campaign, address, data, n, &e);
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
 * first_at=, suppressed= (why, when it is suppressed and not to be sent)}...} */
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
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, list[i].id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, list[i].address);
    lua_setfield(L, -2, "address");
    lua_pushlstring(L, list[i].data, list[i].datalen);
    lua_setfield(L, -2, "data");
    lua_pushinteger(L, list[i].attempts);
    lua_setfield(L, -2, "attempts");
    if (list[i].first_at > 0) {
      lua_pushnumber(L, list[i].first_at);
      lua_setfield(L, -2, "first_at");
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


/* store:finish(id, state [, reply {code=, enhanced=, text=} [, next_at]]) -> true | fail, message */
static int s_finish(lua_State *L) {
  mc_store_t *s = check(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  const char *name = luaL_checkstring(L, 3);
  mc_rstate_t state;
  if (mc_rstate_parse(name, &state) != 0) return luaL_argerror(L, 3, "not a recipient state");
  int code = 0;
  const char *enhanced = NULL, *text = NULL;
  if (lua_istable(L, 4)) {
    lua_getfield(L, 4, "code");
    code = (int)luaL_optinteger(L, -1, 0);
    lua_getfield(L, 4, "enhanced");
    enhanced = lua_tostring(L, -1);
    lua_getfield(L, 4, "text");
    text = lua_tostring(L, -1);
    lua_pop(L, 3);   /* the table keeps them */
  }
  double next_at = luaL_optnumber(L, 5, 0);
  mc_error_t e;
  return ok_or_fail(L, mc_store_finish(s, id, state, code, enhanced, text, next_at, now_seconds(), &e), &e);
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


/* store:suppress(address, reason [, expires]) -> true | fail, message */
static int s_suppress(lua_State *L) {
  mc_store_t *s = check(L);
  mc_error_t e;
  return ok_or_fail(L, mc_store_suppress(s, luaL_checkstring(L, 2), luaL_checkstring(L, 3),
                                         now_seconds(), luaL_optnumber(L, 4, 0), &e), &e);
}


static int s_unsuppress(lua_State *L) {
  mc_error_t e;
  return ok_or_fail(L, mc_store_unsuppress(check(L), luaL_checkstring(L, 2), &e), &e);
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


static int push_row(void *arg, const mc_col_t *cols, int n) {
  lua_State *L = arg;
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
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  return 0;
}


/* store:report(name [, campaign [, state [, limit = 20]]]) -> list of rows
 * name: "campaigns", "reasons", "next_due" or "recipients" (store.h). */
static int s_report(lua_State *L) {
  mc_store_t *s = check(L);
  static const char *const names[] = {"campaigns", "reasons", "next_due", "recipients", NULL};
  int which = luaL_checkoption(L, 2, NULL, names);
  lua_Integer campaign = luaL_optinteger(L, 3, 0);
  const char *state = luaL_optstring(L, 4, NULL);
  lua_Integer limit = luaL_optinteger(L, 5, 20);
  lua_newtable(L);
  mc_error_t e;
  if (mc_store_report(s, (mc_report_t)which, campaign, state, limit, push_row, L, &e) != 0)
    return mc_l_fail(L, &e);
  return 1;
}


static int s_close(lua_State *L) {
  store_box *box = luaL_checkudata(L, 1, MC_STORE_CLASS);
  mc_store_close(box->store);
  box->store = NULL;
  return 0;
}


static const luaL_Reg meta[] = {{"__gc", s_close}, {"__close", s_close}, {NULL, NULL}};
static const luaL_Reg methods[] = {
  {"campaign", s_campaign}, {"add", s_add}, {"begin", s_begin}, {"commit", s_commit},
  {"claim", s_claim}, {"finish", s_finish}, {"recover", s_recover}, {"counts", s_counts},
  {"suppress", s_suppress}, {"unsuppress", s_unsuppress}, {"suppressed", s_suppressed},
  {"report", s_report}, {"close", s_close}, {NULL, NULL},
};


void mc_l_open_store(lua_State *L) {
  mc_l_newclass(L, MC_STORE_CLASS, meta, methods);
  lua_pushcfunction(L, l_store);
  lua_setfield(L, -2, "store");
}
