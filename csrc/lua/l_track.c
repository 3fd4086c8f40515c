/* mailcast.core tracking: track_html (links and open pixel), token_make
 * and token_check (signed tokens). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "core/html_scan.h"
#include "core/token.h"
#include "core/track.h"

#define KEY_CLASS "mailcast.TrackKey"
#define KEY_CACHE "mailcast.track.keys"   /* registry: secret -> key, weak values */
#define SECRET_MIN 16                     /* bytes; shorter is a mistake, not a secret */

static const char *const kinds[] = {"open", "click", "unsubscribe", NULL};


/* Keys ---------------------------------------------------------------- */

typedef struct {
  mc_token_key_t *key;   /* NULL once collected */
} key_box;


static int key_gc(lua_State *L) {
  key_box *b = luaL_checkudata(L, 1, KEY_CLASS);
  mc_token_key_free(b->key);
  b->key = NULL;
  return 0;
}


/* The key for the secret at idx, made once per secret and cached while
 * it is in use. Its box is left on the stack top, which keeps it alive
 * while the caller uses the key; NULL with e set when OpenSSL fails. */
static mc_token_key_t *get_key(lua_State *L, int idx, mc_error_t *e) {
  idx = lua_absindex(L, idx);
  size_t len;
  const char *secret = luaL_checklstring(L, idx, &len);
  if (len < SECRET_MIN) luaL_argerror(L, idx, "a secret has at least 16 bytes");
  lua_getfield(L, LUA_REGISTRYINDEX, KEY_CACHE);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TUSERDATA && ((key_box *)lua_touserdata(L, -1))->key) {
    lua_remove(L, -2);
    return ((key_box *)lua_touserdata(L, -1))->key;
  }
  lua_pop(L, 1);
  key_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->key = NULL;
  luaL_setmetatable(L, KEY_CLASS);
  b->key = mc_token_key_new(secret, len, e);
  if (b->key == NULL) return NULL;
  lua_pushvalue(L, idx);
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);
  lua_remove(L, -2);
  return b->key;
}


/* Field key of the table at t: an integer from 0 to max (0 when absent
 * and not required); fname names the function in errors. */
static lua_Integer id_field(lua_State *L, int t, const char *key, int required, lua_Integer max,
                            const char *fname) {
  if (lua_getfield(L, t, key) == LUA_TNIL) {
    if (required) luaL_error(L, "%s: '%s' is required", fname, key);
    lua_pop(L, 1);
    return 0;
  }
  int ok;
  lua_Integer v = lua_tointegerx(L, -1, &ok);
  if (!ok || v < 0 || v > max)
    luaL_error(L, "%s: '%s' must be an integer from 0 to %I", fname, key, max);
  lua_pop(L, 1);
  return v;
}


/* track_html ------------------------------------------------------------ */

/* What track_html holds while it calls Lua, freed by the guard's __gc
 * whether it returns or a callback raises. */
typedef struct {
  mc_html_scan_t scan;
  mc_buf_t hrefs;           /* the new hrefs, one after another */
  size_t *href_at;          /* per link: its new href's offset in hrefs, or MC_HTML_NONE */
  size_t *href_len;
  mc_track_edit_t *edits;
  mc_buf_t pixel;           /* the open pixel's URL */
  mc_buf_t out;
} track_state;


static int track_state_gc(lua_State *L) {
  track_state *st = lua_touserdata(L, 1);
  mc_html_scan_free(&st->scan);
  mc_buf_free(&st->hrefs);
  mc_buf_free(&st->pixel);
  mc_buf_free(&st->out);
  free(st->href_at);
  free(st->href_len);
  free(st->edits);
  st->href_at = st->href_len = NULL;
  st->edits = NULL;
  return 0;
}


/* What one track_html call works with. Tokens come from the Lua function
 * at token_fn, or, when key is set, are made here for tok's campaign and
 * recipient without a call into Lua per link. */
typedef struct {
  int token_fn, links_fn;   /* stack indices; 0 when there is none */
  int list;                 /* the list of links is wanted */
  int stored;               /* stack index of {[index] = url} to compare with; 0: none */
  int changed;              /* stack index of the table of differing links (nil until one) */
  int skip_differing;       /* a link unlike its stored URL is left alone, not reported */
  mc_token_key_t *key;
  mc_token_t tok;
  const char *base;
  size_t base_len;
  mc_track_opts_t opts;
  track_state *st;
} track_job;


/* Pushes fail and "track: link N: msg" ("open pixel" for index 0), for
 * the caller to return; returns -1. */
