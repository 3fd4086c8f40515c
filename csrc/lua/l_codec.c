/* mailcast.core encoders: base64, quoted-printable, header words. */
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "core/addr.h"
#include "core/b64.h"
#include "core/hdr.h"
#include "core/hdrdecode.h"
#include "core/printable.h"
#include "core/qp.h"
#include "core/utf8.h"


/* Pushes a finished buffer as a string, raising on allocation failure. */
static int push_buf(lua_State *L, mc_buf_t *b) {
  if (b->failed) {
    mc_buf_free(b);
    return luaL_error(L, "not enough memory");
  }
  lua_pushlstring(L, b->data ? b->data : "", b->len);
  mc_buf_free(b);
  return 1;
}


/* b64_encode(s [, wrap]) -> string; wrap: 76-character CRLF lines. */
static int l_b64_encode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  int wrap = lua_toboolean(L, 2);
  luaL_Buffer b;
  size_t len = mc_b64_encoded_len(n, wrap);
  char *d = luaL_buffinitsize(L, &b, len);
  luaL_pushresultsize(&b, mc_b64_encode(d, (const unsigned char *)s, n, wrap));
  return 1;
}


/* b64_decode(s) -> string | fail, message (white space is allowed). */
static int l_b64_decode(lua_State *L) {
  size_t n, bad = 0;
  const char *s = luaL_checklstring(L, 1, &n);
  luaL_Buffer b;
  unsigned char *d = (unsigned char *)luaL_buffinitsize(L, &b, n / 4 * 3 + 3);
  size_t len = mc_b64_decode(d, s, n, 1, &bad);
  if (len == (size_t)-1) {
    luaL_pushfail(L);
    if (bad < n) lua_pushfstring(L, "base64: invalid character at byte %d", (int)bad + 1);
    else lua_pushliteral(L, "base64: truncated input");
    return 2;
  }
  luaL_pushresultsize(&b, len);
  return 1;
}


/* qp_encode(s [, binary]) -> string */
static int l_qp_encode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  mc_buf_t out = MC_BUF_INIT;
  mc_qp_encode(&out, s, n, lua_toboolean(L, 2));
  return push_buf(L, &out);
}


/* qp_decode(s) -> string */
static int l_qp_decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  mc_buf_t out = MC_BUF_INIT;
  mc_qp_decode(&out, s, n);
  return push_buf(L, &out);
}


/* encode_header(name, value) -> "Name: value" folded and encoded, without
 * the final CRLF | fail, message */
static int l_encode_header(lua_State *L) {
  size_t n;
  const char *name = luaL_checkstring(L, 1);
  const char *value = luaL_checklstring(L, 2, &n);
  for (const char *p = name; *p; p++) {
    if (*p <= 32 || *p >= 127 || *p == ':')
      return luaL_argerror(L, 1, "not a header field name");
  }
  mc_error_t e;
  if (mc_hdr_check_value(name, value, n, &e) != 0) return mc_l_fail(L, &e);
  mc_buf_t out = MC_BUF_INIT;
  mc_hdr_t h;
  mc_hdr_begin(&h, &out, name);
  mc_hdr_unstructured(&h, value, n);
  return push_buf(L, &out);
}


/* decode_header(value) -> UTF-8 with encoded-words decoded */
static int l_decode_header(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  mc_buf_t out = MC_BUF_INIT;
  mc_hdr_decode(&out, s, n);
  return push_buf(L, &out);
}


/* utf8_valid(s) -> true | false, byte offset (1-based) of the first bad byte */
static int l_utf8_valid(lua_State *L) {
  size_t n, bad;
  const char *s = luaL_checklstring(L, 1, &n);
  int ok = mc_utf8_valid(s, n, &bad);
  lua_pushboolean(L, ok);
  if (ok) return 1;
  lua_pushinteger(L, (lua_Integer)bad + 1);
  return 2;
}


/* addresses(s) -> {{name=, address=}...} | fail, message: the mailboxes of
 * a header-style list ("A <a@x>, b@y"), each checked. */
static int l_addresses(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  mc_addrlist_t list = {0};
  mc_error_t e;
  if (mc_addr_parse(&list, s, n, &e) != 0) {
    mc_addrlist_free(&list);
    return mc_l_fail(L, &e);
  }
  lua_createtable(L, (int)list.count, 0);
  for (size_t i = 0; i < list.count; i++) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, list.items[i].addr);
    lua_setfield(L, -2, "address");
    if (list.items[i].name) {
      lua_pushstring(L, list.items[i].name);
      lua_setfield(L, -2, "name");
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  mc_addrlist_free(&list);
  return 1;
}


/* address_ok(s) -> whether s is one addr-spec as an envelope takes it
 * ("a@b": not "A <a@b>", a list, or one with CR LF in it), as a session
 * checks its recipients before it sends them. */
static int l_address_ok(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  mc_error_t e;
  lua_pushboolean(L, mc_addr_check(s, n, &e) == 0);
  return 1;
}


/* pairs(data) -> {key = value, ...} from "key\0value\0key\0value" (how
 * a campaign keeps a recipient's row in the store; a last key with no
 * NUL after it is left out, "key\0" gives an empty value). In C: it
 * runs for every recipient of a campaign. */
