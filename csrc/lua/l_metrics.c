/* mailcast.MetricsServer: the --metrics listener of a run
 * (core/metrics_http.h) on the engine's loop; the run gives it a new
 * page as it goes. */
#include <string.h>

#include "binding.h"
#include "core/loop.h"
#include "core/metrics_http.h"

#define MC_METRICS_CLASS "mailcast.MetricsServer"

typedef struct {
  mc_metrics_http_t *m;   /* NULL once closed */
} metrics_box;


static mc_metrics_http_t *check(lua_State *L) {
  metrics_box *box = luaL_checkudata(L, 1, MC_METRICS_CLASS);
  if (box->m == NULL) luaL_error(L, "attempt to use a closed metrics server");
  return box->m;
}


/* metrics_server(host, port) -> MetricsServer | fail, message: listening
 * on the engine's loop (port 0: any free one); it answers while the loop
 * turns (a run's dispatcher turns it). */
static int l_metrics_server(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  luaL_argcheck(L, port >= 0 && port <= 65535, 2, "a port is 0 to 65535");
  metrics_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->m = NULL;
  luaL_setmetatable(L, MC_METRICS_CLASS);
  mc_error_t e;
  box->m = mc_metrics_http_new(mc_loop(), host, (int)port, &e);
  if (box->m == NULL) return mc_l_fail(L, &e);
  return 1;
}


/* m:set(page): what /metrics answers from now on. */
static int m_set(lua_State *L) {
  mc_metrics_http_t *m = check(L);
  size_t len;
  const char *text = luaL_checklstring(L, 2, &len);
  if (mc_metrics_http_set(m, text, len) != 0) return luaL_error(L, "not enough memory");
  return 0;
}


/* m:port() -> the port it listens on */
static int m_port(lua_State *L) {
  lua_pushinteger(L, mc_metrics_http_port(check(L)));
  return 1;
}


/* m:requests() -> how many requests it has answered */
static int m_requests(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mc_metrics_http_requests(check(L)));
  return 1;
}


static int m_close(lua_State *L) {
  metrics_box *box = luaL_checkudata(L, 1, MC_METRICS_CLASS);
  mc_metrics_http_free(box->m);
  box->m = NULL;
  return 0;
}


static const luaL_Reg meta[] = {{"__gc", m_close}, {"__close", m_close}, {NULL, NULL}};
static const luaL_Reg methods[] = {
  {"set", m_set}, {"port", m_port}, {"requests", m_requests}, {"close", m_close}, {NULL, NULL},
};


void mc_l_open_metrics(lua_State *L) {
  mc_l_newclass(L, MC_METRICS_CLASS, meta, methods);
  lua_pushcfunction(L, l_metrics_server);
  lua_setfield(L, -2, "metrics_server");
}
