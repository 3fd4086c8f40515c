/* mailcast.core.scheduler: every destination of a campaign on one loop.
 *
 *   local s = core.scheduler()
 *   local d = s:destination(route, {connections=, messages_per_connection=,
 *                 rate=, idle_timeout=, down_time=, ...} [, targets [, window]])
 *   s:submit(d, {from=, to=, message=, ...} [, owner [, share [, weight]]]) -> tag
 *   s:run(seconds) -> {{tag=, status=, recipients=...}, ...}
 *   s:outcomes(seconds [, list]) -> list .. {{owner=, result={status=, ...}}, ...}
 *   s:retire(d): no more jobs for d; it is gone once its jobs are done
 *
 * targets (a list of {address=, name=}) gives a destination its own
 * servers on a route's settings and TLS context: one MX host set of an
 * mx route. window: at most that many of the destination's jobs out of
 * its backlog and not yet acknowledged (s:hand(), s:ack(); see
 * core/sched.h); share and weight: whose turn a job waits for there. The
 * scheduler keeps every route, job table and owner it was given alive
 * until the job's outcome has been taken. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "binding.h"
#include "core/loop.h"
#include "core/sched.h"
#include "l_lookups.h"
#include "l_trace.h"

#define MC_SCHED_CLASS "mailcast.Scheduler"

/* uservalues: routes kept; job tables by tag; owners by tag */
enum { UV_KEEP = 1, UV_JOBS = 2, UV_OWNERS = 3 };

typedef struct sjob {
  mc_job_t job;                 /* first: a taken mc_job_t * is its sjob */
  const char **rcpts;
  struct sjob *prev, *next;     /* every job not yet taken */
} sjob_t;

/* A destination as the binding keeps it. What it owns is set as soon
 * as it is made, so that a call that raises halfway leaks nothing: the
 * box frees every slot's when it closes. */
typedef struct {
  mc_dest_t *dest;              /* NULL: not made, or retired and removed */
  mc_route_t *route;            /* its own copy of the route (mx targets), or NULL:
                                   strings and TLS context stay the template's */
  mc_l_tracer_t *tracer;        /* its sessions' lines go there, or NULL */
  int retiring;
} bdest_t;

/* Indices of slots, in no order. */
typedef struct {
  size_t *at;
  size_t n, cap;
} slots_t;

typedef struct {
  struct event_base *base;
  mc_sched_t *sched;
  bdest_t *dests;               /* destination ids are indices + 1 */
  size_t ndests, cap;
  size_t live;                  /* made and not removed */
  /* Short lists, walked where the loop turns, instead of every slot (a
   * direct campaign has one per MX host set); a removed destination's
   * slot is used again, so a hook's routes made at every call do not
   * make the slots grow. */
  slots_t traced, retiring, unused;
  sjob_t *jobs;
  lua_Integer next_tag;
  mc_l_lookups_t *lookups;      /* made by the first look-up */
} sched_box;


static int slots_add(slots_t *l, size_t i) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    size_t *at = realloc(l->at, cap * sizeof *at);
    if (at == NULL) return -1;
    l->at = at;
    l->cap = cap;
  }
  l->at[l->n++] = i;
  return 0;
}


static void slots_drop(slots_t *l, size_t i) {
  for (size_t k = 0; k < l->n; k++)
    if (l->at[k] == i) {
      l->at[k] = l->at[--l->n];
      return;
    }
}


static void slots_free(slots_t *l) {
  free(l->at);
  memset(l, 0, sizeof *l);
}