static int failure(lua_State *L, lua_Integer index, const char *msg) {
  luaL_pushfail(L);
  if (index > 0) lua_pushfstring(L, "track: link %I: %s", index, msg);
  else lua_pushfstring(L, "track: open pixel: %s", msg);
  return -1;
}


/* Calls the function at fn with the nargs arguments on the stack top:
 * 0 with its result pushed, or -1 with fail and a message. */
static int call(lua_State *L, int fn, int nargs, lua_Integer index) {
  lua_pushvalue(L, fn);
  lua_insert(L, -nargs - 1);
  if (lua_pcall(L, nargs, 1, 0) == LUA_OK) return 0;
  return failure(L, index, luaL_tolstring(L, -1, NULL));
}


/* A token may only hold what a URL path segment holds unescaped. */
static int url_safe(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.' || c == '~'))
      return 0;
  }
  return 1;
}


/* A token of kind for link index (0: the pixel) whose url and text are
 * at stack indices url and text (0: nil); appends base/path/token to out
 * and returns 1, 0 when the token function said false, or -1 with fail
 * and a message pushed. */
static int make_token(lua_State *L, const track_job *j, mc_token_kind_t kind,
                      lua_Integer index, int url, int text, const char *path, mc_buf_t *out) {
  if (j->key) {
    if (index > MC_TOKEN_LINK_MAX) return failure(L, index, "too many links for a token");
    mc_token_t t = j->tok;
    t.kind = kind;
    t.link = (uint32_t)index;
    char tok[MC_TOKEN_MAX];
    mc_error_t e;
    size_t len = mc_token_make(j->key, &t, tok, &e);
    if (len == 0) return failure(L, index, e.msg);
    mc_track_url(out, j->base, j->base_len, path, tok, len);
    return 1;
  }
  lua_pushstring(L, kinds[kind - 1]);
  lua_pushinteger(L, index);
  if (url) lua_pushvalue(L, url); else lua_pushnil(L);
  if (text) lua_pushvalue(L, text); else lua_pushnil(L);
  if (call(L, j->token_fn, 4, index) != 0) return -1;
  if (lua_type(L, -1) != LUA_TSTRING) {
    if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
      lua_pop(L, 1);
      return 0;
    }
    return failure(L, index, lua_pushfstring(L, "the token function returned a %s, not a token or false",
                                             luaL_typename(L, -1)));
  }
  size_t len;
  const char *tok = lua_tolstring(L, -1, &len);
  if (!url_safe(tok, len))
    return failure(L, index, lua_pushfstring(L, "the token '%s' is not URL-safe", tok));
  mc_track_url(out, j->base, j->base_len, path, tok, len);
  lua_pop(L, 1);
  return 1;
}


/* Asks the links function about link index, whose url and text are at
 * stack indices url and text: 1 to track it (a new URL it returned then
 * in the url's place), 0 to leave it alone, -1 with fail and a message
 * pushed. */
static int ask_links(lua_State *L, const track_job *j, lua_Integer index, int url, int text) {
  lua_pushinteger(L, index);
  lua_pushvalue(L, url);
  lua_pushvalue(L, text);
  if (call(L, j->links_fn, 3, index) != 0) return -1;
  int type = lua_type(L, -1);
  if (type == LUA_TSTRING) {
    lua_replace(L, url);
    return 1;
  }
  if (type == LUA_TNIL || type == LUA_TBOOLEAN) {
    int track = type == LUA_TNIL || lua_toboolean(L, -1);
    lua_pop(L, 1);
    return track;
  }
  return failure(L, index, lua_pushfstring(L, "the links function returned a %s, not a URL or false",
                                           luaL_typename(L, -1)));
}


static void push_span(lua_State *L, const mc_buf_t *b, size_t at, size_t len) {
  lua_pushlstring(L, b->data ? b->data + at : "", len);
}


/* How link index (its URL at stack index url, or still in the scan when
 * url is 0) compares with the stored URL of its index: 0 the same, 1
 * none stored, 2 another one, -1 not a string there. Nothing is made in
 * Lua for a link that matches. */
static int compare_stored(lua_State *L, const track_job *j, lua_Integer index, int url,
                          const mc_html_link_t *l) {
  int type = lua_rawgeti(L, j->stored, index);
  int r = 1;
  if (type == LUA_TSTRING) {
    size_t n, m;
    const char *want = lua_tolstring(L, -1, &n), *have;
    if (url) have = lua_tolstring(L, url, &m);
    else {
      have = j->st->scan.strings.data ? j->st->scan.strings.data + l->url : "";
      m = l->url_len;
    }
    r = n == m && memcmp(want, have, n) == 0 ? 0 : 2;
  } else if (type != LUA_TNIL) r = -1;
  lua_pop(L, 1);
  return r;
}


