/* Entry points that keep their caller's frame. A script's
 * `return mailcast.campaign{...}` is a tail call: when the function
 * called is a Lua function, the script's frame is gone before it runs,
 * and an error about the table cannot name the script's line. A C
 * function called in tail position runs on top of its caller's frame,
 * so the Lua layer's public functions are C closures around their Lua
 * bodies, and mailcast.schema finds the user's line above them. */
#include "binding.h"


/* Called again after a yield inside the body: its results are all on
 * the stack. */
static int entry_done(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  return lua_gettop(L);
}


/* The closure: calls its upvalue with the arguments, gives its results. */
static int entry_call(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_callk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, entry_done);
  return entry_done(L, LUA_OK, 0);
}


/* entry(fn) -> a C function that calls fn with its arguments and
 * returns what fn returns (errors and yields pass through) */
static int l_entry(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_pushcclosure(L, entry_call, 1);
  return 1;
}


void mc_l_open_entry(lua_State *L) {
  lua_pushcfunction(L, l_entry);
  lua_setfield(L, -2, "entry");
}
