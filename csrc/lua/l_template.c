/* mailcast.core.template: a compiled mail-merge template (core/template.c)
 * rendered with variables from Lua tables, straight into one buffer. */
#include <stdlib.h>

#include "binding.h"
#include "core/buf.h"
#include "core/html_entity.h"
#include "core/template.h"
#include "core/textpart.h"
#include "l_part.h"

#define CLASS "mailcast.Template"
#define KEEP_AT_MOST (1 << 20)   /* bytes of its buffer a template keeps between renders */

typedef struct {
  mc_tpl_t *tpl;
  int html;        /* {{name}} escaped for HTML */
  mc_buf_t out;    /* reused by every render (a nested one has its own) */
  int busy;        /* out is in use: a metamethod renders this again */
  mc_textplan_t *plan;    /* for template:part, made at its first call */
  mc_textrender_t parts;  /* reused by every template:part */
} template_box;

/* One render: where it writes, and its scopes, each a stack index of
 * the variables it looks in (the innermost list item last). */
typedef struct {
  template_box *box;
  mc_buf_t *out;
  mc_textrender_t *parts;   /* template:part: text ops go through the plan */
  int scopes[MC_TPL_MAX_DEPTH + 1];
  int nscopes;
} render_state;


/* Raises "template NAME:LINE: ... variable 'a.b'" (caught by l_render). */
static int var_error(lua_State *L, const render_state *r, const mc_tpl_op_t *op, const char *what) {
  const mc_tpl_t *t = r->box->tpl;
  lua_pushfstring(L, "template %s:%d: %s variable '%s'", t->name, (int)op->line, what,
                  lua_pushlstring(L, t->src + op->off, op->len));
  return lua_error(L);   /* no position: the message says where */
}


/* Pushes op's value: "." is the innermost scope itself; a name is looked
 * up from the innermost scope out, in the first whose table has its
 * first part, and the further parts in that value (nil when one of them
 * is not a table). */
static void lookup(lua_State *L, const render_state *r, const mc_tpl_op_t *op) {
  if (op->nparts == 0) {
    lua_pushvalue(L, r->scopes[r->nscopes - 1]);
    return;
  }
  const char *part = mc_tpl_part(r->box->tpl, op);
  for (int i = r->nscopes - 1; i >= 0; i--) {
    if (lua_type(L, r->scopes[i]) != LUA_TTABLE) continue;
    if (lua_getfield(L, r->scopes[i], part) == LUA_TNIL) { lua_pop(L, 1); continue; }
    for (size_t k = 1; k < op->nparts; k++) {
      part += strlen(part) + 1;
      if (!lua_istable(L, -1)) { lua_pop(L, 1); lua_pushnil(L); return; }
      lua_getfield(L, -1, part);
      lua_remove(L, -2);
    }
    return;
  }
  lua_pushnil(L);
}


/* Whether a section's value keeps it: not nil, false, "" or {}. */
static int is_set(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL: return 0;
  case LUA_TBOOLEAN: return lua_toboolean(L, idx);
  case LUA_TSTRING: return lua_rawlen(L, idx) > 0;
  case LUA_TTABLE:
    lua_pushnil(L);
    if (lua_next(L, idx) == 0) return 0;
    lua_pop(L, 2);
    return 1;
  default: return 1;
  }
}


static void render_ops(lua_State *L, render_state *r, size_t from, size_t to);

/* The body of section op with the value at idx as a new innermost scope. */
static void render_in(lua_State *L, render_state *r, const mc_tpl_op_t *op, size_t at, int idx) {
  r->scopes[r->nscopes++] = idx;
  render_ops(L, r, at + 1, op->end);
  r->nscopes--;
}


