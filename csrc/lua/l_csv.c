/* mailcast.CsvReader: the core's CSV reader (core/csv.h) from Lua. */
#include <errno.h>

#include "binding.h"
#include "core/csv.h"
#include "core/utf8.h"

#define MC_CSV_CLASS "mailcast.CsvReader"

typedef struct {
  mc_csv_t *r;   /* NULL once closed */
} csv_box;


static mc_csv_t *check(lua_State *L) {
  csv_box *box = luaL_checkudata(L, 1, MC_CSV_CLASS);
  if (box->r == NULL) luaL_error(L, "attempt to use a closed CSV reader");
  return box->r;
}


/* A limit of the options table at 2 (0, the default, when absent); one
 * of 10^15 or more is taken as 10^15 (no limit to speak of). */
static size_t limit(lua_State *L, const char *key) {
  double v = mc_l_optnumber(L, 2, key, 0);
  return v >= 1e15 ? (size_t)1e15 : (size_t)v;
}


/* csv_open(path [, {max_lines=, max_field=, max_record=}]) -> reader
 *   | fail, "PATH: reason", errno */
static int l_csv_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  mc_csv_limits_t lim = {0, 0, 0};
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lim.max_lines = limit(L, "max_lines");
    lim.max_field = limit(L, "max_field");
    lim.max_record = limit(L, "max_record");
  }
  csv_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->r = NULL;
  luaL_setmetatable(L, MC_CSV_CLASS);
  mc_error_t e;
  int err = 0;
  box->r = mc_csv_open(path, &lim, &e, &err);
  if (box->r == NULL) {
    luaL_pushfail(L);
    lua_pushstring(L, e.msg);
    lua_pushinteger(L, err);
    return 3;
  }
  return 1;
}


/* The 1-based place of the first byte that is not UTF-8, counted in the
 * fields joined by one byte each (as the record reads without its
 * quotes), or 0 when every field is UTF-8. The fields lie in one block,
 * each ended by a NUL (valid UTF-8): one pass over it counts just so. */
static size_t bad_utf8(const mc_csv_t *r) {
  size_t n = mc_csv_nfields(r), first_len, last_len, bad;
  const char *first = mc_csv_field(r, 0, &first_len);
  const char *last = mc_csv_field(r, n - 1, &last_len);
  if (mc_utf8_valid(first, (size_t)(last - first) + last_len, &bad)) return 0;
  return bad + 1;
}


static int refuse(lua_State *L, const char *msg, unsigned long line, unsigned long col) {
  lua_pushboolean(L, 0);
  lua_pushstring(L, msg);
  lua_pushinteger(L, (lua_Integer)line);
  lua_pushinteger(L, (lua_Integer)col);
  return 4;
}


/* reader:next([columns]) -> the next record: {field, ...}, line; with
 * columns (a list of names), {name = field, ..., _line = line}, line.
 *   false, message, line, column: a malformed record (or one that is not
 *     UTF-8, or has not as many fields as columns), skipped
 *   nil: no more records | nil, message: the file could not be read */
static int r_next(lua_State *L) {
  mc_csv_t *r = check(L);
  int named = !lua_isnoneornil(L, 2);
  if (named) luaL_checktype(L, 2, LUA_TTABLE);
  mc_error_t e;
  int rc = mc_csv_next(r, &e);
  if (rc == MC_CSV_END) {
    luaL_pushfail(L);
    return 1;
  }
  if (rc == MC_CSV_IO) {
    luaL_pushfail(L);
    lua_pushstring(L, e.msg);
    return 2;
  }
  if (rc == MC_CSV_BAD) return refuse(L, e.msg, mc_csv_error_line(r), mc_csv_error_column(r));
  unsigned long line = mc_csv_line(r);
  size_t n = mc_csv_nfields(r), bad = bad_utf8(r);
  if (bad) {
    lua_pushfstring(L, "not valid UTF-8 (near byte %I)", (lua_Integer)bad);
    return refuse(L, lua_tostring(L, -1), line, bad);
  }
  if (named) {
    lua_Unsigned want = lua_rawlen(L, 2);
    if (want != n) {
      lua_pushfstring(L, "%I fields where the header has %I", (lua_Integer)n, (lua_Integer)want);
      return refuse(L, lua_tostring(L, -1), line, 1);
    }
    lua_createtable(L, 0, (int)n + 1);
    for (size_t i = 0; i < n; i++) {
      size_t len;
      const char *f = mc_csv_field(r, i, &len);
      lua_rawgeti(L, 2, (lua_Integer)i + 1);
      lua_pushlstring(L, f, len);
      lua_rawset(L, -3);
    }
    lua_pushinteger(L, (lua_Integer)line);
    lua_setfield(L, -2, "_line");
  } else {
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
      size_t len;
      const char *f = mc_csv_field(r, i, &len);
      lua_pushlstring(L, f, len);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
  }
  lua_pushinteger(L, (lua_Integer)line);
  return 2;
}


static int r_close(lua_State *L) {
  csv_box *box = luaL_checkudata(L, 1, MC_CSV_CLASS);
  mc_csv_free(box->r);
  box->r = NULL;
  return 0;
}


static const luaL_Reg meta[] = {{"__gc", r_close}, {"__close", r_close}, {NULL, NULL}};
static const luaL_Reg methods[] = {{"next", r_next}, {"close", r_close}, {NULL, NULL}};


void mc_l_open_csv(lua_State *L) {
  mc_l_newclass(L, MC_CSV_CLASS, meta, methods);
  lua_pushcfunction(L, l_csv_open);
  lua_setfield(L, -2, "csv_open");
}
