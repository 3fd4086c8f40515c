/* The mailcast runner: Lua 5.4 with mailcast.core built in. Everything a
 * command does is written in Lua (mailcast.cli); this file only makes the
 * state, finds the Lua files, and reports what escapes as an error. */
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <sqlite3.h>

#include "lua_alloc.h"
#include "module.h"


/* An error outside any protected call (luaL_newstate's own handler does
 * the same): say it, then Lua aborts. */
static int panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "mailcast: unprotected error in a call to Lua: %s\n", msg ? msg : "(not a string)");
  return 0;
}


static int file_exists(const char *path) {
  return access(path, R_OK) == 0;
}


/* Puts dir/?.lua and dir/?/init.lua in front of package.path. */
static void prepend_path(lua_State *L, const char *dir) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 2);
}


/* The Lua files that belong with this binary: the tree's lua/ when it
 * runs from a build (TREE/build/bin/mailcast), or PREFIX/share/lua/5.4
 * when it was installed (by luarocks into any tree, or by make install). */
static void find_lua_files(lua_State *L) {
  char exe[PATH_MAX], dir[PATH_MAX + 64], probe[PATH_MAX + 128];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash == NULL) return;
  *slash = '\0';   /* exe is now the binary's directory */
  static const char *const candidates[] = {"%s/../../lua", "%s/../share/lua/5.4"};
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
    snprintf(dir, sizeof dir, candidates[i], exe);
    snprintf(probe, sizeof probe, "%s/mailcast/init.lua", dir);
    if (file_exists(probe)) {
      char real[PATH_MAX];
      prepend_path(L, realpath(dir, real) ? real : dir);
      return;
    }
  }
}


static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}


/* Runs mailcast.cli.main(argv) in protected mode; returns the exit code. */
static int run_cli(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  luaL_openlibs(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_mailcast_core);
  lua_setfield(L, -2, "mailcast.core");
  lua_pop(L, 1);
  find_lua_files(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "mailcast.cli");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_call(L, 1, 1);
  return 1;
}


int main(int argc, char **argv) {
  /* A campaign allocates and frees a few messages' worth of memory for
   * every recipient; glibc's defaults gave much of it back to the kernel
   * and asked for it again (a brk call every message or so). Keeping
   * 16 MB of slack at the top of the heap ends that. */
  mallopt(M_TOP_PAD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  /* SQLite counts every allocation for its statistics, under a global
   * mutex, unless told not to before its first use; nothing reads them. */
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  mc_lua_heap_t *heap = mc_lua_heap_new();
  lua_State *L = heap ? lua_newstate(mc_lua_alloc, heap) : NULL;
  if (L == NULL) {
    fprintf(stderr, "mailcast: cannot create Lua state: not enough memory\n");
    mc_lua_heap_free(heap);
    return 1;
  }
  lua_atpanic(L, panic);
  /* A campaign's live heap is a few megabytes and almost everything it
   * makes dies with its message: a cycle when the heap has grown to four
   * times what survived (not Lua's default of twice) does half the
   * collector's work for a few megabytes more. */
  lua_gc(L, LUA_GCINC, 400, 0, 0);
  lua_pushcfunction(L, traceback);
  lua_pushcfunction(L, run_cli);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 1);
  int code;
  if (status != LUA_OK) {
    fprintf(stderr, "mailcast: %s\n", lua_tostring(L, -1));
    code = 1;
  } else {
    code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  }
  lua_close(L);
  mc_lua_heap_free(heap);
  return code;
}