static void render_section(lua_State *L, render_state *r, const mc_tpl_op_t *op, size_t at) {
  lookup(L, r, op);
  int v = lua_gettop(L);
  int set = is_set(L, v);
  if (op->inverted) {
    if (!set) render_ops(L, r, at + 1, op->end);
  } else if (lua_type(L, v) == LUA_TTABLE && luaL_len(L, v) > 0) {
    for (lua_Integer i = 1; lua_geti(L, v, i) != LUA_TNIL; i++) {   /* as ipairs */
      render_in(L, r, op, at, lua_gettop(L));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  } else if (set && lua_type(L, v) == LUA_TTABLE) {
    render_in(L, r, op, at, v);
  } else if (set) {
    render_ops(L, r, at + 1, op->end);
  }
  lua_settop(L, v - 1);
}


static void render_ops(lua_State *L, render_state *r, size_t from, size_t to) {
  const mc_tpl_t *t = r->box->tpl;
  luaL_checkstack(L, 8, "template");
  for (size_t i = from; i < to; i++) {
    const mc_tpl_op_t *op = &t->ops[i];
    if (op->kind == MC_TPL_TEXT) {
      if (r->parts) mc_textplan_text(r->box->plan, t, r->parts, i);
      else mc_buf_add(r->out, t->src + op->off, op->len);
    } else if (op->kind == MC_TPL_VAR) {
      lookup(L, r, op);
      int type = lua_type(L, -1);
      if (type == LUA_TNIL) var_error(L, r, op, "missing");
      if (type == LUA_TTABLE) var_error(L, r, op, "a list, not a value, in");
      size_t n;
      const char *s = luaL_tolstring(L, -1, &n);   /* tostring: numbers, booleans, __tostring */
      if (r->box->html && !op->raw) mc_html_escape(r->out, s, n);
      else mc_buf_add(r->out, s, n);
      lua_pop(L, 2);
    } else {
      render_section(L, r, op, i);
      i = op->end - 1;
    }
  }
}


/* (box, vars, out) -> the rendering, run under lua_pcall by l_render. */
static int render_protected(lua_State *L) {
  render_state r;
  r.box = lua_touserdata(L, 1);
  r.out = lua_touserdata(L, 3);
  r.parts = NULL;
  if (r.out->failed) mc_buf_free(r.out);   /* out of memory last time: start afresh */
  r.out->len = 0;
  r.scopes[0] = 2;
  r.nscopes = 1;
  render_ops(L, &r, 0, r.box->tpl->nops);
  if (r.out->failed) return luaL_error(L, "template %s: not enough memory", r.box->tpl->name);
  lua_pushlstring(L, r.out->data ? r.out->data : "", r.out->len);
  /* A huge rendering (a long list) does not keep its room for the rest
   * of the run. */
  if (r.out->cap > KEEP_AT_MOST) mc_buf_free(r.out);
  return 1;
}


/* template:render(vars) -> string | nil, message: a missing variable
 * (or a failing metamethod) is a message, not an error. The variables'
 * metamethods must not yield: the rendering is C, under lua_pcall. */
static int l_render(lua_State *L) {
  template_box *box = luaL_checkudata(L, 1, CLASS);
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  lua_pushcfunction(L, render_protected);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  /* A render that a metamethod starts during this one writes elsewhere. */
  if (box->busy) mc_l_buf(L);
  else lua_pushlightuserdata(L, &box->out);
  int was_busy = box->busy;
  box->busy = 1;
  int rc = lua_pcall(L, 3, 1, 0);
  box->busy = was_busy;
  if (rc == LUA_OK) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}


/* (box, vars) -> nothing: the rendering into box->parts, run under
 * lua_pcall by l_part. */
static int render_parts_protected(lua_State *L) {
  render_state r;
  r.box = lua_touserdata(L, 1);
  r.parts = &r.box->parts;
  mc_textrender_reset(r.parts);
  r.out = &r.parts->raw;
  r.scopes[0] = 2;
  r.nscopes = 1;
  render_ops(L, &r, 0, r.box->tpl->nops);
  if (r.out->failed || r.parts->failed)
    return luaL_error(L, "template %s: not enough memory", r.box->tpl->name);
  return 0;
}


/* template:part(vars [, allow_8bit]) -> Part | string | nil, message:
 * the rendering as a message body (text/html for an HTML template,
 * text/plain otherwise), the template's static text encoded once for
 * all; as a string when it goes another way than 7bit, 8bit or
 * quoted-printable, or is no UTF-8 (mailcast.build then does as for any
 * string, or says what is wrong with it). Errors as template:render. */
static int l_part(lua_State *L) {
  template_box *box = luaL_checkudata(L, 1, CLASS);
  luaL_checkany(L, 2);
  int allow_8bit = lua_toboolean(L, 3);
  lua_settop(L, 2);
  if (box->plan == NULL && !box->busy) {
    mc_error_t e;
    box->plan = mc_textplan_new(box->tpl, box->html ? "text/html" : "text/plain", &e);
  }
  if (box->plan == NULL || box->busy) return l_render(L);   /* a string does as well */
  lua_pushcfunction(L, render_parts_protected);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  box->busy = 1;
  int rc = lua_pcall(L, 2, 0, 0);
  box->busy = 0;
  if (rc != LUA_OK) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  mc_part_t **slot = mc_l_newpart(L);
  *slot = mc_textplan_part(box->plan, &box->parts, allow_8bit);
  if (*slot == NULL) {
    lua_pop(L, 1);
    mc_buf_t *full = mc_l_buf(L);   /* freed however this ends */
    int guard = lua_gettop(L);
    mc_textplan_full(box->plan, box->tpl, &box->parts, full);
    if (full->failed) return luaL_error(L, "template %s: not enough memory", box->tpl->name);
    lua_pushlstring(L, full->data ? full->data : "", full->len);
    mc_l_buf_release(L, guard);
  }
  if (box->parts.raw.cap > KEEP_AT_MOST || box->parts.canon.cap > KEEP_AT_MOST)
    mc_textrender_free(&box->parts);
  return 1;
}


static int l_template(lua_State *L) {
  size_t n;
  const char *src = luaL_checklstring(L, 1, &n);
  const char *name = luaL_optstring(L, 2, "?");
  int html = lua_toboolean(L, 3);
  template_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  memset(box, 0, sizeof *box);
  luaL_setmetatable(L, CLASS);
  mc_error_t e;
  box->tpl = mc_tpl_compile(src, n, name, &e);
  if (box->tpl == NULL) {
    lua_pushstring(L, e.msg);   /* no position: the message says where */
    return lua_error(L);
  }
  box->html = html;
  return 1;
}


static int template_gc(lua_State *L) {
  template_box *box = luaL_checkudata(L, 1, CLASS);
  mc_tpl_free(box->tpl);
  box->tpl = NULL;
  mc_buf_free(&box->out);
  mc_textplan_unref(box->plan);
  box->plan = NULL;
  mc_textrender_free(&box->parts);
  return 0;
}


/* html_escape(s) -> s with & < > " and ' as character references. */
static int l_html_escape(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  mc_buf_t *out = mc_l_buf(L);   /* freed however this ends */
  int guard = lua_gettop(L);
  mc_html_escape(out, s, n);
  if (out->failed) return luaL_error(L, "not enough memory");
  if (out->len == n) lua_pushvalue(L, 1);   /* nothing escaped */
  else lua_pushlstring(L, out->data, out->len);
  mc_l_buf_release(L, guard);
  return 1;
}


void mc_l_open_template(lua_State *L) {
  static const luaL_Reg meta[] = {{"__gc", template_gc}, {NULL, NULL}};
  static const luaL_Reg methods[] = {{"render", l_render}, {"part", l_part}, {NULL, NULL}};
  mc_l_newclass(L, CLASS, meta, methods);
  lua_pushcfunction(L, l_template);
  lua_setfield(L, -2, "template");
  lua_pushcfunction(L, l_html_escape);
  lua_setfield(L, -2, "html_escape");
}
