/* Helpers every binding file uses. */
#include <string.h>

#include "binding.h"


int mc_l_fail(lua_State *L, const mc_error_t *e) {
  luaL_pushfail(L);
  lua_pushstring(L, e->msg);
  return 2;
}


void mc_l_newclass(lua_State *L, const char *name, const luaL_Reg *meta,
                   const luaL_Reg *methods) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);   /* not luaL_newlib: it sizes by sizeof, and this is a pointer */
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}


void *mc_l_guard(lua_State *L, size_t size, lua_CFunction gc) {
  void *p = lua_newuserdatauv(L, size, 0);
  memset(p, 0, size);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  return p;
}


void mc_l_release(lua_State *L, int idx, lua_CFunction gc) {
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, gc);
  lua_pushvalue(L, idx);
  lua_call(L, 1, 0);
}


double mc_l_optnumber(lua_State *L, int t, const char *key, double dflt) {
  lua_getfield(L, t, key);
  double v = luaL_optnumber(L, -1, dflt);
  lua_pop(L, 1);
  if (v < 0) luaL_error(L, "'%s' must not be negative", key);
  return v;
}


int mc_l_optbool(lua_State *L, int t, const char *key, int dflt) {
  int type = lua_getfield(L, t, key);
  int v = type == LUA_TNIL ? dflt : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}
