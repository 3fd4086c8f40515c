/* mailcast.core.scheduler: every destination of a campaign on one loop.
 *
 *   local s = core.scheduler()
 *   local d = s:destination(route, {connections=, messages_per_connection=,
 *                 rate=, idle_timeout=, down_time=, ...} [, targets])
 *   s:submit(d, {from=, to=, message=, ...}) -> tag
 *   s:run(seconds) -> {{tag=, status=, recipients=...}, ...}
 *
 * targets (a list of {address=, name=}) gives a destination its own
 * servers on a route's settings and TLS context: one MX host set of an
 * mx route. The scheduler keeps every route and job table it was given
 * alive until the job's outcome has been taken. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "binding.h"
#include "core/loop.h"
#include "core/sched.h"
#include "l_lookups.h"

#define MC_SCHED_CLASS "mailcast.Scheduler"

enum { UV_KEEP = 1, UV_JOBS = 2 };   /* uservalues: routes kept; job tables by tag */

typedef struct sjob {
  mc_job_t job;                 /* first: a taken mc_job_t * is its sjob */
  const char **rcpts;
  struct sjob *prev, *next;     /* every job not yet taken */
} sjob_t;

typedef struct droute {
  mc_route_t route;             /* a shallow copy: strings and TLS context
                                   stay the template's; targets are ours */
  struct droute *next;
} droute_t;

typedef struct {
  struct event_base *base;
  mc_sched_t *sched;
  mc_pool_t **pools;            /* destination ids are indices + 1 */
  size_t npools, cap;
  sjob_t *jobs;
  droute_t *routes;
  lua_Integer next_tag;
  mc_l_lookups_t *lookups;      /* made by the first look-up */
} sched_box;


static void free_targets(mc_target_t *t, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(t[i].address);
    free(t[i].name);
  }
  free(t);
}


static void free_job(sjob_t *j) {
  mc_job_clear(&j->job);
  free(j->rcpts);
  free(j);
}


static int sched_close(lua_State *L) {
  sched_box *box = luaL_checkudata(L, 1, MC_SCHED_CLASS);
  mc_l_lookups_free(box->lookups);   /* its cancelled look-ups tell the scheduler */
  box->lookups = NULL;
  mc_sched_free(box->sched);   /* first: sessions point at jobs and routes */
  box->sched = NULL;
  while (box->jobs) {
    sjob_t *j = box->jobs;
    box->jobs = j->next;
    free_job(j);
  }
  while (box->routes) {
    droute_t *r = box->routes;
    box->routes = r->next;
    free_targets(r->route.targets, r->route.ntargets);
    free(r);
  }
  free(box->pools);
  box->pools = NULL;
  box->npools = box->cap = 0;
  box->base = NULL;
  return 0;
}


static sched_box *check_sched(lua_State *L) {
  sched_box *box = luaL_checkudata(L, 1, MC_SCHED_CLASS);
  if (box->sched == NULL) luaL_error(L, "attempt to use a closed scheduler");
  return box;
}


/* scheduler() -> Scheduler */
static int l_scheduler(lua_State *L) {
  sched_box *box = lua_newuserdatauv(L, sizeof *box, 2);
  memset(box, 0, sizeof *box);
  luaL_setmetatable(L, MC_SCHED_CLASS);
  lua_newtable(L);
  lua_setiuservalue(L, -2, UV_KEEP);
  lua_newtable(L);
  lua_setiuservalue(L, -2, UV_JOBS);
  box->base = mc_loop();
  if (box->base == NULL) return luaL_error(L, "cannot make an event loop");
  box->sched = mc_sched_new(box->base);
  if (box->sched == NULL) return luaL_error(L, "not enough memory");
  return 1;
}


/* A copy of template with the servers of the list at idx. */
static const mc_route_t *route_with_targets(lua_State *L, sched_box *box, const mc_route_t *tpl, int idx) {
  lua_Integer n = luaL_len(L, idx);
  if (n < 1) luaL_argerror(L, idx, "targets must list at least one server");
  droute_t *d = calloc(1, sizeof *d);
  if (d == NULL) luaL_error(L, "not enough memory");
  d->route = *tpl;
  d->route.targets = calloc((size_t)n, sizeof *d->route.targets);
  d->route.ntargets = 0;
  d->next = box->routes;   /* owned by the box from here on, whatever happens */
  box->routes = d;
  if (d->route.targets == NULL) luaL_error(L, "not enough memory");
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, idx, i);
    if (!lua_istable(L, -1)) luaL_error(L, "targets[%d] must be {address=, name=}", (int)i);
    lua_getfield(L, -1, "address");
    lua_getfield(L, -2, "name");
    const char *address = lua_tostring(L, -2), *name = lua_tostring(L, -1);
    if (address == NULL) luaL_error(L, "targets[%d] has no address", (int)i);
    mc_target_t *t = &d->route.targets[d->route.ntargets++];
    t->address = strdup(address);
    t->name = name ? strdup(name) : NULL;
    t->port = (int)mc_l_optnumber(L, -3, "port", 0);
    lua_pop(L, 3);
    if (t->address == NULL || (name && t->name == NULL)) luaL_error(L, "not enough memory");
  }
  return &d->route;
}


