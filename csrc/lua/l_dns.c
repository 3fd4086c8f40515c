/* mailcast.core.mx: an MX look-up that drives the process's loop until it
 * answers (the sessions open on the loop go on meanwhile). */
#include <string.h>

#include <event2/event.h>

#include "binding.h"
#include "core/dns.h"
#include "core/loop.h"

typedef struct {
  mc_mx_result_t r;
  int done;
} mx_wait;


static void on_mx(mc_mx_result_t *r, void *arg) {
  mx_wait *w = arg;
  w->r = *r;
  w->done = 1;
}


static void push_result(lua_State *L, const mc_mx_result_t *r) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, mc_dns_status_name(r->status));
  lua_setfield(L, -2, "status");
  lua_pushboolean(L, r->implicit);
  lua_setfield(L, -2, "implicit");
  if (r->error[0]) {
    lua_pushstring(L, r->error);
    lua_setfield(L, -2, "error");
  }
  lua_createtable(L, (int)r->nhosts, 0);
  for (size_t i = 0; i < r->nhosts; i++) {
    const mc_mx_host_t *h = &r->hosts[i];
    lua_createtable(L, 0, 3);
    lua_pushstring(L, h->name);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, h->preference);
    lua_setfield(L, -2, "preference");
    lua_createtable(L, (int)h->naddrs, 0);
    for (size_t k = 0; k < h->naddrs; k++) {
      lua_pushstring(L, h->addrs[k]);
      lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    lua_setfield(L, -2, "addresses");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "hosts");
}


/* mx(domain [, {server = "127.0.0.1:5353", timeout = 5, tries = 2}])
 *   -> {status = "ok"|"null_mx"|"no_domain"|"no_address"|"temporary",
 *       implicit=, error=, hosts = {{name=, preference=, addresses={}}...}}
 *   | fail, message (the resolver could not be set up) */
static int l_mx(lua_State *L) {
  const char *domain = luaL_checkstring(L, 1);
  const char *server = NULL;
  double timeout = 5;
  lua_Integer tries = 2;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "server");
    server = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 2, "timeout");
    timeout = luaL_optnumber(L, -1, timeout);
    lua_getfield(L, 2, "tries");
    tries = luaL_optinteger(L, -1, tries);
    lua_pop(L, 3);   /* the table keeps server alive */
  }
  if (timeout <= 0) return luaL_argerror(L, 2, "timeout must be positive");
  struct event_base *base = mc_loop();
  if (base == NULL) return luaL_error(L, "cannot make an event loop");
  mc_error_t e;
  mc_dns_t *dns = mc_dns_new(base, server, timeout, (int)tries, &e);
  if (dns == NULL) return mc_l_fail(L, &e);
  mx_wait w;
  memset(&w, 0, sizeof w);
  mc_dns_mx(dns, domain, on_mx, &w);
  while (!w.done && event_base_loop(base, EVLOOP_ONCE) == 0) {}
  mc_dns_free(dns);   /* runs a pending callback, if the loop gave up */
  push_result(L, &w.r);   /* only raises on memory; then w.r leaks once */
  mc_mx_result_free(&w.r);
  return 1;
}


void mc_l_open_dns(lua_State *L) {
  lua_pushcfunction(L, l_mx);
  lua_setfield(L, -2, "mx");
}
