/* mailcast.core: verp_make, verp_check, sha256_hex (what bounce
 * processing needs from OpenSSL). */
#include "binding.h"
#include "core/digest.h"
#include "core/verp.h"


/* An id argument: an integer 1..2^63-1 (misuse raises). */
static uint64_t check_id(lua_State *L, int arg) {
  lua_Integer v = luaL_checkinteger(L, arg);
  luaL_argcheck(L, v > 0, arg, "an id is a positive integer");
  return (uint64_t)v;
}


/* verp_make(secret, campaign, recipient) -> tag | fail, message */
static int l_verp_make(lua_State *L) {
  size_t keylen;
  const char *key = luaL_checklstring(L, 1, &keylen);
  uint64_t campaign = check_id(L, 2), recipient = check_id(L, 3);
  char tag[MC_VERP_MAX];
  mc_error_t e;
  size_t n = mc_verp_make(key, keylen, campaign, recipient, tag, &e);
  if (n == 0) return mc_l_fail(L, &e);
  lua_pushlstring(L, tag, n);
  return 1;
}


/* verp_check(secret, tag) -> campaign, recipient | fail, message
 * ("verp: malformed", "verp: bad signature"). */
static int l_verp_check(lua_State *L) {
  size_t keylen, n;
  const char *key = luaL_checklstring(L, 1, &keylen);
  const char *tag = luaL_checklstring(L, 2, &n);
  uint64_t campaign, recipient;
  mc_error_t e;
  if (mc_verp_check(key, keylen, tag, n, &campaign, &recipient, &e) != 0) return mc_l_fail(L, &e);
  lua_pushinteger(L, (lua_Integer)campaign);
  lua_pushinteger(L, (lua_Integer)recipient);
  return 2;
}


/* sha256_hex(s) -> 64 hex digits | fail, message */
static int l_sha256_hex(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  char hex[MC_SHA256_HEX];
  mc_error_t e;
  if (mc_sha256_hex(s, n, hex, &e) != 0) return mc_l_fail(L, &e);
  lua_pushstring(L, hex);
  return 1;
}


void mc_l_open_verp(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"verp_make", l_verp_make},
    {"verp_check", l_verp_check},
    {"sha256_hex", l_sha256_hex},
    {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