/* What a destination's slot owns but the scheduler's part. */
static void free_slot(lua_State *L, bdest_t *bd) {
  if (bd->route) mc_targets_free(bd->route->targets, bd->route->ntargets);
  free(bd->route);
  mc_l_tracer_free(L, bd->tracer);
  memset(bd, 0, sizeof *bd);
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
  for (size_t i = 0; i < box->ndests; i++) free_slot(L, &box->dests[i]);
  free(box->dests);
  box->dests = NULL;
  box->ndests = box->cap = box->live = 0;
  slots_free(&box->traced);
  slots_free(&box->retiring);
  slots_free(&box->unused);
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
  sched_box *box = lua_newuserdatauv(L, sizeof *box, 3);
  memset(box, 0, sizeof *box);
  luaL_setmetatable(L, MC_SCHED_CLASS);
  for (int uv = UV_KEEP; uv <= UV_OWNERS; uv++) {
    lua_newtable(L);
    lua_setiuservalue(L, -2, uv);
  }
  box->base = mc_loop();
  if (box->base == NULL) return luaL_error(L, "cannot make an event loop");
  box->sched = mc_sched_new(box->base);
  if (box->sched == NULL) return luaL_error(L, "not enough memory");
  return 1;
}


/* A copy of template with the servers of the list at idx, owned by the
 * slot bd. */
static const mc_route_t *route_with_targets(lua_State *L, bdest_t *bd, const mc_route_t *tpl, int idx) {
  if (luaL_len(L, idx) < 1) luaL_argerror(L, idx, "targets must list at least one server");
  mc_route_t *d = bd->route = calloc(1, sizeof *d);
  if (d == NULL) luaL_error(L, "not enough memory");
  *d = *tpl;
  d->targets = NULL;
  d->ntargets = 0;
  mc_l_readtargets(L, idx, &d->targets, &d->ntargets, "targets");
  return d;
}


/* Lines of the loop turned by L go to the tracers at once (l_trace.h). */
static void enter_tracers(sched_box *box, lua_State *L) {
  for (size_t k = 0; k < box->traced.n; k++) mc_l_tracer_enter(box->dests[box->traced.at[k]].tracer, L);
}


static void leave_tracers(sched_box *box) {
  for (size_t k = 0; k < box->traced.n; k++) mc_l_tracer_leave(box->dests[box->traced.at[k]].tracer);
}


/* The tracer of opts.trace (a function), its lines naming the
 * destination opts.trace_destination, set in o and owned by the slot i;
 * nothing without one. */
static void trace_dest(lua_State *L, sched_box *box, size_t i, int opts, mc_pool_opts_t *o) {
  if (lua_isnoneornil(L, opts)) return;
  if (lua_getfield(L, opts, "trace") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  int fn = lua_gettop(L);
  lua_getfield(L, opts, "trace_destination");
  bdest_t *bd = &box->dests[i];
  bd->tracer = mc_l_tracer_new(L, fn, lua_tostring(L, -1));
  if (slots_add(&box->traced, i) != 0) luaL_error(L, "not enough memory");
  o->trace = mc_l_tracer_line;
  o->trace_arg = bd->tracer;
  lua_pop(L, 2);
}


/* s:destination(route, opts [, targets [, window]]) -> id; opts.trace:
 * a function told every line of its sessions (l_trace.h), with
 * destination = opts.trace_destination. */
static int sched_destination(lua_State *L) {
  sched_box *box = check_sched(L);
  mc_route_t *tpl = mc_l_toroute(L, 2);
  mc_pool_opts_t o;
  mc_l_poolopts(L, 3, &o);
  lua_Integer window = luaL_optinteger(L, 5, 0);
  if (window < 0) return luaL_argerror(L, 5, "must not be negative");
  if (lua_isnoneornil(L, 4) && tpl->host == NULL) return luaL_argerror(L, 4, "an mx route needs targets");
  lua_Integer id;
  if (box->unused.n > 0) {
    id = (lua_Integer)box->unused.at[--box->unused.n] + 1;
  } else {
    if (box->ndests == box->cap) {
      size_t cap = box->cap ? box->cap * 2 : 8;
      bdest_t *p = realloc(box->dests, cap * sizeof *p);
      if (p == NULL) return luaL_error(L, "not enough memory");
      box->dests = p;
      box->cap = cap;
    }
    id = (lua_Integer)++box->ndests;
  }
  bdest_t *bd = &box->dests[id - 1];
  memset(bd, 0, sizeof *bd);
  const mc_route_t *route = tpl;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    route = route_with_targets(L, bd, tpl, 4);
  }
  lua_getiuservalue(L, 1, UV_KEEP);   /* the template lives as long as its destination */
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, id);
  lua_pop(L, 1);
  trace_dest(L, box, (size_t)id - 1, 3, &o);
  bd->dest = mc_sched_add(box->sched, route, &o, (size_t)window);
  if (bd->dest == NULL) return luaL_error(L, "not enough memory");
  box->live++;
  lua_pushinteger(L, id);
  return 1;
}


