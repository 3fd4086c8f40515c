/* mailcast.core.mx: an MX look-up that drives the process's loop until it
 * answers (the sessions open on the loop go on meanwhile). */
#include <string.h>

#include <event2/event.h>

#include "binding.h"
#include "l_lookups.h"
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


/* mx(domain [, {server = "127.0.0.1:5353", timeout = 5, tries = 2}])
 *   -> {status = "ok"|"null_mx"|"no_domain"|"no_address"|"temporary",
 *       implicit=, error=, hosts = {{name=, preference=, addresses={}}...}}
 *   | fail, message (the resolver could not be set up) */
static int l_mx(lua_State *L) {
  const char *domain = luaL_checkstring(L, 1);
  mc_l_dnsopts_t o;
  mc_l_dnsopts(L, 2, &o);
  struct event_base *base = mc_loop();
  if (base == NULL) return luaL_error(L, "cannot make an event loop");
  mc_error_t e;
  mc_dns_t *dns = mc_dns_new(base, o.server, o.timeout, o.tries, &e);
  if (dns == NULL) return mc_l_fail(L, &e);
  mx_wait w;
  memset(&w, 0, sizeof w);
  mc_dns_mx(dns, domain, on_mx, &w);
  while (!w.done && event_base_loop(base, EVLOOP_ONCE) == 0) {}
  mc_dns_free(dns);   /* runs a pending callback, if the loop gave up */
  mc_l_pushmx(L, &w.r);   /* only raises on memory; then w.r leaks once */
  mc_mx_result_free(&w.r);
  return 1;
}


typedef struct {
  mc_txt_result_t r;
  int done;
} records_wait;


static void on_records(mc_txt_result_t *r, void *arg) {
  records_wait *w = arg;
  w->r = *r;
  w->done = 1;
}


/* dns_records(type, name [, {server=, timeout=, tries=}]) -> {status =
 *   "ok"|"no_domain"|"temporary", records = {...}, error=}
 *   | fail, message (the resolver could not be set up). type is "a",
 *   "aaaa", "ptr", "mx" (host names) or "txt". */
static int l_dns_records(lua_State *L) {
  static const char *const types[] = {"a", "aaaa", "ptr", "mx", "txt", NULL};
  mc_dns_type_t type = (mc_dns_type_t)luaL_checkoption(L, 1, NULL, types);
  const char *name = luaL_checkstring(L, 2);
  mc_l_dnsopts_t o;
  mc_l_dnsopts(L, 3, &o);
  struct event_base *base = mc_loop();
  if (base == NULL) return luaL_error(L, "cannot make an event loop");
  lua_createtable(L, 0, 3);   /* made before the look-up: no raise while it holds memory */
  lua_createtable(L, 0, 0);
  mc_error_t e;
  mc_dns_t *dns = mc_dns_new(base, o.server, o.timeout, o.tries, &e);
  if (dns == NULL) return mc_l_fail(L, &e);
  records_wait w;
  memset(&w, 0, sizeof w);
  mc_dns_records(dns, name, type, on_records, &w);
  while (!w.done && event_base_loop(base, EVLOOP_ONCE) == 0) {}
  mc_dns_free(dns);   /* runs a pending callback, if the loop gave up */
  for (size_t i = 0; i < w.r.nrecords; i++) {
    lua_pushstring(L, w.r.records[i]);   /* only raises on memory; then w.r leaks once */
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "records");
  lua_pushstring(L, w.r.status == MC_DNS_OK ? "ok" : w.r.status == MC_DNS_NO_DOMAIN ? "no_domain" : "temporary");
  lua_setfield(L, -2, "status");
  if (w.r.status != MC_DNS_OK) {
    lua_pushstring(L, w.r.error);
    lua_setfield(L, -2, "error");
  }
  mc_txt_result_free(&w.r);
  return 1;
}


void mc_l_open_dns(lua_State *L) {
  lua_pushcfunction(L, l_mx);
  lua_setfield(L, -2, "mx");
  lua_pushcfunction(L, l_dns_records);
  lua_setfield(L, -2, "dns_records");
}
