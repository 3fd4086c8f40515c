/* mailcast.core.dkim_verify: every DKIM-Signature of a message checked,
 * each with a key from the options, from a Lua function, or from DNS. */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/dkim_verify.h"
#include "core/dns.h"
#include "core/loop.h"
#include "l_dkim.h"

/* What dkim_verify holds while Lua may raise. */
typedef struct {
  mc_dkim_verify_t v;
  mc_dkim_key_t *key;          /* parsed for the signature being checked */
  struct event_base *base;     /* the process's loop, for DNS look-ups */
  mc_dns_t *dns;
  mc_txt_result_t txt;
} verify_state;

typedef struct {
  int key, keys, lookup;   /* stack indices of those options, 0 when absent */
  int dns;                 /* look keys up in DNS */
  const char *server;
  double timeout;
  int tries;
  int64_t now;
} verify_opts;

typedef struct {
  mc_txt_result_t r;
  int done;
} txt_wait;


static int verify_state_gc(lua_State *L) {
  verify_state *st = lua_touserdata(L, 1);
  mc_dkim_verify_end(&st->v);
  mc_dkim_key_free(st->key);
  mc_dns_free(st->dns);   /* nothing is pending: every look-up is waited for */
  mc_txt_result_free(&st->txt);
  memset(st, 0, sizeof *st);
  return 0;
}


/* A core message without its "dkim: " (the result says it is DKIM's). */
static const char *reason(const mc_error_t *e) {
  return strncmp(e->msg, "dkim: ", 6) == 0 ? e->msg + 6 : e->msg;
}


/* Parses text into st->key; NULL after giving signature i a permerror. */
static const mc_dkim_key_t *parse_key(verify_state *st, size_t i, const char *text, size_t n) {
  mc_error_t e;
  mc_dkim_key_free(st->key);
  st->key = mc_dkim_key_public(text, n, &e);
  if (st->key == NULL) mc_dkim_verify_set(&st->v, i, MC_DKIM_PERMERROR, reason(&e));
  return st->key;
}


/* The key the value at idx gives: a DkimKey, or PEM or key record text. */
static const mc_dkim_key_t *key_from_value(lua_State *L, verify_state *st, size_t i, int idx) {
  const mc_dkim_key_t *k = mc_l_dkim_tokey(L, idx);
  if (k) return k;
  if (lua_type(L, idx) != LUA_TSTRING)
    luaL_error(L, "dkim: a key must be a " MC_DKIM_KEY_CLASS " or a string, not %s", luaL_typename(L, idx));
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  return parse_key(st, i, s, n);
}


static void on_txt(mc_txt_result_t *r, void *arg) {
  txt_wait *w = arg;
  w->r = *r;
  w->done = 1;
}


/* The key published at name (RFC 6376 3.6.2): the first record that is
 * a key, when there are several. */
static const mc_dkim_key_t *key_from_dns(verify_state *st, size_t i, const char *name,
                                         const verify_opts *o) {
  mc_error_t e;
  if (st->base == NULL && (st->base = mc_loop()) == NULL) {
    mc_dkim_verify_set(&st->v, i, MC_DKIM_TEMPERROR, "cannot make an event loop");
    return NULL;
  }
  if (st->dns == NULL && (st->dns = mc_dns_new(st->base, o->server, o->timeout, o->tries, &e)) == NULL) {
    mc_dkim_verify_set(&st->v, i, MC_DKIM_TEMPERROR, e.msg);
    return NULL;
  }
  txt_wait w;
  memset(&w, 0, sizeof w);
  mc_dns_txt(st->dns, name, on_txt, &w);
  while (!w.done && event_base_loop(st->base, EVLOOP_ONCE) == 0) {}
  if (!w.done) {   /* the loop gave up: freeing the resolver answers the query */
    mc_dns_free(st->dns);
    st->dns = NULL;
  }
  st->txt = w.r;
  const mc_dkim_key_t *k = NULL;
  char why[640];
  if (st->txt.status == MC_DNS_TEMPFAIL) {
    mc_dkim_verify_set(&st->v, i, MC_DKIM_TEMPERROR, st->txt.error);
  } else if (st->txt.status != MC_DNS_OK || st->txt.nrecords == 0) {
    snprintf(why, sizeof why, "no key record at %s", name);
    mc_dkim_verify_set(&st->v, i, MC_DKIM_PERMERROR, why);
  } else {
    for (size_t r = 0; r < st->txt.nrecords && k == NULL; r++) {
      mc_dkim_key_free(st->key);
      st->key = mc_dkim_key_public(st->txt.records[r], strlen(st->txt.records[r]), &e);
      k = st->key;
    }
    if (k == NULL) mc_dkim_verify_set(&st->v, i, MC_DKIM_PERMERROR, reason(&e));
  }
  mc_txt_result_free(&st->txt);
  return k;
}