static bdest_t *check_slot(lua_State *L, sched_box *box, int idx) {
  lua_Integer id = luaL_checkinteger(L, idx);
  if (id < 1 || (size_t)id > box->ndests || box->dests[id - 1].dest == NULL)
    luaL_argerror(L, idx, "no such destination");
  return &box->dests[id - 1];
}


static mc_dest_t *check_dest(lua_State *L, sched_box *box, int idx) {
  bdest_t *bd = check_slot(L, box, idx);
  if (bd->retiring) luaL_argerror(L, idx, "the destination is retired");
  return bd->dest;
}


/* The destinations retired that have nothing left, removed: their
 * tracers told what waited for them first (the QUIT of their last
 * session), their templates let go. */
static void remove_retired(lua_State *L, sched_box *box) {
  size_t k = 0;
  while (k < box->retiring.n) {
    size_t i = box->retiring.at[k];
    bdest_t *bd = &box->dests[i];
    if (!mc_sched_retired(bd->dest)) {
      k++;
      continue;
    }
    /* The slot is emptied before the tracer's function is called, which
     * could turn to this scheduler again. */
    mc_sched_remove(box->sched, bd->dest);
    bdest_t gone = *bd;
    memset(bd, 0, sizeof *bd);
    box->live--;
    box->retiring.at[k] = box->retiring.at[--box->retiring.n];
    slots_drop(&box->traced, i);
    (void)slots_add(&box->unused, i);   /* (out of memory: the slot is not used again, no harm) */
    lua_getiuservalue(L, 1, UV_KEEP);
    lua_pushnil(L);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
    lua_pop(L, 1);
    if (gone.tracer) {
      mc_l_tracer_enter(gone.tracer, L);
      mc_l_tracer_leave(gone.tracer);
    }
    free_slot(L, &gone);
  }
}


/* s:retire(destination): nothing more will be submitted there (a route
 * of a hook's that no call uses any more); once its jobs are done and
 * their outcomes acknowledged, its sessions close, and then it is gone:
 * its id no longer names a destination (and may name a later one). */
static int sched_retire(lua_State *L) {
  sched_box *box = check_sched(L);
  bdest_t *bd = check_slot(L, box, 2);
  if (bd->retiring) return 0;
  if (slots_add(&box->retiring, (size_t)(bd - box->dests)) != 0) return luaL_error(L, "not enough memory");
  bd->retiring = 1;
  mc_sched_retire(bd->dest);
  remove_retired(L, box);
  return 0;
}


/* s:submit(destination, job [, owner [, share [, weight]]]) -> tag.
 * owner comes back with the outcome from s:outcomes(); share (a
 * positive integer, default 1) and weight (default 1) say whose turn
 * the job waits for in the destination's backlog. */
