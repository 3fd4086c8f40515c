/* What a runner needs from the process: a clock that never goes back,
 * whether an output is a terminal, Ctrl-C as a request to pause, and the
 * name the machine gives itself in EHLO. */
#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "binding.h"
#include "core/hostname.h"
#include "core/interrupt.h"


/* now() -> seconds on a monotonic clock (for timing runs) */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}


/* time() -> seconds since the epoch, with fractions (for logs) */
static int l_time(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}


/* sleep(seconds): returns early when a signal arrives (Ctrl-C). */
static int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  if (s <= 0) return 0;
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
  return 0;
}


/* isatty(file) -> true when the Lua file (io.stdout, ...) is a terminal */
static int l_isatty(lua_State *L) {
  luaL_Stream *f = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  lua_pushboolean(L, f->f != NULL && isatty(fileno(f->f)));
  return 1;
}


/* columns(file) -> the width of the terminal the Lua file is, in
 * columns | nil when it is no terminal (or does not say). Asked at each
 * redraw: a window may be resized while a run goes on. */
static int l_columns(lua_State *L) {
  luaL_Stream *f = luaL_checkudata(L, 1, LUA_FILEHANDLE);
  struct winsize ws;
  if (f->f != NULL && ioctl(fileno(f->f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    lua_pushinteger(L, ws.ws_col);
  else
    lua_pushnil(L);
  return 1;
}


/* trap_interrupts(true|false): Ctrl-C and SIGTERM become a request that
 * a run loop polls with interrupted() -> count; a second one still
 * stops the process at once. */
static int l_trap_interrupts(lua_State *L) {
  if (lua_toboolean(L, 1)) mc_interrupt_trap();
  else mc_interrupt_release();
  return 0;
}


static int l_interrupted(lua_State *L) {
  lua_pushinteger(L, mc_interrupted());
  return 1;
}


/* hostname() -> the machine's fully qualified name, as EHLO gives it by
 * default | nil (it has none: EHLO then gives an address literal) */
static int l_hostname(lua_State *L) {
  const char *name = mc_host_fqdn();
  if (name) lua_pushstring(L, name);
  else lua_pushnil(L);
  return 1;
}


/* is_fqdn(name) -> whether name is a domain name fit for EHLO */
static int l_is_fqdn(lua_State *L) {
  lua_pushboolean(L, mc_host_is_fqdn(luaL_checkstring(L, 1)));
  return 1;
}


void mc_l_open_sys(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"now", l_now}, {"time", l_time}, {"sleep", l_sleep}, {"isatty", l_isatty}, {"columns", l_columns},
    {"trap_interrupts", l_trap_interrupts},
    {"interrupted", l_interrupted}, {"hostname", l_hostname}, {"is_fqdn", l_is_fqdn}, {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
