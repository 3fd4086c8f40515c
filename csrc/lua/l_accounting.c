/* mailcast.AccountingLog: the accounting log's records (core/acctlog.h)
 * made from the runner's tables. Two records a message: built here in
 * C, not through a Lua call per field. */
#include "binding.h"
#include "core/acctlog.h"

#define MC_ACCTLOG_CLASS "mailcast.AccountingLog"

typedef struct {
  mc_acctlog_t *log;   /* NULL once closed */
} acctlog_box;


static mc_acctlog_t *check(lua_State *L) {
  acctlog_box *box = luaL_checkudata(L, 1, MC_ACCTLOG_CLASS);
  if (box->log == NULL) luaL_error(L, "attempt to use a closed accounting log");
  return box->log;
}


static int fail(lua_State *L, const mc_error_t *e, int err) {
  luaL_pushfail(L);
  lua_pushfstring(L, "accounting log: %s", e->msg);
  lua_pushinteger(L, err);
  return 3;
}


/* accounting_open(path) -> log | fail, "accounting log: PATH: reason", errno */
static int l_accounting_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  acctlog_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->log = NULL;   /* closed until the file is open: nothing to free if this raises */
  luaL_setmetatable(L, MC_ACCTLOG_CLASS);
  mc_error_t e;
  int err = 0;
  box->log = mc_acctlog_open(path, &e, &err);
  if (box->log == NULL) return fail(L, &e, err);
  return 1;
}


/* A record's field: its name in the Lua tables and in the JSON line. */
typedef struct {
  const char *name;
  mc_acctlog_key_t key;
} field_t;

#define FIELD(name) {name, MC_ACCTLOG_KEY(name)}

static const field_t CAMPAIGN = FIELD("campaign"), RECIPIENT = FIELD("recipient"), ROUTE = FIELD("route"),
  MX = FIELD("mx"), IP = FIELD("ip"), TLS_VERSION = FIELD("tls_version"), TLS_CIPHER = FIELD("tls_cipher"),
  STATUS = FIELD("status"), CODE = FIELD("code"), ENHANCED = FIELD("enhanced"), TEXT = FIELD("text"),
  REASON = FIELD("reason"), CATEGORY = FIELD("category"), DURATION = FIELD("duration"),
  ATTEMPT = FIELD("attempt"), STATE = FIELD("state"), ATTEMPTS = FIELD("attempts");


/* The field f with the value at idx as json_values writes it: strings,
 * numbers (integers as they are, floats to the microsecond) and
 * booleans; anything else (nil) left out. */
static void add(lua_State *L, mc_acctlog_t *log, const field_t *f, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      mc_acctlog_string(log, f->key, s, n);
      break;
    }
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) mc_acctlog_integer(log, f->key, (long long)lua_tointeger(L, idx));
      else mc_acctlog_double(log, f->key, (double)lua_tonumber(L, idx));
      break;
    case LUA_TBOOLEAN:
      mc_acctlog_bool(log, f->key, lua_toboolean(L, idx));
      break;
    default:
      break;
  }
}


/* add for the field of the same name of the table at t. */
static void add_field(lua_State *L, mc_acctlog_t *log, int t, const field_t *f) {
  lua_getfield(L, t, f->name);
  add(L, log, f, -1);
  lua_pop(L, 1);
}


/* The enhanced status code: left out when empty (or false), as a reply
 * without one carries "". */
static void add_enhanced(lua_State *L, mc_acctlog_t *log, int t) {
  lua_getfield(L, t, ENHANCED.name);
  if (lua_toboolean(L, -1) && !(lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) == 0))
    add(L, log, &ENHANCED, -1);
  lua_pop(L, 1);
}


static void add_span(mc_acctlog_t *log, const field_t *f, mc_span_t s) {
  if (s.ptr != NULL) mc_acctlog_string(log, f->key, s.ptr, s.len);
}


/* The record ended, or the error for a record memory ran out for. */
static int end(lua_State *L, mc_acctlog_t *log) {
  if (mc_acctlog_end(log) != 0) return luaL_error(L, "accounting log: not enough memory");
  return 0;
}


/* log:transaction(campaign, recipient, route, result, rcpt, attempt):
 * result is the scheduler's outcome of the transaction ({server=, tls=,
 * duration=}), rcpt this recipient's reply in it ({status=, code=,
 * enhanced=, text=, reason=, category=}). Fields in the order of
 * accounting.TRANSACTION_FIELDS. */
