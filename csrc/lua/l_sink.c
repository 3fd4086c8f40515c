/* mailcast.core.sink: the local SMTP server, run until it has stored
 * `count` messages or is told to stop (SIGINT, SIGTERM). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "binding.h"
#include "core/loop.h"
#include "core/smtp_server.h"

typedef struct {
  struct event_base *base;
  mc_sink_t *sink;
  const char *maildir;
  lua_State *L;
  int on_message;     /* stack index of the Lua function, or 0 */
  size_t count;       /* stop after this many; 0: never */
  int quiet;
  struct event *drain;  /* after count: wait for the clients' QUIT */
  int waited;
} sink_run;


/* Every 50 ms after the last message: stop once the clients are gone
 * (their last 250 must reach them), or after 5 s in any case. */
static void on_drain(evutil_socket_t fd, short what, void *arg) {
  sink_run *r = arg;
  (void)fd;
  (void)what;
  if (mc_sink_connections(r->sink) == 0 || ++r->waited > 100) event_base_loopexit(r->base, NULL);
}


typedef struct {
  const char *path, *from;
  const char *const *rcpts;
  size_t n;
} stored_msg;


/* Calls on_message(path, from, {rcpts}) in protected mode: every value
 * it needs is made here, so an error (or no memory) stays inside pcall. */
static int call_on_message(lua_State *L) {
  const stored_msg *m = lua_touserdata(L, 2);
  lua_pushvalue(L, 1);
  lua_pushstring(L, m->path);
  lua_pushstring(L, m->from);
  lua_createtable(L, (int)m->n, 0);
  for (size_t i = 0; i < m->n; i++) {
    lua_pushstring(L, m->rcpts[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_call(L, 3, 0);
  return 0;
}


static void on_stored(const char *file, const char *from, const char *const *rcpts, size_t n,
                      void *arg) {
  sink_run *r = arg;
  if (r->on_message) {
    char path[4096];
    snprintf(path, sizeof path, "%s/new/%s", r->maildir, file);
    stored_msg m = {path, from, rcpts, n};
    lua_State *L = r->L;
    lua_pushcfunction(L, call_on_message);
    lua_pushvalue(L, r->on_message);
    lua_pushlightuserdata(L, &m);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
      /* The message is stored: a failing handler loses nothing. */
      fprintf(stderr, "mailcast sink: on_message: %s\n", lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  if (!r->quiet) {
    printf("stored %s from <%s> to", file, from);
    for (size_t i = 0; i < n; i++) printf(" <%s>", rcpts[i]);
    printf("\n");
    fflush(stdout);
  }
  if (r->count && mc_sink_stored(r->sink) >= r->count && r->drain == NULL) {
    mc_sink_stop_accepting(r->sink);
    r->drain = event_new(r->base, -1, EV_PERSIST, on_drain, r);
    struct timeval tick = {0, 50000};
    if (r->drain) event_add(r->drain, &tick);
    else event_base_loopexit(r->base, NULL);
  }
}


typedef struct {
  mc_sink_rule_t *rules;
  size_t n;
  struct event_base *base;
  mc_sink_t *sink;
  struct event *sigs[2];
} sink_state;


static int sink_state_gc(lua_State *L) {
  sink_state *st = lua_touserdata(L, 1);
  mc_sink_free(st->sink);
  mc_l_signals_free(st->sigs);
  free(st->rules);   /* the strings belong to the Lua table */
  memset(st, 0, sizeof *st);
  return 0;
}


/* sink{listen = "127.0.0.1:2525", maildir =, rules = {[addr] = "550 ..."},
 *      max_message =, idle_timeout =, count =, port_file =, quiet =,
 *      on_message = function(path, from, rcpts) after each is stored}
 *   -> number of messages stored | fail, message */
static int l_sink(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "listen");
  const char *listen = luaL_optstring(L, -1, "127.0.0.1:2525");
  lua_getfield(L, 1, "maildir");
  const char *maildir = luaL_checkstring(L, -1);
  lua_getfield(L, 1, "port_file");
  const char *port_file = luaL_optstring(L, -1, NULL);
  lua_getfield(L, 1, "hostname");
  const char *hostname = luaL_optstring(L, -1, NULL);
  lua_pop(L, 4);   /* the table keeps the strings */
  sink_state *st = mc_l_guard(L, sizeof *st, sink_state_gc);
  int guard = lua_gettop(L);

  mc_sink_opts_t o = {.maildir = maildir, .hostname = hostname};
  lua_getfield(L, 1, "max_message");
  o.max_message = (size_t)luaL_optinteger(L, -1, 50 * 1024 * 1024);
  lua_getfield(L, 1, "idle_timeout");
  o.idle_timeout = luaL_optnumber(L, -1, 300);
  lua_getfield(L, 1, "count");
  sink_run run = {0};
  run.count = (size_t)luaL_optinteger(L, -1, 0);
  lua_getfield(L, 1, "quiet");
  run.quiet = lua_toboolean(L, -1);
  lua_pop(L, 4);
  run.L = L;
  run.maildir = maildir;
  if (lua_getfield(L, 1, "on_message") == LUA_TFUNCTION) run.on_message = lua_gettop(L);   /* stays there */
  else if (!lua_isnil(L, -1)) return luaL_error(L, "sink on_message must be a function");
  else lua_pop(L, 1);
  if (lua_getfield(L, 1, "rules") == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "sink rules map addresses to reply lines");
      const char *reply = lua_tostring(L, -1);
      if (strlen(reply) < 4 || reply[0] < '2' || reply[0] > '5' || strpbrk(reply, "\r\n"))
        return luaL_error(L, "sink rule for %s: '%s' is not a reply line", lua_tostring(L, -2), reply);
      mc_sink_rule_t *r = realloc(st->rules, (st->n + 1) * sizeof *r);
      if (r == NULL) return luaL_error(L, "not enough memory");
      st->rules = r;
      st->rules[st->n].address = (char *)lua_tostring(L, -2);
      st->rules[st->n].reply = (char *)reply;
      st->n++;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  o.rules = st->rules;
  o.nrules = st->n;

  char host[64];
  int port = mc_l_listen(L, listen, host, sizeof host);
  st->base = mc_loop();
  if (st->base == NULL) return luaL_error(L, "cannot make an event loop");
  run.base = st->base;
  mc_error_t e;
  st->sink = mc_sink_new(st->base, host, port, &o, on_stored, &run, &e);
  if (st->sink == NULL) return mc_l_fail(L, &e);
  run.sink = st->sink;
  mc_l_signals_stop(st->base, st->sigs);
  if (!run.quiet) {
    printf("mailcast sink: listening on %s:%d, storing in %s\n", host, mc_sink_port(st->sink), maildir);
    fflush(stdout);
  }
  if (port_file) mc_l_port_file(L, port_file, mc_sink_port(st->sink));   /* last: it means ready */
  event_base_dispatch(st->base);
  if (run.drain) event_free(run.drain);
  lua_Integer stored = (lua_Integer)mc_sink_stored(st->sink);
  mc_l_release(L, guard, sink_state_gc);
  lua_pushinteger(L, stored);
  return 1;
}


void mc_l_open_sink(lua_State *L) {
  lua_pushcfunction(L, l_sink);
  lua_setfield(L, -2, "sink");
}