/* changed[index] = the link's URL, the table made on the first. */
static void report_changed(lua_State *L, const track_job *j, lua_Integer index, int url,
                           const mc_html_link_t *l) {
  if (lua_isnil(L, j->changed)) {
    lua_createtable(L, 0, 4);
    lua_replace(L, j->changed);
  }
  if (url) lua_pushvalue(L, url);
  else push_span(L, &j->st->scan.strings, l->url, l->url_len);
  lua_rawseti(L, j->changed, index);
}


/* Decides about link i and, when a list is wanted, appends its entry
 * {index=, url=, text=, tracked=, skip=} to the list on the top of the
 * stack: 0, or -1 with fail and a message pushed. Without a list and a
 * Lua function to call, no Lua value is made for the link at all. */
static int one_link(lua_State *L, const track_job *j, size_t i) {
  track_state *st = j->st;
  const mc_html_link_t *l = &st->scan.links[i];
  lua_Integer index = (lua_Integer)i + 1;
  const char *why = mc_track_skip(&st->scan, l, &j->opts);
  int base = lua_gettop(L), url = 0, text = 0;
  if (j->list || (why == NULL && (j->links_fn || j->token_fn))) {
    push_span(L, &st->scan.strings, l->url, l->url_len);
    push_span(L, &st->scan.strings, l->text, l->text_len);
    url = base + 1;
    text = base + 2;
  }
  if (why == NULL && j->links_fn) {
    int r = ask_links(L, j, index, url, text);
    if (r < 0) return -1;
    if (r == 0) why = "hook";
  }
  int differs = 0;
  if (why == NULL && j->stored) {
    differs = compare_stored(L, j, index, url, l);
    if (differs < 0) return failure(L, index, "the stored links must be URLs by index");
    if (differs == 2 && j->skip_differing) why = "personal";
  }
  if (why == NULL) {
    size_t at = st->hrefs.len;
    int r = make_token(L, j, MC_TOKEN_CLICK, index, url, text, "c", &st->hrefs);
    if (r < 0) return -1;
    if (r == 0) why = "token";
    else {
      st->href_at[i] = at;
      st->href_len[i] = st->hrefs.len - at;
      if (differs) report_changed(L, j, index, url, l);
    }
  }
  if (j->list) {
    lua_createtable(L, 0, 4);   /* a fifth field, skip, is the exception */
    int entry = lua_gettop(L);
    lua_pushvalue(L, url);
    lua_setfield(L, entry, "url");
    lua_pushvalue(L, text);
    lua_setfield(L, entry, "text");
    lua_pushinteger(L, index);
    lua_setfield(L, entry, "index");
    lua_pushboolean(L, why == NULL);
    lua_setfield(L, entry, "tracked");
    if (why) {
      lua_pushstring(L, why);
      lua_setfield(L, entry, "skip");
    }
    lua_rawseti(L, base, index);
  }
  lua_settop(L, base);
  return 0;
}


/* An optional string field of the table at t, pushed; NULL when absent. */
static const char *opt_field(lua_State *L, int t, const char *key, size_t *len) {
  int type = lua_getfield(L, t, key);
  if (type == LUA_TNIL) return NULL;
  if (type != LUA_TSTRING) luaL_error(L, "track_html: '%s' must be a string", key);
  return lua_tolstring(L, -1, len);
}


/* The token option at idx: a function, or {secret=, campaign=,
 * recipient=} for tokens made here (the key's box is pushed). Returns 0,
 * or fail and a message pushed (2) when the key cannot be made. */
static int read_token(lua_State *L, int idx, track_job *j) {
  int type = lua_type(L, idx);
  if (type == LUA_TFUNCTION) {
    j->token_fn = idx;
    return 0;
  }
  if (type != LUA_TTABLE) return luaL_error(L, "track_html: 'token' must be a function or a table");
  j->tok.campaign = (uint64_t)id_field(L, idx, "campaign", 1, MC_TOKEN_ID_MAX, "track_html");
  j->tok.recipient = (uint64_t)id_field(L, idx, "recipient", 0, MC_TOKEN_ID_MAX, "track_html");
  lua_getfield(L, idx, "secret");
  if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "track_html: 'token.secret' must be a string");
  mc_error_t e;
  j->key = get_key(L, -1, &e);
  if (j->key == NULL) return mc_l_fail(L, &e);
  return 0;
}


