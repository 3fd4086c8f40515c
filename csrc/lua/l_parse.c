/* mailcast.core.parse: a message as a tree of Lua tables. */
#include <ctype.h>
#include <stdlib.h>

#include "binding.h"
#include "core/hdrdecode.h"
#include "core/mimeparse.h"


static void set_string(lua_State *L, const char *key, const char *value) {
  if (value == NULL) return;
  lua_pushstring(L, value);
  lua_setfield(L, -2, key);
}


static void push_params(lua_State *L, const mc_structured_t *st) {
  lua_createtable(L, 0, (int)st->nparams);
  for (size_t i = 0; i < st->nparams; i++) {
    lua_pushstring(L, st->params[i].value);
    lua_setfield(L, -2, st->params[i].name);
  }
}


/* Pushes the decoded (RFC 2047) value of a field. */
static void push_decoded(lua_State *L, const char *v) {
  mc_buf_t out = MC_BUF_INIT;
  mc_hdr_decode(&out, v, strlen(v));
  if (out.failed) {
    mc_buf_free(&out);
    luaL_error(L, "not enough memory");
  }
  lua_pushlstring(L, out.data ? out.data : "", out.len);
  mc_buf_free(&out);
}


static void push_fields(lua_State *L, const mc_entity_t *ent) {
  lua_createtable(L, (int)ent->nfields, 0);   /* headers: raw, in order */
  lua_createtable(L, 0, (int)ent->nfields);   /* header: lowercase -> decoded */
  for (size_t i = 0; i < ent->nfields; i++) {
    const mc_hfield_t *f = &ent->fields[i];
    lua_createtable(L, 0, 2);
    set_string(L, "name", f->name);
    set_string(L, "value", f->value);
    lua_rawseti(L, -3, (lua_Integer)i + 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (const char *p = f->name; *p; p++) luaL_addchar(&b, (char)tolower((unsigned char)*p));
    luaL_pushresult(&b);
    if (lua_rawget(L, -2) == LUA_TNIL) {    /* the first one wins */
      lua_pop(L, 1);
      luaL_buffinit(L, &b);
      for (const char *p = f->name; *p; p++) luaL_addchar(&b, (char)tolower((unsigned char)*p));
      luaL_pushresult(&b);
      push_decoded(L, f->value);
      lua_rawset(L, -3);
    } else {
      lua_pop(L, 1);
    }
  }
  lua_setfield(L, -3, "header");
  lua_setfield(L, -2, "headers");
}


static void push_entity(lua_State *L, const mc_entity_t *ent) {
  luaL_checkstack(L, 8, "message nested too deeply");
  lua_createtable(L, 0, 12);
  push_fields(L, ent);
  set_string(L, "content_type", ent->type.value);
  push_params(L, &ent->type);
  lua_setfield(L, -2, "params");
  set_string(L, "encoding", ent->encoding);
  if (ent->disposition.value[0]) set_string(L, "disposition", ent->disposition.value);
  const char *filename = mc_structured_param(&ent->disposition, "filename");
  if (filename == NULL) filename = mc_structured_param(&ent->type, "name");
  set_string(L, "filename", filename);
  const char *cid = mc_entity_field(ent, "Content-ID");
  if (cid) {
    size_t n = strlen(cid);
    if (n >= 2 && cid[0] == '<' && cid[n - 1] == '>') lua_pushlstring(L, cid + 1, n - 2);
    else lua_pushstring(L, cid);
    lua_setfield(L, -2, "content_id");
  }
  int multipart = strncmp(ent->type.value, "multipart/", 10) == 0 && ent->nkids + ent->unterminated > 0;
  if (multipart) {
    lua_createtable(L, (int)ent->nkids, 0);
    for (size_t i = 0; i < ent->nkids; i++) {
      push_entity(L, ent->kids[i]);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "parts");
    if (ent->unterminated) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, "unterminated");
    }
    return;
  }
  lua_pushlstring(L, ent->body.data ? ent->body.data : "", ent->body.len);
  lua_setfield(L, -2, "body");
  if (ent->nkids == 1) {
    push_entity(L, ent->kids[0]);
    lua_setfield(L, -2, "message");
  }
}


static int entity_guard_gc(lua_State *L) {
  mc_entity_t **guard = lua_touserdata(L, 1);
  mc_entity_free(*guard);
  *guard = NULL;
  return 0;
}


/* parse(raw) -> tree: {headers = {{name=, value=}...}, header = {lower =
 * decoded}, content_type, params, encoding, disposition, filename,
 * content_id, body (leaves) | parts (multipart), message (message/rfc822)} */
static int l_parse(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  /* Pushing the tables can raise (memory), so the tree is held by a
   * guard whose __gc frees it either way. */
  mc_entity_t **guard = mc_l_guard(L, sizeof *guard, entity_guard_gc);
  mc_error_t e;
  *guard = mc_mime_parse(s, n, &e);
  if (*guard == NULL) return mc_l_fail(L, &e);
  push_entity(L, *guard);
  mc_entity_free(*guard);
  *guard = NULL;
  return 1;
}


static int structured_guard_gc(lua_State *L) {
  mc_structured_free(lua_touserdata(L, 1));   /* (it leaves it empty) */
  return 0;
}


/* header_params(value) -> value (lower case), {name = value}: a
 * structured field such as Content-Type ("text/css; charset=latin1"),
 * read as the parts of a parsed message are. */
static int l_header_params(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  /* Pushing the results can raise (memory): the guard frees st then. */
  mc_structured_t *st = mc_l_guard(L, sizeof *st, structured_guard_gc);
  memset(st, 0, sizeof *st);
  if (mc_structured_parse(st, s, n) != 0) return luaL_error(L, "not enough memory");
  lua_pushstring(L, st->value);
  push_params(L, st);
  mc_structured_free(st);
  return 2;
}


void mc_l_open_parse(lua_State *L) {
  lua_pushcfunction(L, l_parse);
  lua_setfield(L, -2, "parse");
  lua_pushcfunction(L, l_header_params);
  lua_setfield(L, -2, "header_params");
}