static int l_transaction(lua_State *L) {
  mc_acctlog_t *log = check(L);
  luaL_checktype(L, 5, LUA_TTABLE);
  luaL_checktype(L, 6, LUA_TTABLE);
  mc_acctlog_begin(log, "transaction");
  add(L, log, &CAMPAIGN, 2);
  add(L, log, &RECIPIENT, 3);
  add(L, log, &ROUTE, 4);
  mc_span_t a, b;
  size_t n;
  const char *s;
  if (lua_getfield(L, 5, "server") == LUA_TSTRING) {
    s = lua_tolstring(L, -1, &n);
    mc_acctlog_split_server(s, n, &a, &b);
    add_span(log, &MX, a);
    add_span(log, &IP, b);
  }
  if (lua_getfield(L, 5, "tls") == LUA_TSTRING) {
    s = lua_tolstring(L, -1, &n);
    mc_acctlog_split_tls(s, n, &a, &b);
    add_span(log, &TLS_VERSION, a);
    add_span(log, &TLS_CIPHER, b);
  }
  lua_pop(L, 2);
  add_field(L, log, 6, &STATUS);
  add_field(L, log, 6, &CODE);
  add_enhanced(L, log, 6);
  add_field(L, log, 6, &TEXT);
  add_field(L, log, 6, &REASON);
  add_field(L, log, 6, &CATEGORY);
  add_field(L, log, 5, &DURATION);
  add(L, log, &ATTEMPT, 7);
  return end(L, log);
}


/* log:outcome(campaign, recipient, state, reply, attempts): a final
 * state; reply ({code=, enhanced=, text=, reason=, category=}) may be
 * nil. Fields in the order of accounting.OUTCOME_FIELDS. */
static int l_outcome(lua_State *L) {
  mc_acctlog_t *log = check(L);
  int reply = lua_toboolean(L, 5);
  if (reply) luaL_checktype(L, 5, LUA_TTABLE);
  mc_acctlog_begin(log, "outcome");
  add(L, log, &CAMPAIGN, 2);
  add(L, log, &RECIPIENT, 3);
  add(L, log, &STATE, 4);
  if (reply) {
    add_field(L, log, 5, &CODE);
    add_enhanced(L, log, 5);
    add_field(L, log, 5, &TEXT);
    add_field(L, log, 5, &REASON);
    add_field(L, log, 5, &CATEGORY);
  }
  add(L, log, &ATTEMPTS, 6);
  return end(L, log);
}


/* log:flush() -> true | fail, message, errno: the records so far
 * appended in one write. Those that could not be written are dropped. */
static int l_flush(lua_State *L) {
  mc_acctlog_t *log = check(L);
  mc_error_t e;
  int err = 0;
  if (mc_acctlog_flush(log, &e, &err) != 0) return fail(L, &e, err);
  lua_pushboolean(L, 1);
  return 1;
}


/* log:close() -> true | fail, message, errno: flushed and closed; a
 * second close does nothing. Also __close and __gc: a log dropped
 * without a close still writes what it holds, as a Lua file would. */
static int l_close(lua_State *L) {
  acctlog_box *box = luaL_checkudata(L, 1, MC_ACCTLOG_CLASS);
  mc_acctlog_t *log = box->log;
  box->log = NULL;
  mc_error_t e;
  int err = 0;
  if (mc_acctlog_close(log, &e, &err) != 0) return fail(L, &e, err);
  lua_pushboolean(L, 1);
  return 1;
}


/* log:pending() -> bytes held for the next flush */
static int l_pending(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mc_acctlog_pending(check(L)));
  return 1;
}


static const luaL_Reg meta[] = {{"__gc", l_close}, {"__close", l_close}, {NULL, NULL}};
static const luaL_Reg methods[] = {
  {"transaction", l_transaction}, {"outcome", l_outcome}, {"flush", l_flush},
  {"close", l_close}, {"pending", l_pending}, {NULL, NULL},
};


void mc_l_open_accounting(lua_State *L) {
  mc_l_newclass(L, MC_ACCTLOG_CLASS, meta, methods);
  lua_pushcfunction(L, l_accounting_open);
  lua_setfield(L, -2, "accounting_open");
}
