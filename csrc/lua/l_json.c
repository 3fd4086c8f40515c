/* mailcast.core.json_record: one flat record as a line of JSON, for the
 * accounting log and machine-readable progress (written at every
 * transaction, so in C rather than in Lua string operations). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "binding.h"
#include "core/buf.h"
#include "core/json.h"

/* Integers as they are; floats to the microsecond, trailing zeros
 * dropped but one digit kept after the point (2.0, 0.25). */
static void add_number(lua_State *L, mc_buf_t *b, int idx) {
  char tmp[64];
  int n;
  if (lua_isinteger(L, idx)) {
    /* Codes, counts and ids: a few digits, not worth a printf. */
    lua_Integer v = lua_tointeger(L, idx);
    char *p = mc_decimal(tmp + sizeof tmp, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
    if (v < 0) *--p = '-';
    mc_buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
    return;
  } else {
    double v = lua_tonumber(L, idx);
    if (!isfinite(v)) {
      mc_buf_add(b, "null", 4);
      return;
    }
    n = snprintf(tmp, sizeof tmp, "%.6f", v);
    if (n >= (int)sizeof tmp) n = (int)sizeof tmp - 1;
    while (n > 0 && tmp[n - 1] == '0') n--;
    if (n > 0 && tmp[n - 1] == '.') tmp[n++] = '0';
  }
  if (n > 0) mc_buf_add(b, tmp, (size_t)(n < (int)sizeof tmp ? n : (int)sizeof tmp - 1));
}


/* Appends "key":value for the value at idx when it is a string, number
 * or boolean (others are left out); b holds at least the opening '{'. */
static void add_field(lua_State *L, mc_buf_t *b, const char *key, size_t klen, int idx) {
  int type = lua_type(L, idx);
  if (type != LUA_TSTRING && type != LUA_TNUMBER && type != LUA_TBOOLEAN) return;
  if (b->len > 1) mc_buf_addc(b, ',');
  mc_json_string(b, key, klen);
  mc_buf_addc(b, ':');
  if (type == LUA_TSTRING) {
    size_t vlen;
    const char *v = lua_tolstring(L, idx, &vlen);
    mc_json_string(b, v, vlen);
  } else if (type == LUA_TNUMBER) {
    add_number(L, b, idx);
  } else {
    mc_buf_addstr(b, lua_toboolean(L, idx) ? "true" : "false");
  }
}


/* fields[i] as a string, or raises naming where. */
static const char *field_name(lua_State *L, int fields, lua_Integer i, size_t *klen) {
  lua_geti(L, fields, i);
  const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, klen) : NULL;
  if (key == NULL) luaL_error(L, "json: fields[%d] is not a string", (int)i);
  return key;   /* stays on the stack (and alive) until the caller pops it */
}


/* Pushes the record in b as a string and frees b (the guard at guard). */
static int push_record(lua_State *L, mc_buf_t *b, int guard) {
  mc_buf_addc(b, '}');
  if (b->failed) return luaL_error(L, "not enough memory");
  lua_pushlstring(L, b->data, b->len);
  mc_l_buf_release(L, guard);
  return 1;
}


/* json_record(record, fields) -> '{"f1":v1,...}': the fields named in
 * order; nil ones (and tables, functions ...) left out. */
static int l_json_record(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer nfields = luaL_len(L, 2);
  mc_buf_t *b = mc_l_buf(L);   /* freed however this ends */
  int guard = lua_gettop(L);
  mc_buf_addc(b, '{');
  for (lua_Integer i = 1; i <= nfields; i++) {
    size_t klen;
    const char *key = field_name(L, 2, i, &klen);
    lua_pushvalue(L, -1);
    lua_gettable(L, 1);
    add_field(L, b, key, klen, -1);
    lua_pop(L, 2);
  }
  return push_record(L, b, guard);
}


/* json_values(fields, v1, v2, ...) -> the same line as json_record with
 * the values given in the order of fields, with no record table made
 * (the accounting log writes two lines for every message). */
static int l_json_values(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int nvalues = lua_gettop(L) - 1;
  lua_Integer nfields = luaL_len(L, 1);
  if (nvalues > nfields) return luaL_error(L, "json_values: %d values for %d fields", nvalues, (int)nfields);
  mc_buf_t *b = mc_l_buf(L);
  int guard = lua_gettop(L);
  mc_buf_addc(b, '{');
  for (int i = 1; i <= nvalues; i++) {
    size_t klen;
    const char *key = field_name(L, 1, i, &klen);
    add_field(L, b, key, klen, i + 1);
    lua_pop(L, 1);
  }
  return push_record(L, b, guard);
}


/* json_string(s) -> s as a JSON string (quoted, escaped, valid UTF-8) */
static int l_json_string(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  mc_buf_t *b = mc_l_buf(L);
  int guard = lua_gettop(L);
  mc_json_string(b, s, n);
  if (b->failed) return luaL_error(L, "not enough memory");
  lua_pushlstring(L, b->data, b->len);
  mc_l_buf_release(L, guard);
  return 1;
}


void mc_l_open_json(lua_State *L) {
  lua_pushcfunction(L, l_json_record);
  lua_setfield(L, -2, "json_record");
  lua_pushcfunction(L, l_json_values);
  lua_setfield(L, -2, "json_values");
  lua_pushcfunction(L, l_json_string);
  lua_setfield(L, -2, "json_string");
}