/* Sets up the edits from the new hrefs and writes the document; pushes
 * it (1), or fail and a message (2). */
static int rewrite(lua_State *L, const char *html, size_t n, track_state *st, int pixel) {
  mc_error_t e;
  for (size_t i = 0; i < st->scan.count; i++) {
    if (st->href_at[i] == MC_HTML_NONE) continue;
    st->edits[i].href = st->hrefs.data + st->href_at[i];
    st->edits[i].len = st->href_len[i];
  }
  if (st->hrefs.failed || st->pixel.failed) {
    mc_error_set(&e, "track: not enough memory");
    return mc_l_fail(L, &e);
  }
  if (mc_track_rewrite(&st->out, html, n, &st->scan, st->edits,
                       pixel ? st->pixel.data : NULL, st->pixel.len, &e) != 0)
    return mc_l_fail(L, &e);
  push_span(L, &st->out, 0, st->out.len);
  return 1;
}


/* track_html(html, {base=, token=function(kind, index, url, text) ->
 *   token | false, or token={secret=, campaign=, recipient=},
 *   links=function(index, url, text) -> url | false | nil, pixel=true,
 *   unsubscribe_url=, list=true, stored={[index] = url}, differ="report"})
 *   -> html, {{index=, url=, text=, tracked=, skip=}...} (only html with
 *   list=false) | fail, message
 * With stored (the campaign's links), a third result: {[index] = url} of
 * the tracked links whose URL is not the stored one of their index, or
 * nil when every one is. differ="skip" leaves a link whose index has
 * another stored URL alone instead (skip "personal"), so only links with
 * no stored URL yet are reported. The second result is nil without list. */
static int l_track_html(lua_State *L) {
  size_t n;
  const char *html = luaL_checklstring(L, 1, &n);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  track_job j = {0};
  j.base = opt_field(L, 2, "base", &j.base_len);                        /* 3 */
  if (j.base == NULL || j.base_len == 0) return luaL_error(L, "track_html: 'base' is required");
  j.opts.base = j.base;
  j.opts.base_len = j.base_len;
  j.opts.unsubscribe = opt_field(L, 2, "unsubscribe_url", &j.opts.unsubscribe_len); /* 4 */
  lua_settop(L, 4);
  lua_getfield(L, 2, "links");                                          /* 5 */
  if (lua_isfunction(L, 5)) j.links_fn = 5;
  else if (!lua_isnil(L, 5)) return luaL_error(L, "track_html: 'links' must be a function");
  int pixel = mc_l_optbool(L, 2, "pixel", 1);
  j.list = mc_l_optbool(L, 2, "list", 1);
  lua_getfield(L, 2, "stored");                                         /* 6 */
  if (lua_istable(L, 6)) j.stored = 6;
  else if (!lua_isnil(L, 6)) return luaL_error(L, "track_html: 'stored' must be a table");
  lua_getfield(L, 2, "differ");                                         /* 7 */
  if (!lua_isnil(L, 7)) {
    const char *differ = lua_tostring(L, 7);
    if (differ == NULL || (strcmp(differ, "skip") != 0 && strcmp(differ, "report") != 0))
      return luaL_error(L, "track_html: 'differ' must be \"report\" or \"skip\"");
    j.skip_differing = differ[0] == 's';
  }
  lua_getfield(L, 2, "token");                                          /* 8 */
  if (read_token(L, 8, &j) != 0) return 2;                              /* 9: a key's box */
  track_state *st = mc_l_guard(L, sizeof *st, track_state_gc);
  int guard = lua_gettop(L);
  j.st = st;
  st->scan.body_end = MC_HTML_NONE;
  mc_error_t e;
  if (mc_html_scan(&st->scan, html, n, &e) != 0) {
    mc_l_release(L, guard, track_state_gc);
    return mc_l_fail(L, &e);
  }
  mc_track_prepare(&j.opts, &st->scan);
  size_t count = st->scan.count, room = count ? count : 1;
  st->href_at = malloc(room * sizeof *st->href_at);
  st->href_len = malloc(room * sizeof *st->href_len);
  st->edits = calloc(room, sizeof *st->edits);
  if (!st->href_at || !st->href_len || !st->edits) return luaL_error(L, "not enough memory");
  for (size_t i = 0; i < count; i++) st->href_at[i] = MC_HTML_NONE;
  lua_pushnil(L);   /* the differing links, made when there is one */
  j.changed = lua_gettop(L);
  if (j.list) lua_createtable(L, count < INT32_MAX ? (int)count : 0, 0);   /* one_link's stack top */
  else lua_pushnil(L);
  int list = lua_gettop(L), results = 0;
  for (size_t i = 0; i < count && results == 0; i++)
    if (one_link(L, &j, i) != 0) results = 2;
  if (results == 0 && pixel) {
    int r = make_token(L, &j, MC_TOKEN_OPEN, 0, 0, 0, "o", &st->pixel);
    if (r < 0) results = 2;
    pixel = r > 0;
  }
  if (results == 0) {
    results = rewrite(L, html, n, st, pixel);
    if (results == 1 && (j.list || j.stored)) {
      lua_pushvalue(L, list);
      results = 2;
      if (j.stored) {
        lua_pushvalue(L, j.changed);
        results = 3;
      }
    }
  }
  mc_l_release(L, guard, track_state_gc);
  return results;
}