/* keys[name] as given, or with name in lower case (DNS names are not
 * case-sensitive); pushes it. */
static int get_named(lua_State *L, int keys, const char *name) {
  if (lua_getfield(L, keys, name) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  char lower[600];
  size_t n = strlen(name);
  if (n >= sizeof lower) n = sizeof lower - 1;
  for (size_t k = 0; k < n; k++) lower[k] = (char)tolower((unsigned char)name[k]);
  lower[n] = '\0';
  return lua_getfield(L, keys, lower) != LUA_TNIL;
}


/* The key for signature i, in the order: key, keys[name], key_lookup(name),
 * DNS; NULL after giving the signature its status. */
static const mc_dkim_key_t *find_key(lua_State *L, verify_state *st, size_t i, const verify_opts *o) {
  char name[600];
  mc_dkim_verify_key_name(&st->v, i, name, sizeof name);
  if (o->key) return key_from_value(L, st, i, o->key);
  if (o->keys) {
    int found = get_named(L, o->keys, name);
    const mc_dkim_key_t *k = found ? key_from_value(L, st, i, -1) : NULL;
    lua_pop(L, 1);
    if (found) return k;
  }
  if (o->lookup) {
    lua_pushvalue(L, o->lookup);
    lua_pushstring(L, name);
    lua_call(L, 1, 2);
    const mc_dkim_key_t *k = NULL;
    if (lua_toboolean(L, -2)) {
      k = key_from_value(L, st, i, -2);
    } else if (!o->dns) {
      const char *msg = lua_tostring(L, -1);
      lua_pushfstring(L, "key_lookup: %s", msg ? msg : "no key");
      mc_dkim_verify_set(&st->v, i, MC_DKIM_PERMERROR, lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
    if (k || !o->dns) return k;
  }
  if (o->dns) return key_from_dns(st, i, name, o);
  char why[640];
  snprintf(why, sizeof why, "no key for %s", name);
  mc_dkim_verify_set(&st->v, i, MC_DKIM_PERMERROR, why);
  return NULL;
}


/* Reads the options table at t (0: none), leaving key, keys and
 * key_lookup on the stack where o points to them. */
static void read_opts(lua_State *L, int t, verify_opts *o) {
  memset(o, 0, sizeof *o);
  o->timeout = 5;
  o->tries = 2;
  o->now = (int64_t)time(NULL);
  if (t == 0) {
    o->dns = 1;
    return;
  }
  if (lua_getfield(L, t, "key") != LUA_TNIL) o->key = lua_gettop(L);
  if (lua_getfield(L, t, "keys") != LUA_TNIL) {
    if (!lua_istable(L, -1)) luaL_error(L, "dkim: option 'keys' must be a table of keys by name");
    o->keys = lua_gettop(L);
  }
  if (lua_getfield(L, t, "key_lookup") != LUA_TNIL) {
    if (!lua_isfunction(L, -1)) luaL_error(L, "dkim: option 'key_lookup' must be a function");
    o->lookup = lua_gettop(L);
  }
  int type = lua_getfield(L, t, "dns");
  o->dns = type == LUA_TNIL ? !(o->key || o->keys || o->lookup) : lua_toboolean(L, -1);
  if (lua_getfield(L, t, "dns_server") == LUA_TSTRING) {
    o->server = lua_tostring(L, -1);   /* the table keeps it */
    o->dns = type == LUA_TNIL ? 1 : o->dns;
  }
  lua_getfield(L, t, "timeout");
  o->timeout = luaL_optnumber(L, -1, o->timeout);
  lua_getfield(L, t, "tries");
  o->tries = (int)luaL_optinteger(L, -1, o->tries);
  lua_getfield(L, t, "now");
  o->now = (int64_t)luaL_optinteger(L, -1, o->now);
  lua_pop(L, 5);
  if (o->timeout <= 0) luaL_error(L, "dkim: timeout must be positive");
}


static void set_string(lua_State *L, const char *key, const char *value) {
  if (value[0] == '\0') return;
  lua_pushstring(L, value);
  lua_setfield(L, -2, key);
}


static void set_int(lua_State *L, const char *key, int64_t value) {
  if (value < 0) return;
  lua_pushinteger(L, (lua_Integer)value);
  lua_setfield(L, -2, key);
}


static void push_result(lua_State *L, const mc_dkim_verify_t *v, size_t i) {
  const mc_dkim_result_t *r = &v->results[i];
  char name[600];
  lua_createtable(L, 0, 10);
  lua_pushstring(L, mc_dkim_status_name(r->status));
  lua_setfield(L, -2, "status");
  if (r->status != MC_DKIM_PASS) set_string(L, "reason", r->reason);
  set_string(L, "domain", r->domain);
  set_string(L, "selector", r->selector);
  set_string(L, "algorithm", r->algorithm);
  set_string(L, "identity", r->identity);
  if (r->domain[0] && r->selector[0]) {
    mc_dkim_verify_key_name(v, i, name, sizeof name);
    set_string(L, "key_name", name);
  }
  set_int(L, "timestamp", r->timestamp);
  set_int(L, "expire", r->expire);
  set_int(L, "body_length", r->body_length);
  if (r->testing) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "testing");
  }
}


/* dkim_verify(raw [, {key=, keys={[name]=key}, key_lookup=function(name),
 *   dns=, dns_server="127.0.0.1:53", timeout=, tries=, max=, now=}])
 *   -> {{status="pass"|"fail"|"permerror"|"temperror", reason=, domain=,
 *        selector=, algorithm=, identity=, key_name=, timestamp=, expire=,
 *        body_length=, testing=}...} | fail, message */
int mc_l_dkim_verify(lua_State *L) {
  size_t len;
  const char *raw = luaL_checklstring(L, 1, &len);
  int t = lua_isnoneornil(L, 2) ? 0 : 2;
  if (t) luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer max = 0;
  if (t) {
    lua_getfield(L, 2, "max");
    max = luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    if (max < 0) return luaL_error(L, "dkim: max must not be negative");
  }
  verify_opts o;
  read_opts(L, t, &o);
  verify_state *st = mc_l_guard(L, sizeof *st, verify_state_gc);
  int guard = lua_gettop(L);
  mc_error_t e;
  if (mc_dkim_verify_begin(&st->v, raw, len, (size_t)max, &e) != 0) return mc_l_fail(L, &e);
  for (size_t i = 0; i < st->v.count; i++) {
    if (st->v.results[i].status != MC_DKIM_NONE) continue;
    const mc_dkim_key_t *key = find_key(L, st, i, &o);
    if (key) mc_dkim_verify_check(&st->v, i, key, o.now);
    mc_dkim_key_free(st->key);
    st->key = NULL;
  }
  lua_createtable(L, (int)st->v.count, 0);
  for (size_t i = 0; i < st->v.count; i++) {
    push_result(L, &st->v, i);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  mc_l_release(L, guard, verify_state_gc);
  return 1;
}
