/* mailcast.core.json_record: one flat record as a line of JSON, for
 * machine-readable progress, summaries and reports (the accounting log
 * writes its records in C: l_accounting.c). The encodings are
 * core/json.c's, shared with the accounting log. */
#include <string.h>

#include "binding.h"
#include "core/buf.h"
#include "core/json.h"

/* Integers as they are; floats to the microsecond (core/json.h). */
static void add_number(lua_State *L, mc_buf_t *b, int idx) {
  if (lua_isinteger(L, idx)) mc_json_integer(b, (long long)lua_tointeger(L, idx));
  else mc_json_double(b, (double)lua_tonumber(L, idx));
}


/* Appends "key":value for the value at idx when it is a string, number
 * or boolean (others are left out); b holds at least the opening '{'. */
static void add_field(lua_State *L, mc_buf_t *b, const char *key, size_t klen, int idx) {
  int type = lua_type(L, idx);
  if (type != LUA_TSTRING && type != LUA_TNUMBER && type != LUA_TBOOLEAN) return;
  if (b->len > 1) mc_buf_addc(b, ',');
  mc_json_string_framed(b, "", 0, key, klen, ":", 1);
  if (type == LUA_TSTRING) {
    size_t vlen;
    const char *v = lua_tolstring(L, idx, &vlen);
    mc_json_string_framed(b, "", 0, v, vlen, "", 0);
  } else if (type == LUA_TNUMBER) {
    add_number(L, b, idx);
  } else {
    mc_buf_addstr(b, lua_toboolean(L, idx) ? "true" : "false");
  }
}


/* fields[i] as a string, pushed, or NULL when it is not one. */
static const char *field_name(lua_State *L, int fields, lua_Integer i, size_t *klen) {
  lua_geti(L, fields, i);
  return lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, klen) : NULL;
  /* stays on the stack (and alive) until the caller pops it */
}


static int bad_field(lua_State *L, lua_Integer i) {
  return luaL_error(L, "json: fields[%d] is not a string", (int)i);
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
    if (key == NULL) return bad_field(L, i);
    lua_pushvalue(L, -1);
    lua_gettable(L, 1);
    add_field(L, b, key, klen, -1);
    lua_pop(L, 2);
  }
  return push_record(L, b, guard);
}


/* The buffer json_values builds its lines in, kept from one call to the
 * next: taking a guard and giving it back cost more than the fields of
 * a line. busy while a line is being built; a call made meanwhile (from
 * a metamethod of fields), or after an error that left it set, takes a
 * guard of its own. */
typedef struct {
  mc_buf_t b;
  int busy;
} line_buf_t;

#define LINE_KEEP (64 * 1024)   /* a buffer grown past this is not kept */


static int line_buf_gc(lua_State *L) {
  line_buf_t *lb = lua_touserdata(L, 1);
  mc_buf_free(&lb->b);
  return 0;
}


/* Appends the fields with the values at 2 .. nvalues + 1; 0, or the
 * index of a field that is not a string. */
static lua_Integer add_values(lua_State *L, mc_buf_t *b, int nvalues) {
  for (int i = 1; i <= nvalues; i++) {
    size_t klen;
    const char *key = field_name(L, 1, i, &klen);
    if (key == NULL) return i;
    add_field(L, b, key, klen, i + 1);
    lua_pop(L, 1);
  }
  return 0;
}


/* json_values(fields, v1, v2, ...) -> the same line as json_record with
 * the values given in the order of fields, with no record table made
 * (the accounting log writes two lines for every message). */
static int l_json_values(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int nvalues = lua_gettop(L) - 1;
  lua_Integer nfields = luaL_len(L, 1);
  if (nvalues > nfields) return luaL_error(L, "json_values: %d values for %d fields", nvalues, (int)nfields);
  line_buf_t *kept = lua_touserdata(L, lua_upvalueindex(1));
  if (kept->busy) {
    mc_buf_t *b = mc_l_buf(L);
    int guard = lua_gettop(L);
    mc_buf_addc(b, '{');
    lua_Integer bad = add_values(L, b, nvalues);
    if (bad) return bad_field(L, bad);
    return push_record(L, b, guard);
  }
  kept->busy = 1;
  mc_buf_t *b = &kept->b;
  b->len = 0;
  mc_buf_addc(b, '{');
  lua_Integer bad = add_values(L, b, nvalues);
  mc_buf_addc(b, '}');
  if (bad || b->failed) {
    mc_buf_free(b);
    kept->busy = 0;
    return bad ? bad_field(L, bad) : luaL_error(L, "not enough memory");
  }
  lua_pushlstring(L, b->data, b->len);
  if (b->cap > LINE_KEEP) mc_buf_free(b);
  kept->busy = 0;
  return 1;
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
  line_buf_t *lb = lua_newuserdatauv(L, sizeof *lb, 0);
  memset(lb, 0, sizeof *lb);
  luaL_newmetatable(L, "mailcast.json_line");
  lua_pushcfunction(L, line_buf_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_pushcclosure(L, l_json_values, 1);
  lua_setfield(L, -2, "json_values");
  lua_pushcfunction(L, l_json_string);
  lua_setfield(L, -2, "json_string");
}