static int l_pairs(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  const char *end = s + n;
  /* Sized at once (and a slot more: a campaign adds unsubscribe_url),
   * not grown a power of two at a time. */
  int fields = 0;
  for (const char *p = s; p < end && (p = memchr(p, '\0', (size_t)(end - p))) != NULL; p++) fields++;
  lua_createtable(L, 0, fields / 2 + 2);
  while (s < end) {
    const char *key_end = memchr(s, '\0', (size_t)(end - s));
    if (key_end == NULL) break;
    const char *value = key_end + 1;
    const char *value_end = memchr(value, '\0', (size_t)(end - value));
    if (value_end == NULL) value_end = end;
    lua_pushlstring(L, s, (size_t)(key_end - s));
    lua_pushlstring(L, value, (size_t)(value_end - value));
    lua_rawset(L, -3);
    if (value_end == end) break;
    s = value_end + 1;
  }
  return 1;
}


/* One field of a row for pack: the key and the value as text. */
typedef struct {
  const char *key, *value;
  size_t klen, vlen;
} packed_field;

static int by_key(const void *a, const void *b) {
  const packed_field *x = a, *y = b;
  int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
  return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/* Whether a row's field goes into the store: a string key not starting
 * with "_" (the row's own bookkeeping, like _line) with a string or
 * number value. */
static int packs(lua_State *L) {
  size_t klen;
  if (lua_type(L, -2) != LUA_TSTRING) return 0;
  const char *k = lua_tolstring(L, -2, &klen);
  int type = lua_type(L, -1);
  return (klen == 0 || k[0] != '_') && (type == LUA_TSTRING || type == LUA_TNUMBER);
}

/* pack(row) -> "key\0value\0..." of row's fields, sorted by key: the
 * inverse of pairs. Numbers are written as tostring writes them. A NUL
 * in a key or value would shift every field after it when read back:
 * fail and a message naming the field. */
static int l_pack(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  size_t n = 0;
  for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) n += (size_t)packs(L);
  packed_field *f = lua_newuserdatauv(L, n ? n * sizeof *f : 1, 0);   /* index 2 */
  size_t i = 0;
  for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
    if (!packs(L) || i == n) continue;
    f[i].key = lua_tolstring(L, -2, &f[i].klen);
    if (lua_type(L, -1) == LUA_TNUMBER) {
      /* Its text lives on the stack below the iteration until the end. */
      luaL_checkstack(L, 3, "pack");
      lua_pushvalue(L, -1);
      lua_tolstring(L, -1, NULL);
      lua_insert(L, 3);
      f[i].value = lua_tolstring(L, 3, &f[i].vlen);
    } else {
      f[i].value = lua_tolstring(L, -1, &f[i].vlen);
    }
    i++;
  }
  for (size_t k = 0; k < i; k++) {
    if (memchr(f[k].key, '\0', f[k].klen) || memchr(f[k].value, '\0', f[k].vlen)) {
      luaL_pushfail(L);
      lua_pushfstring(L, "field '%s' has a NUL byte", f[k].key);
      return 2;
    }
  }
  qsort(f, i, sizeof *f, by_key);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t k = 0; k < i; k++) {
    if (k) luaL_addchar(&b, '\0');
    luaL_addlstring(&b, f[k].key, f[k].klen);
    luaL_addchar(&b, '\0');
    luaL_addlstring(&b, f[k].value, f[k].vlen);
  }
  luaL_pushresult(&b);
  return 1;
}


/* csv_split(line) -> {field, ...} of a CSV line without quotes (nearly
 * every line of a list: the fields are what lies between the commas), or
 * false when it has a quote (the caller's full parser reads it), or nil
 * and the 1-based position of the first byte that is not UTF-8. */
static int l_csv_split(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  if (memchr(s, '"', n)) { lua_pushboolean(L, 0); return 1; }
  size_t bad;
  if (!mc_utf8_valid(s, n, &bad)) {
    luaL_pushfail(L);
    lua_pushinteger(L, (lua_Integer)bad + 1);
    return 2;
  }
  lua_createtable(L, 4, 0);
  lua_Integer i = 0;
  const char *end = s + n;
  for (;;) {
    const char *comma = memchr(s, ',', (size_t)(end - s));
    const char *stop = comma ? comma : end;
    lua_pushlstring(L, s, (size_t)(stop - s));
    lua_rawseti(L, -2, ++i);
    if (comma == NULL) return 1;
    s = comma + 1;
  }
}


/* printable(s) -> s with its control bytes written \r, \n, \t or \xNN
 * (core/printable.h): a value from outside, fit for one line of a
 * message or a log. */
static int l_printable(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  if (n > ((size_t)-1 - 2) / 4) return luaL_error(L, "printable: string too long");
  /* (mc_printable keeps room for one escape and the NUL ending) */
  size_t size = 4 * n + 2;
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, size);
  mc_printable(out, size, s, n, n);
  luaL_pushresultsize(&b, strlen(out));
  return 1;
}


static const luaL_Reg functions[] = {
  {"csv_split", l_csv_split},
  {"printable", l_printable},
  {"pairs", l_pairs},
  {"pack", l_pack},
  {"addresses", l_addresses},
  {"address_ok", l_address_ok},
  {"b64_encode", l_b64_encode},
  {"b64_decode", l_b64_decode},
  {"qp_encode", l_qp_encode},
  {"qp_decode", l_qp_decode},
  {"encode_header", l_encode_header},
  {"decode_header", l_decode_header},
  {"utf8_valid", l_utf8_valid},
  {NULL, NULL},
};


void mc_l_open_codec(lua_State *L) {
  luaL_setfuncs(L, functions, 0);
}