/* token_make / token_check ------------------------------------------- */

/* token_make(secret, {campaign=, recipient=0, link=0, kind="click" with
 * a link, else "open"}) -> token | fail, message */
static int l_token_make(lua_State *L) {
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  mc_token_t t = {0};
  t.campaign = (uint64_t)id_field(L, 2, "campaign", 1, MC_TOKEN_ID_MAX, "token_make");
  t.recipient = (uint64_t)id_field(L, 2, "recipient", 0, MC_TOKEN_ID_MAX, "token_make");
  t.link = (uint32_t)id_field(L, 2, "link", 0, MC_TOKEN_LINK_MAX, "token_make");
  lua_getfield(L, 2, "kind");
  const char *kind = lua_isnil(L, -1) ? (t.link ? "click" : "open") : lua_tostring(L, -1);
  int k = 0;
  while (kinds[k] && !(kind && strcmp(kinds[k], kind) == 0)) k++;
  if (kinds[k] == NULL) return luaL_error(L, "token_make: 'kind' must be open, click or unsubscribe");
  t.kind = (mc_token_kind_t)(k + 1);
  if ((t.kind == MC_TOKEN_CLICK) != (t.link > 0))
    return luaL_error(L, "token_make: a click names a link from 1, an %s none", kind);
  lua_pop(L, 1);
  mc_error_t e;
  mc_token_key_t *key = get_key(L, 1, &e);
  if (key == NULL) return mc_l_fail(L, &e);
  char out[MC_TOKEN_MAX];
  size_t len = mc_token_make(key, &t, out, &e);
  if (len == 0) return mc_l_fail(L, &e);
  lua_pushlstring(L, out, len);
  return 1;
}


/* token_check(secret, token) -> {kind=, campaign=, recipient=, link=} |
 * fail, "token: malformed" | "token: truncated" | "token: unknown
 * version" | "token: bad signature" */
static int l_token_check(lua_State *L) {
  size_t n;
  const char *tok = luaL_checklstring(L, 2, &n);
  lua_settop(L, 2);
  mc_error_t e;
  mc_token_key_t *key = get_key(L, 1, &e);
  if (key == NULL) return mc_l_fail(L, &e);
  mc_token_t t;
  if (mc_token_check(key, tok, n, &t, &e) != 0) return mc_l_fail(L, &e);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, kinds[t.kind - 1]);
  lua_setfield(L, -2, "kind");
  lua_pushinteger(L, (lua_Integer)t.campaign);
  lua_setfield(L, -2, "campaign");
  lua_pushinteger(L, (lua_Integer)t.recipient);
  lua_setfield(L, -2, "recipient");
  lua_pushinteger(L, (lua_Integer)t.link);
  lua_setfield(L, -2, "link");
  return 1;
}


static const luaL_Reg key_meta[] = {{"__gc", key_gc}, {NULL, NULL}};
static const luaL_Reg key_methods[] = {{NULL, NULL}};

static const luaL_Reg functions[] = {
  {"track_html", l_track_html},
  {"token_make", l_token_make},
  {"token_check", l_token_check},
  {NULL, NULL},
};


void mc_l_open_track(lua_State *L) {
  mc_l_newclass(L, KEY_CLASS, key_meta, key_methods);
  lua_newtable(L);   /* the key cache: an entry goes when its key is collected */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, KEY_CACHE);
  luaL_setfuncs(L, functions, 0);
}
