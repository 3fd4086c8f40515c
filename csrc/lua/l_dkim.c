/* mailcast.core DKIM: keys (mailcast.DkimKey) and signing; verifying is
 * in l_dkim_verify.c. */
#include <string.h>
#include <time.h>

#include "core/dkim.h"
#include "l_dkim.h"

typedef struct {
  mc_dkim_key_t *key;   /* NULL once closed */
  mc_buf_t out;         /* the signature being made: the key owns it, so a
                           raise cannot leak it and a campaign reuses it */
} key_box;


static key_box *to_box(lua_State *L, int idx) {
  key_box *box = luaL_testudata(L, idx, MC_DKIM_KEY_CLASS);
  if (box && box->key == NULL) luaL_error(L, "attempt to use a closed DKIM key");
  return box;
}


mc_dkim_key_t *mc_l_dkim_tokey(lua_State *L, int idx) {
  key_box *box = to_box(L, idx);
  return box ? box->key : NULL;
}


/* dkim_key(pem | path | {pem=} | {path=}) -> DkimKey | fail, message.
 * A string holding "-----BEGIN" is PEM text, any other a file name. */
static int l_dkim_key(lua_State *L) {
  const char *pem = NULL, *path = NULL;
  size_t n = 0;
  if (lua_type(L, 1) == LUA_TSTRING) {
    const char *s = lua_tolstring(L, 1, &n);
    if (memmem(s, n, "-----BEGIN", 10)) pem = s;
    else path = s;
  } else if (lua_istable(L, 1)) {
    if (lua_getfield(L, 1, "pem") == LUA_TSTRING) pem = lua_tolstring(L, -1, &n);
    if (lua_getfield(L, 1, "path") == LUA_TSTRING) path = lua_tostring(L, -1);
    lua_pop(L, 2);   /* the table keeps them */
    if ((pem == NULL) == (path == NULL)) return luaL_argerror(L, 1, "give one of 'pem' or 'path'");
  } else {
    return luaL_typeerror(L, 1, "string or table");
  }
  /* The box first, empty, so a memory error later leaks nothing. */
  key_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  memset(box, 0, sizeof *box);
  luaL_setmetatable(L, MC_DKIM_KEY_CLASS);
  mc_error_t e;
  box->key = pem ? mc_dkim_key_private(pem, n, &e) : mc_dkim_key_private_file(path, &e);
  if (box->key == NULL) return mc_l_fail(L, &e);
  return 1;
}


static mc_dkim_key_t *check_key(lua_State *L) {
  mc_dkim_key_t *k = mc_l_dkim_tokey(L, 1);
  if (k == NULL) luaL_typeerror(L, 1, MC_DKIM_KEY_CLASS);
  return k;
}


/* key:algorithm() -> "rsa-sha256" | "ed25519-sha256" */
static int l_key_algorithm(lua_State *L) {
  lua_pushstring(L, mc_dkim_alg_name(mc_dkim_key_alg(check_key(L))));
  return 1;
}


/* key:bits() -> the key's size in bits */
static int l_key_bits(lua_State *L) {
  lua_pushinteger(L, mc_dkim_key_bits(check_key(L)));
  return 1;
}


/* key:record() -> the TXT record to publish, "v=DKIM1; k=rsa; p=..." */
static int l_key_record(lua_State *L) {
  mc_buf_t out = MC_BUF_INIT;
  mc_error_t e;
  if (mc_dkim_key_record(check_key(L), &out, &e) != 0) {
    mc_buf_free(&out);
    return mc_l_fail(L, &e);
  }
  luaL_Buffer b;   /* copied through a Lua buffer first: pushing may raise */
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, out.data, out.len);
  mc_buf_free(&out);
  luaL_pushresult(&b);
  return 1;
}


static int l_key_close(lua_State *L) {
  key_box *box = luaL_checkudata(L, 1, MC_DKIM_KEY_CLASS);
  mc_dkim_key_free(box->key);
  box->key = NULL;
  mc_buf_free(&box->out);
  return 0;
}


static int l_key_tostring(lua_State *L) {
  key_box *box = luaL_checkudata(L, 1, MC_DKIM_KEY_CLASS);
  if (box->key == NULL) lua_pushliteral(L, MC_DKIM_KEY_CLASS " (closed)");
  else lua_pushfstring(L, MC_DKIM_KEY_CLASS " (%s, %d bits)", mc_dkim_alg_name(mc_dkim_key_alg(box->key)),
                       mc_dkim_key_bits(box->key));
  return 1;
}


/* opts[key] as a string, or NULL when absent; raises on another type
 * (a number would be converted to a string nothing keeps alive). */
static const char *opt_string(lua_State *L, int t, const char *key, int required) {
  int type = lua_getfield(L, t, key);
  const char *s = NULL;
  if (type == LUA_TSTRING) s = lua_tostring(L, -1);
  else if (type != LUA_TNIL || required)
    luaL_error(L, "dkim: option '%s' must be a string, not %s", key, luaL_typename(L, -1));
  lua_pop(L, 1);   /* the table keeps it */
  return s;
}


/* opts[key], a list of field names, as an array in a userdata left on
 * the stack (Lua frees it, raise or not); NULL and nothing pushed when
 * absent. */