static int sched_submit(lua_State *L) {
  sched_box *box = check_sched(L);
  mc_dest_t *dest = check_dest(L, box, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_Integer share = luaL_optinteger(L, 5, 1);
  if (share < 1) return luaL_argerror(L, 5, "must be a positive integer");
  double weight = luaL_optnumber(L, 6, 1);
  if (!(weight > 0)) return luaL_argerror(L, 6, "must be positive");
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
  if (!lua_isnoneornil(L, 4)) {
    lua_getiuservalue(L, 1, UV_OWNERS);
    lua_pushvalue(L, 4);
    lua_rawseti(L, -2, j->job.tag);
    lua_pop(L, 1);
  }
  if (mc_sched_submit(box->sched, dest, &j->job, (unsigned long)share, weight) != 0)
    return luaL_error(L, "not enough memory");
  lua_pushinteger(L, j->job.tag);
  return 1;
}


/* Turns the loop (see mc_sched_run) and appends the outcomes taken to
 * the list on top of the stack: each the job's result with its tag, or
 * with owners, {owner=, result=}. */
static int take_outcomes(lua_State *L, sched_box *box, double timeout, int with_owners) {
  enter_tracers(box, L);
  int rc = mc_sched_run(box->sched, timeout);
  leave_tracers(box);
  remove_retired(L, box);
  int list = lua_gettop(L);
  lua_getiuservalue(L, 1, UV_JOBS);
  lua_getiuservalue(L, 1, UV_OWNERS);
  int jobs = list + 1, owners = list + 2;
  lua_Integer n = (lua_Integer)lua_rawlen(L, list);
  mc_job_t *job;
  while ((job = mc_sched_take(box->sched)) != NULL) {
    sjob_t *j = (sjob_t *)job;   /* still on the box's list if pushing raises */
    if (job->results != NULL) {
      if (with_owners) {
        lua_createtable(L, 0, 2);
        lua_rawgeti(L, owners, job->tag);
        lua_setfield(L, -2, "owner");
        mc_l_pushjob(L, job);
        lua_setfield(L, -2, "result");
      } else {
        mc_l_pushjob(L, job);
        lua_pushinteger(L, job->tag);
        lua_setfield(L, -2, "tag");
      }
      lua_rawseti(L, list, ++n);
    }
    lua_pushnil(L);
    lua_rawseti(L, jobs, job->tag);
    lua_pushnil(L);
    lua_rawseti(L, owners, job->tag);
    if (j->prev) j->prev->next = j->next;
    else box->jobs = j->next;
    if (j->next) j->next->prev = j->prev;
    free_job(j);
  }
  lua_settop(L, list);
  if (rc != 0) return luaL_error(L, "scheduler: not enough memory");
  return 1;
}


static double check_timeout(lua_State *L) {
  double timeout = luaL_optnumber(L, 2, 1);
  if (timeout < 0) luaL_argerror(L, 2, "must not be negative");
  return timeout;
}


/* s:run(seconds) -> list of outcomes (maybe empty), each with its tag */
static int sched_run(lua_State *L) {
  sched_box *box = check_sched(L);
  double timeout = check_timeout(L);
  lua_settop(L, 2);
  lua_newtable(L);
  return take_outcomes(L, box, timeout, 0);
}


/* s:outcomes(seconds [, list]) -> list: as run(), the outcomes appended
 * to list (a new one when not given) as {owner=, result=}, owner as the
 * job was submitted with. */
static int sched_outcomes(lua_State *L) {
  sched_box *box = check_sched(L);
  double timeout = check_timeout(L);
  if (lua_isnoneornil(L, 3)) {
    lua_settop(L, 2);
    lua_newtable(L);
  } else {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
  }
  return take_outcomes(L, box, timeout, 1);
}


/* s:hand(): the outcomes taken so far are the caller's; they stay in
 * their windows until s:ack(). */
static int sched_hand(lua_State *L) {
  mc_sched_hand(check_sched(L)->sched);
  return 0;
}


/* s:ack(): the outcomes handed over before are recorded: their room in
 * the windows goes to the jobs waiting. */
static int sched_ack(lua_State *L) {
  sched_box *box = check_sched(L);
  if (mc_sched_ack(box->sched) != 0) return luaL_error(L, "scheduler: not enough memory");
  remove_retired(L, box);
  return 0;
}


/* s:pending() -> jobs submitted whose outcome has not been taken */
static int sched_pending(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mc_sched_pending(check_sched(L)->sched));
  return 1;
}


