/* mailcast.core.serve: the tracking endpoints (open pixel, click
 * redirect, one-click unsubscribe) and the webhooks fed from the store's
 * events, run until SIGINT or SIGTERM; webhook_register names a
 * campaign's own webhook URLs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "binding.h"
#include "core/loop.h"
#include "core/http_dashboard.h"
#include "core/http_server.h"
#include "core/store.h"
#include "core/token.h"
#include "core/webhook.h"
#include "core/webhook_feed.h"

#define SECRET_MIN 16   /* as for tracking tokens */

typedef struct {
  struct event_base *base;
  mc_store_t *store;
  mc_token_key_t *key;
  mc_http_t *http;
  mc_webhook_t *webhook;
  mc_dash_t *dashboard;
  struct event *sigs[2];
} serve_state;


/* The server first: it writes what waits into the store before the store
 * closes. */
static int serve_state_gc(lua_State *L) {
  serve_state *st = lua_touserdata(L, 1);
  mc_http_free(st->http);
  mc_dash_free(st->dashboard);    /* after the server: it answers no request after this */
  mc_webhook_free(st->webhook);   /* before the loop it uses */
  mc_l_signals_free(st->sigs);
  mc_token_key_free(st->key);
  mc_store_close(st->store);
  memset(st, 0, sizeof *st);
  return 0;
}


/* The n strings of the list at index t as a NULL-ended C array, which
 * the GC frees; the table keeps the strings. Raises on an item that is
 * not a string (what names the list in the message). */
