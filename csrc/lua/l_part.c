/* mailcast.Part: an encoded attachment or inline image, shared by every
 * message that carries it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "binding.h"
#include "l_part.h"

typedef struct {
  mc_part_t *part;   /* NULL once closed */
} part_box;


/* Optional string field t[key] (NULL when nil); raises on another type. */
static const char *opt_field(lua_State *L, int t, const char *key) {
  int type = lua_getfield(L, t, key);
  const char *s = NULL;
  if (type == LUA_TSTRING) s = lua_tostring(L, -1);
  else if (type != LUA_TNIL)
    luaL_error(L, "part field '%s' must be a string, not %s", key, luaL_typename(L, -1));
  lua_pop(L, 1);  /* the table still anchors the string */
  return s;
}


static const char *basename_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}


static mc_part_t *from_table(lua_State *L, int t, mc_error_t *e) {
  mc_part_opts_t o = {0};
  o.content_type = opt_field(L, t, "content_type");
  o.charset = opt_field(L, t, "charset");
  o.filename = opt_field(L, t, "filename");
  o.disposition = opt_field(L, t, "disposition");
  o.content_id = opt_field(L, t, "content_id");
  if (o.content_id == NULL) o.content_id = opt_field(L, t, "cid");
  const char *enc = opt_field(L, t, "encoding");
  if (enc && mc_encoding_parse(enc, &o.encoding) != 0) {
    mc_error_set(e, "encoding '%s' is not auto, 7bit, 8bit, quoted-printable or base64", enc);
    return NULL;
  }
  if (o.content_id && o.disposition == NULL) o.disposition = "inline";
  const char *path = opt_field(L, t, "path");
  size_t n;
  lua_getfield(L, t, "stream");
  int stream = lua_toboolean(L, -1);
  lua_pop(L, 1);
  /* data stays on the stack until it is encoded: a number converted to a
   * string here has nothing else keeping it. */
  lua_getfield(L, t, "data");
  const char *data = lua_tolstring(L, -1, &n);
  if (!lua_isnil(L, -1) && data == NULL) luaL_error(L, "part field 'data' must be a string");
  mc_part_t *p = NULL;
  if ((path == NULL) == (data == NULL)) {
    mc_error_set(e, "a part needs either 'path' or 'data'");
  } else if (path) {
    if (o.filename == NULL) o.filename = basename_of(path);
    p = mc_part_from_file(&o, path, stream, e);
  } else {
    p = mc_part_new(&o, data, n, e);
  }
  lua_pop(L, 1);
  return p;
}


mc_part_t *mc_l_topart(lua_State *L, int idx, mc_error_t *e) {
  part_box *box = luaL_testudata(L, idx, MC_PART_CLASS);
  if (box) {
    if (box->part == NULL) luaL_error(L, "attempt to use a closed part");
    mc_part_ref(box->part);
    return box->part;
  }
  if (!lua_istable(L, idx)) {
    luaL_error(L, "a part must be a table or a mailcast.Part, not %s", luaL_typename(L, idx));
  }
  return from_table(L, lua_absindex(L, idx), e);
}


mc_part_t **mc_l_newpart(lua_State *L) {
  part_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->part = NULL;
  luaL_setmetatable(L, MC_PART_CLASS);
  return &box->part;
}


mc_part_t *mc_l_testpart(lua_State *L, int idx) {
  part_box *box = luaL_testudata(L, idx, MC_PART_CLASS);
  if (box == NULL) return NULL;
  if (box->part == NULL) luaL_error(L, "attempt to use a closed part");
  return box->part;
}


/* part{data=|path=, filename=, content_type=, charset=, disposition=,
 *      cid=, encoding=, stream=} -> Part | fail, message */
static int l_part(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  /* The box first, empty, so a memory error later leaks nothing. */
  part_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->part = NULL;
  luaL_setmetatable(L, MC_PART_CLASS);
  mc_error_t e;
  box->part = from_table(L, 1, &e);
  if (box->part == NULL) return mc_l_fail(L, &e);
  return 1;
}


static part_box *check_part(lua_State *L) {
  part_box *box = luaL_checkudata(L, 1, MC_PART_CLASS);
  if (box->part == NULL) luaL_error(L, "attempt to use a closed part");
  return box;
}


/* part:size() -> bytes the part takes in a message */
static int l_part_size(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mc_part_size(check_part(L)->part));
  return 1;
}


/* part:encoding() -> the transfer encoding chosen */
static int l_part_encoding(lua_State *L) {
  lua_pushstring(L, mc_encoding_name(check_part(L)->part->encoding));
  return 1;
}


/* part:head() -> the part's header fields as they are written */
static int l_part_head(lua_State *L) {
  const mc_part_t *p = check_part(L)->part;
  lua_pushlstring(L, p->head.data ? p->head.data : "", p->head.len);
  return 1;
}


static int l_part_close(lua_State *L) {
  part_box *box = luaL_checkudata(L, 1, MC_PART_CLASS);
  mc_part_unref(box->part);
  box->part = NULL;
  return 0;
}


static int l_part_tostring(lua_State *L) {
  part_box *box = luaL_checkudata(L, 1, MC_PART_CLASS);
  if (box->part) lua_pushfstring(L, MC_PART_CLASS " (%p)", (void *)box->part);
  else lua_pushliteral(L, MC_PART_CLASS " (closed)");
  return 1;
}


/* file_stamp(path) -> "size:mtime" | fail, message: what a cache of parts
 * compares to see that a file it encoded has not changed since. */
static int l_file_stamp(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (stat(path, &st) != 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "cannot open '%s': %s", path, strerror(errno));
    return 2;
  }
  lua_pushfstring(L, "%I:%I.%I", (lua_Integer)st.st_size, (lua_Integer)st.st_mtim.tv_sec,
                  (lua_Integer)st.st_mtim.tv_nsec);
  return 1;
}


static const luaL_Reg methods[] = {
  {"size", l_part_size},
  {"encoding", l_part_encoding},
  {"head", l_part_head},
  {"close", l_part_close},
  {NULL, NULL},
};


static const luaL_Reg meta[] = {
  {"__gc", l_part_close},
  {"__close", l_part_close},
  {"__tostring", l_part_tostring},
  {NULL, NULL},
};


void mc_l_open_part(lua_State *L) {
  mc_l_newclass(L, MC_PART_CLASS, meta, methods);
  lua_pushcfunction(L, l_part);
  lua_setfield(L, -2, "part");
  lua_pushcfunction(L, l_file_stamp);
  lua_setfield(L, -2, "file_stamp");
}