/* s:destination(route, opts [, targets]) -> id */
static int sched_destination(lua_State *L) {
  sched_box *box = check_sched(L);
  mc_route_t *tpl = mc_l_toroute(L, 2);
  mc_pool_opts_t o;
  mc_l_poolopts(L, 3, &o);
  const mc_route_t *route = tpl;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    route = route_with_targets(L, box, tpl, 4);
  } else if (tpl->host == NULL) {
    return luaL_argerror(L, 4, "an mx route needs targets");
  }
  lua_getiuservalue(L, 1, UV_KEEP);   /* the template lives as long as we do */
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  lua_pop(L, 1);
  if (box->npools == box->cap) {
    size_t cap = box->cap ? box->cap * 2 : 8;
    mc_pool_t **p = realloc(box->pools, cap * sizeof *p);
    if (p == NULL) return luaL_error(L, "not enough memory");
    box->pools = p;
    box->cap = cap;
  }
  mc_pool_t *pool = mc_sched_add(box->sched, route, &o);
  if (pool == NULL) return luaL_error(L, "not enough memory");
  box->pools[box->npools++] = pool;
  lua_pushinteger(L, (lua_Integer)box->npools);
  return 1;
}


static mc_pool_t *check_dest(lua_State *L, sched_box *box, int idx) {
  lua_Integer id = luaL_checkinteger(L, idx);
  if (id < 1 || (size_t)id > box->npools) luaL_argerror(L, idx, "no such destination");
  return box->pools[id - 1];
}


/* s:submit(destination, job) -> tag */
static int sched_submit(lua_State *L) {
  sched_box *box = check_sched(L);
  mc_pool_t *pool = check_dest(L, box, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  sjob_t *j = calloc(1, sizeof *j);
  if (j == NULL) return luaL_error(L, "not enough memory");
  j->next = box->jobs;   /* owned by the box from here on */
  if (box->jobs) box->jobs->prev = j;
  box->jobs = j;
  mc_l_readjob(L, 3, &j->job, &j->rcpts);
  j->job.tag = ++box->next_tag;
  lua_getiuservalue(L, 1, UV_JOBS);
  lua_pushvalue(L, 3);
  lua_rawseti(L, -2, j->job.tag);
  lua_pop(L, 1);
  if (mc_sched_submit(box->sched, pool, &j->job) != 0) return luaL_error(L, "not enough memory");
  lua_pushinteger(L, j->job.tag);
  return 1;
}


/* s:run(seconds) -> list of outcomes (maybe empty), each with its tag */
static int sched_run(lua_State *L) {
  sched_box *box = check_sched(L);
  double timeout = luaL_optnumber(L, 2, 1);
  if (timeout < 0) return luaL_argerror(L, 2, "must not be negative");
  int rc = mc_sched_run(box->sched, timeout);
  lua_getiuservalue(L, 1, UV_JOBS);
  int jobs = lua_gettop(L);
  lua_newtable(L);
  lua_Integer n = 0;
  mc_job_t *job;
  while ((job = mc_sched_take(box->sched)) != NULL) {
    sjob_t *j = (sjob_t *)job;   /* still on the box's list if pushing raises */
    if (job->results != NULL) {
      mc_l_pushjob(L, job);
      lua_pushinteger(L, job->tag);
      lua_setfield(L, -2, "tag");
      lua_rawseti(L, -2, ++n);
    }
    lua_pushnil(L);
    lua_rawseti(L, jobs, job->tag);
    if (j->prev) j->prev->next = j->next;
    else box->jobs = j->next;
    if (j->next) j->next->prev = j->prev;
    free_job(j);
  }
  if (rc != 0) return luaL_error(L, "scheduler: not enough memory");
  return 1;
}


/* s:pending() -> jobs submitted whose outcome has not been taken */
static int sched_pending(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mc_sched_pending(check_sched(L)->sched));
  return 1;
}


/* The traffic shaping of one destination, as state() gives it. */
static void push_dest_state(lua_State *L, mc_pool_t *pool) {
  const mc_pool_state_t *st = mc_pool_state(pool);
  mc_l_pushpoolstate(L, st);
  lua_pushnumber(L, mc_pool_down_for(pool));
  lua_setfield(L, -2, "down_for");
  lua_pushinteger(L, (lua_Integer)mc_pool_pending(pool));
  lua_setfield(L, -2, "pending");
  lua_pushinteger(L, (lua_Integer)mc_pool_active(pool));
  lua_setfield(L, -2, "active");
  lua_pushboolean(L, mc_pool_backing_off(pool));
  lua_setfield(L, -2, "backing_off");
  lua_pushinteger(L, (lua_Integer)st->refused);
  lua_setfield(L, -2, "refused");
  lua_pushinteger(L, (lua_Integer)st->requeued);
  lua_setfield(L, -2, "requeued");
}


