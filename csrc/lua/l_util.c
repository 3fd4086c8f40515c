/* Helpers every binding file uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>

#include <event2/event.h>

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


/* The guards' metatables, one per gc function (the key), made once:
 * a build or a log record takes a guard for every message. A guard
 * given back by mc_l_release waits in the array part of its metatable
 * (at most SPARES of them) for the next call of its kind, which then
 * makes no userdata: with a finalizer, each one cost an allocation and
 * a finalizer run of the collector. A call that raises leaves its guard
 * to the collector, as before. */
#define GUARDS "mailcast.guards"
#define SPARES 4

/* Pushes the metatable of gc's guards. */
static void guard_metatable(lua_State *L, lua_CFunction gc) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, GUARDS) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, GUARDS);
  }
  lua_pushcfunction(L, gc);
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, SPARES, 1);
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, gc);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
  }
  lua_remove(L, -2);   /* the guards table */
}


/* A guard of gc's kind and of size: a spare one, as its last user left
 * it, or a new zeroed one; pushed. */
static void *take_guard(lua_State *L, size_t size, lua_CFunction gc, int *spare) {
  guard_metatable(L, gc);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  if (n > 0 && lua_rawgeti(L, -1, n) == LUA_TUSERDATA && lua_rawlen(L, -1) == size) {
    lua_pushnil(L);
    lua_rawseti(L, -3, n);
    lua_remove(L, -2);   /* the metatable */
    *spare = 1;
    return lua_touserdata(L, -1);
  }
  if (n > 0) lua_pop(L, 1);
  void *p = lua_newuserdatauv(L, size, 0);
  memset(p, 0, size);
  lua_insert(L, -2);
  lua_setmetatable(L, -2);
  *spare = 0;
  return p;
}


void *mc_l_guard(lua_State *L, size_t size, lua_CFunction gc) {
  int spare;
  void *p = take_guard(L, size, gc, &spare);
  if (spare) memset(p, 0, size);
  return p;
}


/* The guard at idx waits for the next call of its kind. */
static void keep_guard(lua_State *L, int idx, lua_CFunction gc) {
  idx = lua_absindex(L, idx);
  guard_metatable(L, gc);
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  if (n < SPARES) {
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, n + 1);
  }
  lua_pop(L, 1);
}


int mc_l_buf_gc(lua_State *L) {
  mc_buf_free(lua_touserdata(L, 1));   /* leaves it empty: safe to free again */
  return 0;
}


mc_buf_t *mc_l_buf(lua_State *L) {
  int spare;
  return take_guard(L, sizeof(mc_buf_t), mc_l_buf_gc, &spare);   /* empty either way */
}


/* A buffer keeps its room for the next call unless it grew past this. */
#define BUF_KEEP (64 * 1024)

void mc_l_buf_release(lua_State *L, int idx) {
  mc_buf_t *b = lua_touserdata(L, idx);
  if (b->failed || b->cap > BUF_KEEP) mc_buf_free(b);
  b->len = 0;
  keep_guard(L, idx, mc_l_buf_gc);
}


void mc_l_release(lua_State *L, int idx, lua_CFunction gc) {
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, gc);
  lua_pushvalue(L, idx);
  lua_call(L, 1, 0);
  keep_guard(L, idx, gc);
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


int mc_l_listen(lua_State *L, const char *listen, char *host, size_t size) {
  const char *colon = strrchr(listen, ':');
  if (colon == NULL || (size_t)(colon - listen) >= size)
    luaL_error(L, "listen must be ADDRESS:PORT, not '%s'", listen);
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = '\0';
  return atoi(colon + 1);
}


void mc_l_port_file(lua_State *L, const char *path, int port) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  int ok = f != NULL && fprintf(f, "%d\n", port) >= 0;
  if (f != NULL && fclose(f) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) luaL_error(L, "cannot write %s", path);
}


static void on_stop_signal(evutil_socket_t sig, short what, void *arg) {
  (void)sig;
  (void)what;
  event_base_loopbreak(arg);
}


void mc_l_signals_stop(struct event_base *base, struct event *sigs[2]) {
  sigs[0] = evsignal_new(base, SIGINT, on_stop_signal, base);
  sigs[1] = evsignal_new(base, SIGTERM, on_stop_signal, base);
  for (int i = 0; i < 2; i++) if (sigs[i]) event_add(sigs[i], NULL);
}


void mc_l_signals_free(struct event *sigs[2]) {
  for (int i = 0; i < 2; i++)
    if (sigs[i]) event_free(sigs[i]);
}