static const char **string_list(lua_State *L, int t, size_t n, const char *what) {
  const char **list = lua_newuserdatauv(L, (n + 1) * sizeof *list, 0);
  for (size_t i = 0; i < n; i++) {
    if (lua_geti(L, t, (lua_Integer)i + 1) != LUA_TSTRING)
      luaL_error(L, "%s[%d] is not a string", what, (int)i + 1);
    list[i] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  list[n] = NULL;
  return list;
}


/* Makes st->webhook from the options at index 1 when there is a
 * webhook secret (campaigns may name receivers of their own) or URLs are
 * named: 0, or -1 with e set (misuse raises). */
static int open_webhooks(lua_State *L, serve_state *st, const char *path, mc_error_t *e) {
  lua_getfield(L, 1, "webhooks");
  int t = lua_gettop(L);
  size_t n = lua_isnil(L, t) ? 0 : (luaL_checktype(L, t, LUA_TTABLE), (size_t)luaL_len(L, t));
  lua_getfield(L, 1, "webhook_secret");
  size_t secret_len = 0;
  const char *secret = lua_tolstring(L, -1, &secret_len);
  if (secret == NULL || secret_len == 0) {
    if (n > 0) return luaL_error(L, "serve: webhooks need a webhook_secret");
    lua_settop(L, t - 1);
    return 0;
  }
  lua_getfield(L, 1, "webhook_ca");
  const char *ca = luaL_optstring(L, -1, NULL);
  const char **urls = string_list(L, t, n, "webhooks");
  mc_webhook_opts_t o = {
    .secret = secret, .secret_len = secret_len, .ca_file = ca,
    .timeout = mc_l_optnumber(L, 1, "webhook_timeout", 5),
    .poll = mc_l_optnumber(L, 1, "webhook_poll", 0.5),
    .batch = (size_t)mc_l_optnumber(L, 1, "webhook_batch", 100),
    .tries = (int)mc_l_optnumber(L, 1, "webhook_tries", 10),
    .backoff = mc_l_optnumber(L, 1, "webhook_backoff", 1),
    .backoff_max = mc_l_optnumber(L, 1, "webhook_backoff_max", 60),
  };
  st->webhook = mc_webhook_new(st->base, path, urls, n, &o, e);
  lua_settop(L, t - 1);
  return st->webhook ? 0 : -1;
}


/* Makes st->dashboard from the options at index 1: on when a
 * dashboard_token is given, its pages made by the program
 * dashboard_command = {path, arg, ...} (the request's path is added).
 * 0, or -1 with e set (misuse raises). */
static int open_dashboard(lua_State *L, serve_state *st, int quiet, mc_error_t *e) {
  lua_getfield(L, 1, "dashboard_token");
  size_t token_len = 0;
  const char *token = luaL_optlstring(L, -1, NULL, &token_len);
  lua_getfield(L, 1, "dashboard_command");
  int t = lua_gettop(L);
  size_t n = lua_isnil(L, t) ? 0 : (luaL_checktype(L, t, LUA_TTABLE), (size_t)luaL_len(L, t));
  if (token && token_len > 0 && n == 0) return luaL_error(L, "serve: a dashboard_token needs a dashboard_command");
  const char **argv = string_list(L, t, n, "dashboard_command");
  mc_dash_opts_t o = {
    .token = token, .token_len = token_len, .argv = argv,
    .cache = mc_l_optnumber(L, 1, "dashboard_cache", 2),
    .timeout = mc_l_optnumber(L, 1, "dashboard_timeout", 30),
    .quiet = quiet,
  };
  st->dashboard = mc_dash_new(st->base, &o, e);
  lua_settop(L, t - 2);
  return st->dashboard ? 0 : -1;
}


/* serve{listen = "127.0.0.1:8080", store = path, secret =, port_file =,
 *       quiet =, timeout = 10, max_connections = 0, max_body = 4096, max_headers = 8192,
 *       flush_interval = 0.1, batch = 1000, webhooks = {url, ...},
 *       webhook_secret =, webhook_timeout = 5, webhook_poll = 0.5,
 *       webhook_batch = 100, webhook_tries = 10, webhook_backoff = 1,
 *       webhook_backoff_max = 60, webhook_ca = FILE, dashboard_token =,
 *       dashboard_command = {program, arg, ...}, dashboard_cache = 2, dashboard_timeout = 30}
 *   -> number of events recorded | fail, message (misuse raises) */
static int l_serve(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "listen");
  const char *listen = luaL_optstring(L, -1, "127.0.0.1:8080");
  lua_getfield(L, 1, "store");
  const char *path = luaL_checkstring(L, -1);
  lua_getfield(L, 1, "port_file");
  const char *port_file = luaL_optstring(L, -1, NULL);
  lua_getfield(L, 1, "secret");
  size_t secret_len;
  const char *secret = luaL_checklstring(L, -1, &secret_len);
  if (secret_len < SECRET_MIN) return luaL_error(L, "serve: a secret has at least 16 bytes");
  lua_pop(L, 4);   /* the table keeps the strings */
  mc_http_opts_t o = {0};
  o.timeout = mc_l_optnumber(L, 1, "timeout", 10);
  o.max_body = (size_t)mc_l_optnumber(L, 1, "max_body", 4096);
  o.max_headers = (size_t)mc_l_optnumber(L, 1, "max_headers", 8192);
  double max_connections = mc_l_optnumber(L, 1, "max_connections", 0);
  luaL_argcheck(L, max_connections >= 0 && max_connections <= 1e9, 1,
                "max_connections must be 0 (as the descriptor limit allows) or more");
  o.max_connections = (size_t)max_connections;
  o.flush_interval = mc_l_optnumber(L, 1, "flush_interval", 0.1);
  o.batch = (size_t)mc_l_optnumber(L, 1, "batch", 1000);
  o.quiet = mc_l_optbool(L, 1, "quiet", 0);

  char host[64];
  int port = mc_l_listen(L, listen, host, sizeof host);

  serve_state *st = mc_l_guard(L, sizeof *st, serve_state_gc);
  int guard = lua_gettop(L);
  mc_error_t e;
  st->store = mc_store_open(path, &e);
  if (st->store == NULL) return mc_l_fail(L, &e);
  st->key = mc_token_key_new(secret, secret_len, &e);
  if (st->key == NULL) return mc_l_fail(L, &e);
  st->base = mc_loop();
  if (st->base == NULL) return luaL_error(L, "cannot make an event loop");
  o.store = st->store;
  o.key = st->key;
  if (open_webhooks(L, st, path, &e) != 0) return mc_l_fail(L, &e);
  o.webhook = st->webhook;
  if (open_dashboard(L, st, o.quiet, &e) != 0) return mc_l_fail(L, &e);
  o.dashboard = st->dashboard;
  st->http = mc_http_new(st->base, host, port, &o, &e);
  if (st->http == NULL) return mc_l_fail(L, &e);
  signal(SIGPIPE, SIG_IGN);   /* a webhook receiver that hangs up is a failed try, not our end */
  /* Ignored outside the loop too (libevent puts back what it found): a
   * second SIGTERM during shutdown must not cut the last batch short. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  mc_l_signals_stop(st->base, st->sigs);
  if (!o.quiet) {
    printf("mailcast serve: listening on http://%s:%d, recording in %s\n", host,
           mc_http_port(st->http), path);
    if (mc_dash_enabled(st->dashboard))
      printf("mailcast serve: dashboard at http://%s:%d/dashboard (token required)\n", host,
             mc_http_port(st->http));
    else
      printf("mailcast serve: dashboard off (turn it on with --dashboard-token TOKEN"
             " or MAILCAST_DASHBOARD_TOKEN)\n");
    fflush(stdout);
  }
  if (port_file) mc_l_port_file(L, port_file, mc_http_port(st->http));   /* last: it means ready */
  event_base_dispatch(st->base);
  if (mc_http_flush(st->http, &e) != 0)   /* the last batch; kept for free's retry */
    fprintf(stderr, "mailcast serve: writing events: %s\n", e.msg);
  lua_Integer recorded = (lua_Integer)mc_http_recorded(st->http);
  mc_l_release(L, guard, serve_state_gc);
  lua_pushinteger(L, recorded);
  return 1;
}


/* webhook_register(store_path, campaign, {url, ...}) -> true | fail, message:
 * serve POSTs the campaign's events from now on to each URL too. */
static int l_webhook_register(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer campaign = luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  size_t n = (size_t)luaL_len(L, 3);
  const char **urls = string_list(L, 3, n, "webhooks");
  mc_error_t e;
  for (size_t i = 0; i < n; i++)
    if (mc_webhook_check_url(urls[i], &e) != 0) return mc_l_fail(L, &e);
  mc_store_t *s = mc_store_open(path, &e);   /* the store's own tables first */
  if (s == NULL) return mc_l_fail(L, &e);
  mc_store_close(s);
  if (mc_feed_register(path, (long long)campaign, urls, n, &e) != 0) return mc_l_fail(L, &e);
  lua_pushboolean(L, 1);
  return 1;
}


void mc_l_open_serve(lua_State *L) {
  lua_pushcfunction(L, l_serve);
  lua_setfield(L, -2, "serve");
  lua_pushcfunction(L, l_webhook_register);
  lua_setfield(L, -2, "webhook_register");
}