static const char **opt_names(lua_State *L, int t, const char *key, size_t *n) {
  *n = 0;
  if (lua_getfield(L, t, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  if (!lua_istable(L, -1)) luaL_error(L, "dkim: option '%s' must be a list of field names", key);
  size_t len = (size_t)luaL_len(L, -1);
  const char **names = lua_newuserdatauv(L, (len ? len : 1) * sizeof *names, 0);
  for (size_t i = 0; i < len; i++) {
    if (lua_geti(L, -2, (lua_Integer)i + 1) != LUA_TSTRING)
      luaL_error(L, "dkim: %s[%d] must be a string", key, (int)i + 1);
    names[i] = lua_tostring(L, -1);
    lua_pop(L, 1);   /* the list keeps it */
  }
  lua_remove(L, -2);   /* the list: the options table keeps it */
  *n = len;
  return names;
}


static int canon_form(const char *s, size_t n, mc_dkim_canon_t *c) {
  if (n == 6 && memcmp(s, "simple", 6) == 0) *c = MC_DKIM_SIMPLE;
  else if (n == 7 && memcmp(s, "relaxed", 7) == 0) *c = MC_DKIM_RELAXED;
  else return -1;
  return 0;
}


/* "relaxed/simple": header and body forms; a header form alone means a
 * simple body (RFC 6376 3.5). Without the option: relaxed/relaxed. */
static void opt_canon(lua_State *L, int t, mc_dkim_sign_opts_t *o) {
  const char *c = opt_string(L, t, "canonicalization", 0);
  o->header_canon = o->body_canon = MC_DKIM_RELAXED;
  if (c == NULL) return;
  const char *slash = strchr(c, '/');
  size_t hn = slash ? (size_t)(slash - c) : strlen(c);
  o->body_canon = MC_DKIM_SIMPLE;
  if (canon_form(c, hn, &o->header_canon) != 0 ||
      (slash && canon_form(slash + 1, strlen(slash + 1), &o->body_canon) != 0))
    luaL_error(L, "dkim: canonicalization must be simple or relaxed, as header/body, not '%s'", c);
}


/* t= and x=: timestamp nil or true (now), false (no t=), or seconds;
 * expire: x= that many seconds after it. */
static void opt_time(lua_State *L, int t, mc_dkim_sign_opts_t *o) {
  o->time = (int64_t)time(NULL);
  o->timestamp = 1;
  int type = lua_getfield(L, t, "timestamp");
  if (type == LUA_TBOOLEAN) o->timestamp = lua_toboolean(L, -1);
  else if (type == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0)
    o->time = (int64_t)lua_tointeger(L, -1);
  else if (type != LUA_TNIL)
    luaL_error(L, "dkim: option 'timestamp' must be true, false or seconds since the epoch");
  type = lua_getfield(L, t, "expire");
  if (type == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0)
    o->expire = (int64_t)lua_tointeger(L, -1);
  else if (type != LUA_TNIL)
    luaL_error(L, "dkim: option 'expire' must be a positive number of seconds");
  lua_pop(L, 2);
}


/* dkim_sign(raw, {key=, domain=, selector=, identity=, headers=, oversign=,
 *   canonicalization=, body_length=, timestamp=, expire=})
 *   -> "DKIM-Signature: ...\r\n" | fail, message */
static int l_dkim_sign(lua_State *L) {
  size_t len;
  const char *raw = luaL_checklstring(L, 1, &len);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_getfield(L, 2, "key");
  key_box *box = to_box(L, -1);
  if (box == NULL) return luaL_error(L, "dkim: option 'key' must be a " MC_DKIM_KEY_CLASS);
  lua_pop(L, 1);   /* the table keeps it */
  mc_dkim_sign_opts_t o;
  memset(&o, 0, sizeof o);
  o.domain = opt_string(L, 2, "domain", 1);
  o.selector = opt_string(L, 2, "selector", 1);
  o.identity = opt_string(L, 2, "identity", 0);
  opt_canon(L, 2, &o);
  opt_time(L, 2, &o);
  lua_getfield(L, 2, "body_length");
  o.body_length = lua_toboolean(L, -1);
  lua_pop(L, 1);
  o.headers = opt_names(L, 2, "headers", &o.nheaders);
  o.oversign = opt_names(L, 2, "oversign", &o.noversign);
  mc_error_t e;
  box->out.len = 0;
  if (mc_dkim_sign(box->key, &o, raw, len, &box->out, &e) != 0) {
    if (box->out.failed) mc_buf_free(&box->out);   /* to start afresh next time */
    return mc_l_fail(L, &e);
  }
  lua_pushlstring(L, box->out.data, box->out.len);
  return 1;
}


static const luaL_Reg methods[] = {
  {"algorithm", l_key_algorithm},
  {"bits", l_key_bits},
  {"record", l_key_record},
  {"close", l_key_close},
  {NULL, NULL},
};


static const luaL_Reg meta[] = {
  {"__gc", l_key_close},
  {"__close", l_key_close},
  {"__tostring", l_key_tostring},
  {NULL, NULL},
};


static const luaL_Reg functions[] = {
  {"dkim_key", l_dkim_key},
  {"dkim_sign", l_dkim_sign},
  {"dkim_verify", mc_l_dkim_verify},
  {NULL, NULL},
};


void mc_l_open_dkim(lua_State *L) {
  mc_l_newclass(L, MC_DKIM_KEY_CLASS, meta, methods);
  luaL_setfuncs(L, functions, 0);
}
