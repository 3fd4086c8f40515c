/* Helpers every binding file uses. */
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