/* s:queued() -> jobs waiting in the destinations' backlogs */
static int sched_queued(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mc_sched_queued(check_sched(L)->sched));
  return 1;
}


/* The traffic shaping of one destination, as state() gives it. */
static void push_dest_state(lua_State *L, mc_dest_t *dest) {
  mc_pool_t *pool = mc_sched_pool(dest);
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
 * whole run: {destinations=, active=, down=, pending=, queued=, unacked=,
 * backing_off=,
 * backoff_connections=, backoff_rate=}: how many destinations are
 * backing off, and the connections and messages per second they are
 * held to, summed (backoff_rate nil when none keeps to a rate). */
static int sched_state(lua_State *L) {
  sched_box *box = check_sched(L);
  if (!lua_isnoneornil(L, 2)) {
    push_dest_state(L, check_slot(L, box, 2)->dest);
    return 1;
  }
  lua_createtable(L, 0, 9);
  lua_pushinteger(L, (lua_Integer)box->live);
  lua_setfield(L, -2, "destinations");
  lua_pushinteger(L, (lua_Integer)mc_sched_active(box->sched));
  lua_setfield(L, -2, "active");
  lua_pushinteger(L, (lua_Integer)mc_sched_down(box->sched));
  lua_setfield(L, -2, "down");
  lua_pushinteger(L, (lua_Integer)mc_sched_pending(box->sched));
  lua_setfield(L, -2, "pending");
  lua_pushinteger(L, (lua_Integer)mc_sched_queued(box->sched));
  lua_setfield(L, -2, "queued");
  lua_pushinteger(L, (lua_Integer)mc_sched_unacked(box->sched));
  lua_setfield(L, -2, "unacked");
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
  enter_tracers(box, L);
  mc_sched_drain(box->sched, grace < 0 ? 0 : grace);
  leave_tracers(box);
  remove_retired(L, box);
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


/* s:withdraw(tag) -> whether the job was there to take back: one not
 * yet on a session comes back unsent ("withdrawn before it was sent")
 * when its turn comes; one on a session already goes on. */
static int sched_withdraw(lua_State *L) {
  sched_box *box = check_sched(L);
  lua_Integer tag = luaL_checkinteger(L, 2);
  sjob_t *j = box->jobs;
  while (j && j->job.tag != tag) j = j->next;
  if (j) j->job.withdrawn = 1;
  lua_pushboolean(L, j != NULL);
  return 1;
}


/* s:hold(), s:release(): work outside the destinations that the caller
 * waits for (a session a hook waits on): run() keeps turning the loop
 * while any is held. */
static int sched_hold(lua_State *L) {
  mc_sched_hold(check_sched(L)->sched);
  return 0;
}


static int sched_release(lua_State *L) {
  mc_sched_release(check_sched(L)->sched);
  return 0;
}


static const luaL_Reg sched_meta[] = {
  {"__gc", sched_close}, {"__close", sched_close}, {NULL, NULL},
};
static const luaL_Reg sched_methods[] = {
  {"destination", sched_destination}, {"submit", sched_submit}, {"run", sched_run},
  {"outcomes", sched_outcomes}, {"hand", sched_hand}, {"ack", sched_ack},
  {"pending", sched_pending}, {"queued", sched_queued}, {"state", sched_state}, {"drain", sched_drain},
  {"mx", sched_mx}, {"txt", sched_txt}, {"lookups", sched_lookups},
  {"hold", sched_hold}, {"release", sched_release}, {"withdraw", sched_withdraw},
  {"retire", sched_retire}, {"close", sched_close}, {NULL, NULL},
};


void mc_l_open_sched(lua_State *L) {
  mc_l_newclass(L, MC_SCHED_CLASS, sched_meta, sched_methods);
  lua_pushcfunction(L, l_scheduler);
  lua_setfield(L, -2, "scheduler");
}