/* s:state([destination]) -> {connections=, rate=, backoffs=, sessions=,
 * transactions=, down_for=, pending=, active=, backing_off=, refused=,
 * requeued=} of one destination (connections and rate: the limits it
 * keeps to now, which the server's pushback may have lowered), or of the
 * whole run: {destinations=, active=, down=, pending=, backing_off=,
 * backoff_connections=, backoff_rate=}: how many destinations are
 * backing off, and the connections and messages per second they are
 * held to, summed (backoff_rate nil when none keeps to a rate). */
static int sched_state(lua_State *L) {
  sched_box *box = check_sched(L);
  if (!lua_isnoneornil(L, 2)) {
    push_dest_state(L, check_dest(L, box, 2));
    return 1;
  }
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, (lua_Integer)box->npools);
  lua_setfield(L, -2, "destinations");
  lua_pushinteger(L, (lua_Integer)mc_sched_active(box->sched));
  lua_setfield(L, -2, "active");
  lua_pushinteger(L, (lua_Integer)mc_sched_down(box->sched));
  lua_setfield(L, -2, "down");
  lua_pushinteger(L, (lua_Integer)mc_sched_pending(box->sched));
  lua_setfield(L, -2, "pending");
  mc_sched_backoff_t b;
  mc_sched_backoff(box->sched, &b);
  lua_pushinteger(L, (lua_Integer)b.destinations);
  lua_setfield(L, -2, "backing_off");
  lua_pushinteger(L, (lua_Integer)b.connections);
  lua_setfield(L, -2, "backoff_connections");
  if (b.rate > 0) {
    lua_pushnumber(L, b.rate);
    lua_setfield(L, -2, "backoff_rate");
  }
  return 1;
}


/* s:drain([grace = 30]): no new transactions; waits for the sessions to
 * finish the ones they are in and close (take the outcomes with run(0)). */
static int sched_drain(lua_State *L) {
  sched_box *box = check_sched(L);
  double grace = luaL_optnumber(L, 2, 30);
  mc_sched_drain(box->sched, grace < 0 ? 0 : grace);
  return 0;
}


/* A look-up of kind on the scheduler's loop: its id, or fail, message. */
static int start_lookup(lua_State *L, mc_lookup_kind_t kind) {
  sched_box *box = check_sched(L);
  const char *name = luaL_checkstring(L, 2);
  mc_l_dnsopts_t o;
  mc_l_dnsopts(L, 3, &o);
  if (box->lookups == NULL && (box->lookups = mc_l_lookups_new(box->base, box->sched)) == NULL)
    return luaL_error(L, "not enough memory");
  mc_error_t e;
  long long id = mc_l_lookups_start(box->lookups, kind, name, &o, &e);
  if (id == 0) return mc_l_fail(L, &e);
  lua_pushinteger(L, id);
  return 1;
}


/* s:mx(domain [, {server=, timeout=, tries=}]) -> id | fail, message: the
 * answer comes from s:lookups(), and ends the s:run() it comes during. */
static int sched_mx(lua_State *L) { return start_lookup(L, MC_LOOKUP_MX); }


/* s:txt(name [, {server=, timeout=, tries=}]) -> id | fail, message */
static int sched_txt(lua_State *L) { return start_lookup(L, MC_LOOKUP_TXT); }


/* s:lookups() -> {{id=, name=, result=}...}: the look-ups answered since
 * the last call (result as core.mx gives it, or {status=, records=} for
 * TXT). */
static int sched_lookups(lua_State *L) {
  sched_box *box = check_sched(L);
  if (box->lookups == NULL) {
    lua_newtable(L);
    return 1;
  }
  mc_l_lookups_take(L, box->lookups);
  return 1;
}


static const luaL_Reg sched_meta[] = {
  {"__gc", sched_close}, {"__close", sched_close}, {NULL, NULL},
};
static const luaL_Reg sched_methods[] = {
  {"destination", sched_destination}, {"submit", sched_submit}, {"run", sched_run},
  {"pending", sched_pending}, {"state", sched_state}, {"drain", sched_drain},
  {"mx", sched_mx}, {"txt", sched_txt}, {"lookups", sched_lookups},
  {"close", sched_close}, {NULL, NULL},
};


void mc_l_open_sched(lua_State *L) {
  mc_l_newclass(L, MC_SCHED_CLASS, sched_meta, sched_methods);
  lua_pushcfunction(L, l_scheduler);
  lua_setfield(L, -2, "scheduler");
}
