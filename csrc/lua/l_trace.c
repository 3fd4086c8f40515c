#include "l_trace.h"

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

struct mc_l_tracer {
  int ref;               /* the function, in the registry */
  char *destination;
  lua_State *L;          /* while entered */
  mc_buf_t waiting;      /* lines not yet told: a session number, then a record */
  int stopped;
};

/* One line on its way to the function (through call_line). */
typedef struct {
  const mc_l_tracer_t *t;
  unsigned long session;
  mc_trace_head_t h;
  const char *line;
} line_call;


static const char *kind_name(char kind) {
  return kind == 'C' ? "client" : kind == 'S' ? "server" : "info";
}


static void push_record(lua_State *L, const mc_trace_head_t *h, const char *line) {
  lua_createtable(L, 0, 5);
  lua_pushstring(L, kind_name(h->kind));
  lua_setfield(L, -2, "kind");
  lua_pushlstring(L, line, h->len);
  lua_setfield(L, -2, "line");
  lua_pushnumber(L, h->time);
  lua_setfield(L, -2, "time");
}


void mc_l_pushrecords(lua_State *L, const mc_buf_t *b) {
  lua_newtable(L);
  size_t at = 0;
  lua_Integer i = 0;
  mc_trace_head_t h;
  const char *line;
  /* (after a failed append the records before it are whole; a record
   * cut short by it is left out) */
  while (mc_trace_next(b->data, b->len, &at, &h, &line)) {
    push_record(L, &h, line);
    lua_rawseti(L, -2, ++i);
  }
  if (b->failed) {   /* what could not be kept is said, not dropped unseen */
    mc_trace_head_t note = {'I', 0, 0};
    static const char said[] = "(the transcript ran out of memory here)";
    note.len = sizeof said - 1;
    push_record(L, &note, said);
    lua_pushnil(L);
    lua_setfield(L, -2, "time");
    lua_rawseti(L, -2, ++i);
  }
}


/* In protected mode: the table of the line_call at 1, to the function. */
static int call_line(lua_State *L) {
  const line_call *c = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->t->ref);
  push_record(L, &c->h, c->line);
  lua_pushinteger(L, (lua_Integer)c->session);
  lua_setfield(L, -2, "session");
  if (c->t->destination) {
    lua_pushstring(L, c->t->destination);
    lua_setfield(L, -2, "destination");
  }
  lua_call(L, 1, 0);
  return 0;
}


static void tell(mc_l_tracer_t *t, unsigned long session, const mc_trace_head_t *h, const char *line) {
  lua_State *L = t->L;
  line_call c = {t, session, *h, line};
  if (!lua_checkstack(L, 4)) { t->stopped = 1; return; }
  lua_pushcfunction(L, call_line);
  lua_pushlightuserdata(L, &c);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    t->stopped = 1;
    lua_pop(L, 1);
  }
}


mc_l_tracer_t *mc_l_tracer_new(lua_State *L, int idx, const char *destination) {
  luaL_checktype(L, idx, LUA_TFUNCTION);
  lua_pushvalue(L, idx);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);   /* first: nothing of ours to lose if it raises */
  mc_l_tracer_t *t = calloc(1, sizeof *t);
  if (t && destination && (t->destination = strdup(destination)) == NULL) {
    free(t);
    t = NULL;
  }
  if (t == NULL) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    luaL_error(L, "not enough memory");
    return NULL;
  }
  t->ref = ref;
  return t;
}


void mc_l_tracer_free(lua_State *L, mc_l_tracer_t *t) {
  if (t == NULL) return;
  luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
  mc_buf_free(&t->waiting);
  free(t->destination);
  free(t);
}


void mc_l_tracer_enter(mc_l_tracer_t *t, lua_State *L) {
  t->L = L;
  if (t->waiting.len == 0) return;
  size_t at = 0;
  mc_buf_t *w = &t->waiting;
  while (!t->stopped && w->len - at >= sizeof(unsigned long)) {
    unsigned long session;
    memcpy(&session, w->data + at, sizeof session);
    at += sizeof session;
    mc_trace_head_t h;
    const char *line;
    if (!mc_trace_next(w->data, w->len, &at, &h, &line)) break;
    tell(t, session, &h, line);
  }
  mc_buf_free(w);
}


void mc_l_tracer_leave(mc_l_tracer_t *t) { t->L = NULL; }


void mc_l_tracer_line(unsigned long session, mc_trace_kind_t kind, const char *line, size_t n,
                      double time, void *arg) {
  mc_l_tracer_t *t = arg;
  if (t->stopped) return;
  if (t->L == NULL) {   /* told at the next enter (a failed append drops the rest) */
    mc_buf_add(&t->waiting, &session, sizeof session);
    mc_trace_record(&t->waiting, kind, time, line, n);
    return;
  }
  mc_trace_head_t h = {kind == MC_TRACE_CLIENT ? 'C' : kind == MC_TRACE_SERVER ? 'S' : 'I', time, n};
  tell(t, session, &h, line);
}
