/* mailcast.core SMTP: routes, low-level sessions (each call runs the
 * event loop until its reply), and send (a pool of sessions). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "binding.h"
#include "core/loop.h"
#include "core/smtp_pool.h"
#include "l_trace.h"

#define MC_ROUTE_CLASS "mailcast.Route"
#define MC_SESSION_CLASS "mailcast.Session"

typedef struct {
  mc_route_t route;
  int ready;
} route_box;

typedef struct {
  struct event_base *base;
  mc_session_t *session;
  int done;
  int parked;            /* a hook's task waits for this operation (see may_wait) */
  mc_txn_t data;         /* session:data's, read by the session until it calls back:
                            not on the C stack, which a yield leaves */
  mc_buf_t transcript;   /* with trace: records not yet taken (see on_trace) */
} session_box;

/* Registry: what mailcast.hooks sets with core.set_waiter, the function
 * saying whether the running code is a hook of an engine task and the
 * value its waits yield. */
#define WAITER "mailcast.hooks.waiter"


/* ---- routes ---- */

static char *opt_dup(lua_State *L, int t, const char *key) {
  int type = lua_getfield(L, t, key);
  char *s = NULL;
  if (type == LUA_TSTRING || type == LUA_TNUMBER) {
    s = strdup(lua_tostring(L, -1));
    if (s == NULL) { lua_pop(L, 1); luaL_error(L, "not enough memory"); }
  } else if (type != LUA_TNIL) {
    lua_pop(L, 1);
    luaL_error(L, "route field '%s' must be a string", key);
  }
  lua_pop(L, 1);
  return s;
}


static void read_timeouts(lua_State *L, int t, mc_smtp_timeouts_t *to) {
  if (lua_getfield(L, t, "timeouts") != LUA_TTABLE) {
    if (!lua_isnil(L, -1)) luaL_error(L, "route field 'timeouts' must be a table");
    lua_pop(L, 1);
    return;
  }
  int i = lua_gettop(L);
  to->connect = mc_l_optnumber(L, i, "connect", to->connect);
  to->greeting = mc_l_optnumber(L, i, "greeting", to->greeting);
  to->ehlo = mc_l_optnumber(L, i, "ehlo", to->ehlo);
  to->tls = mc_l_optnumber(L, i, "tls", to->tls);
  to->mail = mc_l_optnumber(L, i, "mail", to->mail);
  to->rcpt = mc_l_optnumber(L, i, "rcpt", to->rcpt);
  to->data_init = mc_l_optnumber(L, i, "data_init", to->data_init);
  to->data_block = mc_l_optnumber(L, i, "data_block", to->data_block);
  to->data_end = mc_l_optnumber(L, i, "data_end", to->data_end);
  to->command = mc_l_optnumber(L, i, "command", to->command);
  lua_pop(L, 1);
}


static int route_gc(lua_State *L) {
  route_box *box = luaL_checkudata(L, 1, MC_ROUTE_CLASS);
  mc_route_free(&box->route);
  box->ready = 0;
  return 0;
}


void mc_l_readtargets(lua_State *L, int idx, mc_target_t **targets, size_t *n, const char *what) {
  lua_Integer len = luaL_len(L, idx);
  *targets = calloc(len > 0 ? (size_t)len : 1, sizeof **targets);
  *n = 0;
  if (*targets == NULL) luaL_error(L, "not enough memory");
  for (lua_Integer i = 1; i <= len; i++) {
    lua_geti(L, idx, i);
    if (!lua_istable(L, -1)) luaL_error(L, "%s[%d] must be {address=, name=}", what, (int)i);
    mc_target_t *t = &(*targets)[(*n)++];
    t->address = opt_dup(L, lua_gettop(L), "address");
    t->name = opt_dup(L, lua_gettop(L), "name");
    t->port = (int)mc_l_optnumber(L, lua_gettop(L), "port", 0);
    if (t->port < 0 || t->port > 65535) luaL_error(L, "%s[%d] port out of range", what, (int)i);
    lua_pop(L, 1);
    if (t->address == NULL) luaL_error(L, "%s[%d] has no address", what, (int)i);
  }
}


/* route{host=, port=, tls=, implicit_tls=, server_name=, ca_file=, helo=,
 *       user=, password=, oauth_token=, auth_mechanism=, allow_plaintext_auth=,
 *       pipelining=, chunking=, max_message=, timeouts={...}} -> Route | fail, message */
static int l_route(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  route_box *box = lua_newuserdatauv(L, sizeof *box, 0);
  mc_route_init(&box->route);
  box->ready = 0;
  luaL_setmetatable(L, MC_ROUTE_CLASS);
  mc_route_t *r = &box->route;
  r->host = opt_dup(L, 1, "host");
  if (lua_getfield(L, 1, "targets") == LUA_TTABLE) {
    mc_l_readtargets(L, lua_gettop(L), &r->targets, &r->ntargets, "route targets");
    if (r->host == NULL && r->ntargets) r->host = strdup(r->targets[0].name ? r->targets[0].name : r->targets[0].address);
  }
  lua_pop(L, 1);
  /* An mx route is a template: each destination brings its MX hosts. */
  if (r->host == NULL && !mc_l_optbool(L, 1, "mx", 0))
    return luaL_error(L, "route needs a host (or targets)");
  r->implicit_tls = mc_l_optbool(L, 1, "implicit_tls", 0);
  r->port = (int)mc_l_optnumber(L, 1, "port", r->implicit_tls ? 465 : 25);
  if (r->port < 1 || r->port > 65535) return luaL_error(L, "route port out of range");
  r->server_name = opt_dup(L, 1, "server_name");
  r->ca_file = opt_dup(L, 1, "ca_file");
  r->helo = opt_dup(L, 1, "helo");
  r->user = opt_dup(L, 1, "user");
  r->password = opt_dup(L, 1, "password");
  r->oauth_token = opt_dup(L, 1, "oauth_token");
  r->auth_mechanism = opt_dup(L, 1, "auth_mechanism");
  if (r->auth_mechanism && strcasecmp(r->auth_mechanism, "PLAIN") != 0 &&
      strcasecmp(r->auth_mechanism, "LOGIN") != 0 && strcasecmp(r->auth_mechanism, "XOAUTH2") != 0)
    return luaL_error(L, "auth_mechanism must be PLAIN, LOGIN or XOAUTH2");
  if (r->oauth_token && r->auth_mechanism == NULL) r->auth_mechanism = strdup("XOAUTH2");
  if (r->auth_mechanism && strcasecmp(r->auth_mechanism, "XOAUTH2") == 0 && r->oauth_token == NULL)
    return luaL_error(L, "auth_mechanism XOAUTH2 needs oauth_token");
  r->allow_plaintext_auth = mc_l_optbool(L, 1, "allow_plaintext_auth", 0);
  r->pipelining = mc_l_optbool(L, 1, "pipelining", 1);
  r->chunking = mc_l_optbool(L, 1, "chunking", 1);
  r->max_message = (size_t)mc_l_optnumber(L, 1, "max_message", 0);
  read_timeouts(L, 1, &r->timeouts);
  static const char *const policies[] = {"none", "opportunistic", "required", "verify", NULL};
  lua_getfield(L, 1, "tls");
  /* An authenticated relay checks who it gives the password to. */
  const char *dflt = r->user ? "verify" : "opportunistic";
  r->tls = (mc_tls_policy_t)luaL_checkoption(L, -1, dflt, policies);
  lua_pop(L, 1);
  if (r->implicit_tls && r->tls == MC_TLS_NONE) return luaL_error(L, "implicit_tls needs a tls policy other than 'none'");
  if (r->implicit_tls && r->tls == MC_TLS_OPPORTUNISTIC) r->tls = MC_TLS_REQUIRED;
  mc_error_t e;
  if (mc_route_prepare(r, &e) != 0) return mc_l_fail(L, &e);
  box->ready = 1;
  return 1;
}


/* The Route at idx, or a table made into one (left on the stack). */
mc_route_t *mc_l_toroute(lua_State *L, int idx) {
  route_box *box = luaL_testudata(L, idx, MC_ROUTE_CLASS);
  if (box == NULL) {
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushcfunction(L, l_route);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 2);
    box = luaL_testudata(L, -2, MC_ROUTE_CLASS);
    if (box == NULL) luaL_error(L, "route: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_replace(L, idx);   /* the Route takes the table's place */
  }
  if (!box->ready) luaL_error(L, "attempt to use a closed route");
  return &box->route;
}


/* A route that can connect on its own: not an mx template. */
static mc_route_t *connectable_route(lua_State *L, int idx) {
  mc_route_t *r = mc_l_toroute(L, idx);
  if (r->host == NULL) luaL_argerror(L, idx, "an mx route needs its hosts (use mailcast.send)");
  return r;
}


/* ---- replies ---- */

static void push_reply(lua_State *L, const mc_reply_t *r) {
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, r->code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, r->enhanced);
  lua_setfield(L, -2, "enhanced");
  lua_pushlstring(L, r->text.data ? r->text.data : "", r->text.len);
  lua_setfield(L, -2, "text");
}


/* ---- sessions ---- */

static void on_done(mc_session_t *s, void *arg) {
  session_box *box = arg;
  (void)s;
  box->done = 1;
  if (box->parked) {   /* the engine turns the loop: it looks at its waiting hooks */
    box->parked = 0;
    mc_loop_wake();
  }
}


/* Whether the operation just started on the session at idx is waited
 * for by yielding: run from a hook of an engine task, it yields the
 * task (WAIT, "session", session), and the engine resumes it once the
 * operation has called back (core.session_answered), going on with its
 * other work meanwhile. Anywhere else the caller turns the loop itself. */
static int may_wait(lua_State *L, session_box *box, int idx) {
  if (box->done || !lua_isyieldable(L)) return 0;
  idx = lua_absindex(L, idx);
  if (lua_getfield(L, LUA_REGISTRYINDEX, WAITER) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  lua_rawgeti(L, -1, 1);
  lua_call(L, 0, 1);
  int can = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (!can) {
    lua_pop(L, 1);
    return 0;
  }
  lua_rawgeti(L, -1, 2);   /* the WAIT value */
  lua_remove(L, -2);
  lua_pushliteral(L, "session");
  lua_pushvalue(L, idx);
  box->parked = 1;
  return 1;
}


/* core.set_waiter(can_wait, WAIT): see may_wait. */
static int l_set_waiter(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_checkany(L, 2);
  lua_createtable(L, 2, 0);
  lua_pushvalue(L, 1);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, 2);
  lua_setfield(L, LUA_REGISTRYINDEX, WAITER);
  return 0;
}


/* core.session_answered(session) -> whether its last operation has
 * called back (a closed session: true). */
static int l_session_answered(lua_State *L) {
  session_box *box = luaL_checkudata(L, 1, MC_SESSION_CLASS);
  lua_pushboolean(L, box->session == NULL || box->done);
  return 1;
}


/* Runs the loop until the operation just started calls back. */
static void wait_done(session_box *box) {
  while (!box->done) {
    if (event_base_loop(box->base, EVLOOP_ONCE) < 0) break;
  }
}


/* Pushes the outcome of the last operation: the reply, or fail, message,
 * code (the reply's code when there was one, as in a refused greeting). */
static int push_outcome(lua_State *L, session_box *box) {
  const mc_error_t *e;
  if (mc_session_status(box->session, &e) != 0) {
    luaL_pushfail(L);
    lua_pushstring(L, e->msg);
    lua_pushinteger(L, mc_session_reply(box->session)->code);
    return 3;
  }
  push_reply(L, mc_session_reply(box->session));
  return 1;
}


static session_box *check_session(lua_State *L) {
  session_box *box = luaL_checkudata(L, 1, MC_SESSION_CLASS);
  if (box->session == NULL) luaL_error(L, "attempt to use a closed session");
  return box;
}


static void end_session(session_box *box) {
  mc_session_free(box->session);
  box->session = NULL;
  box->base = NULL;
}


static int session_close(lua_State *L) {
  session_box *box = luaL_checkudata(L, 1, MC_SESSION_CLASS);
  end_session(box);
  mc_buf_free(&box->transcript);
  return 0;
}


static void on_trace(mc_trace_kind_t kind, const char *line, size_t n, void *arg) {
  session_box *box = arg;
  mc_trace_record(&box->transcript, kind, mc_trace_now(), line, n);   /* a failure sticks to the buffer */
}


/* Pushes the records taken since the last time as a list of {kind =
 * "client"|"server"|"info", line=, time=}, and forgets them. */
static void push_transcript(lua_State *L, session_box *box) {
  mc_l_pushrecords(L, &box->transcript);
  mc_buf_free(&box->transcript);
}


/* session:transcript() -> the lines since the last call (a session made
 * with trace = true; else an empty list) */
static int session_transcript(lua_State *L) {
  session_box *box = luaL_checkudata(L, 1, MC_SESSION_CLASS);
  push_transcript(L, box);
  return 1;
}


/* After the greeting, EHLO, TLS and AUTH: the session (on top of the
 * stack, its trace setting under it) or why not. */
static int opened(lua_State *L, int status, lua_KContext ctx) {
  if (status == LUA_YIELD) lua_settop(L, (int)ctx);   /* what the task was resumed with goes */
  session_box *box = luaL_checkudata(L, -1, MC_SESSION_CLASS);
  int tracing = (int)lua_tointeger(L, -2);
  const mc_error_t *e;
  if (mc_session_status(box->session, &e) != 0) {
    luaL_pushfail(L);
    lua_pushstring(L, e->msg);
    lua_pushinteger(L, mc_session_reply(box->session)->code);
    if (!tracing) return 3;
    push_transcript(L, box);
    return 4;
  }
  return 1;
}


/* session(route [, {trace = true}]) -> Session connected and ready
 *   | fail, message, code [, transcript with trace] */
static int l_session(lua_State *L) {
  mc_route_t *route = connectable_route(L, 1);
  int tracing = 0;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    tracing = mc_l_optbool(L, 2, "trace", 0);
  }
  session_box *box = lua_newuserdatauv(L, sizeof *box, 1);
  memset(box, 0, sizeof *box);
  luaL_setmetatable(L, MC_SESSION_CLASS);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);   /* the session keeps its route alive */
  box->base = mc_loop();
  if (box->base == NULL) return luaL_error(L, "cannot make an event loop");
  box->session = mc_session_new(box->base, route);
  if (box->session == NULL) return luaL_error(L, "not enough memory");
  if (tracing) mc_session_trace(box->session, on_trace, box);
  box->done = 0;
  mc_session_open(box->session, on_done, box);
  lua_pushinteger(L, tracing);
  lua_insert(L, -2);   /* ..., tracing, session */
  int top = lua_gettop(L);
  if (may_wait(L, box, -1)) return lua_yieldk(L, 3, top, opened);
  wait_done(box);
  return opened(L, LUA_OK, 0);
}


/* After an operation: its outcome (the session is argument 1). */
static int answered(lua_State *L, int status, lua_KContext ctx) {
  if (status == LUA_YIELD) lua_settop(L, (int)ctx);   /* what the task was resumed with goes */
  return push_outcome(L, check_session(L));
}


/* Waits for the operation just started on the session (argument 1),
 * by yielding when a hook of the engine runs it; then its outcome. */
static int wait_outcome(lua_State *L, session_box *box) {
  int top = lua_gettop(L);
  if (may_wait(L, box, 1)) return lua_yieldk(L, 3, top, answered);
  wait_done(box);
  return answered(L, LUA_OK, 0);
}


static int command(lua_State *L, const char *line) {
  session_box *box = check_session(L);
  box->done = 0;
  mc_session_command(box->session, line, on_done, box);
  return wait_outcome(L, box);
}


/* Builds "VERB:<address> params" after checking the address is one. */
static int address_command(lua_State *L, const char *verb) {
  check_session(L);
  size_t n;
  const char *addr = luaL_checklstring(L, 2, &n);
  const char *params = luaL_optstring(L, 3, NULL);
  mc_error_t e;
  if (!(n == 0 && verb[0] == 'M') && mc_addr_check(addr, n, &e) != 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "smtp: bad address <%s>: %s", addr, e.msg);
    return 2;
  }
  if (params && strpbrk(params, "\r\n")) return luaL_argerror(L, 3, "CR or LF in parameters");
  lua_pushfstring(L, "%s:<%s>%s%s", verb, addr, params ? " " : "", params ? params : "");
  return command(L, lua_tostring(L, -1));
}


/* session:mail(from [, params]) -> reply | fail, message */
static int session_mail(lua_State *L) { return address_command(L, "MAIL FROM"); }

/* session:rcpt(to [, params]) -> reply | fail, message */
static int session_rcpt(lua_State *L) { return address_command(L, "RCPT TO"); }

/* session:rset(), :noop() -> reply | fail, message */
static int session_rset(lua_State *L) { return command(L, "RSET"); }
static int session_noop(lua_State *L) { return command(L, "NOOP"); }

/* session:command(line) -> reply | fail, message: anything else */
static int session_command(lua_State *L) { return command(L, luaL_checkstring(L, 2)); }


/* session:data(message) -> the reply to the end of data | fail, message */
static int session_data(lua_State *L) {
  session_box *box = check_session(L);
  /* The message (argument 2) stays on this call's stack until the
   * operation is over, waited or yielded for. */
  memset(&box->data, 0, sizeof box->data);
  mc_l_readdata(L, 2, &box->data);
  box->done = 0;
  mc_session_data(box->session, &box->data, on_done, box);
  return wait_outcome(L, box);
}


static int quitted(lua_State *L, int status, lua_KContext ctx) {
  if (status == LUA_YIELD) lua_settop(L, (int)ctx);   /* what the task was resumed with goes */
  end_session(check_session(L));   /* its transcript stays readable until close */
  lua_pushboolean(L, 1);
  return 1;
}


/* session:quit() -> true: says goodbye and closes. */
static int session_quit(lua_State *L) {
  session_box *box = check_session(L);
  box->done = 0;
  mc_session_quit(box->session, on_done, box);
  int top = lua_gettop(L);
  if (may_wait(L, box, 1)) return lua_yieldk(L, 3, top, quitted);
  wait_done(box);
  return quitted(L, LUA_OK, 0);
}


/* session:extensions() -> {PIPELINING=true, SIZE=n, ...} */
static int session_extensions(lua_State *L) {
  session_box *box = check_session(L);
  static const char *const names[] = {"PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8",
                                      "ENHANCEDSTATUSCODES", "DSN", "STARTTLS", "AUTH",
                                      "CHUNKING"};
  unsigned ext = mc_session_extensions(box->session);
  lua_newtable(L);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!(ext & (1u << i))) continue;
    if (i == 1 && mc_session_size_limit(box->session))
      lua_pushinteger(L, (lua_Integer)mc_session_size_limit(box->session));
    else
      lua_pushboolean(L, 1);
    lua_setfield(L, -2, names[i]);
  }
  return 1;
}


/* session:tls() -> "TLSv1.3 CIPHER" | nil;  session:auth() -> mechanism | nil */
static int session_tls(lua_State *L) {
  const char *tls = mc_session_tls(check_session(L)->session);
  if (tls) lua_pushstring(L, tls);
  else lua_pushnil(L);
  return 1;
}


static int session_auth(lua_State *L) {
  const char *auth = mc_session_auth(check_session(L)->session);
  if (auth) lua_pushstring(L, auth);
  else lua_pushnil(L);
  return 1;
}


/* ---- send ---- */

typedef struct {
  mc_job_t *jobs;
  const char ***rcpts;
  size_t n;
  struct event_base *base;
  mc_l_tracer_t *tracer;
} send_state;


static int send_state_gc(lua_State *L) {
  send_state *st = lua_touserdata(L, 1);
  for (size_t i = 0; i < st->n; i++) {
    if (st->jobs) mc_job_clear(&st->jobs[i]);
    if (st->rcpts) free(st->rcpts[i]);
  }
  free(st->jobs);
  free(st->rcpts);
  mc_l_tracer_free(L, st->tracer);
  memset(st, 0, sizeof *st);
  return 0;
}


/* send(route, jobs, opts) -> results, state | fail, message
 * jobs: {{from=, to=, message=, dsn_*=, eight_bit=}, ...}
 * opts: connections, messages_per_connection, rate, connect_rate,
 * connect_attempts, keep_transcripts, trace (a function told every line of
 * every session as it comes: l_trace.h). results[i] = {status=, tls=,
 * attempts=, recipients= {{address=, status=, code=, enhanced=, text=}...}
 * [, transcript=]} */
static int l_send(lua_State *L) {
  mc_route_t *route = connectable_route(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  mc_pool_opts_t o;
  mc_l_poolopts(L, 3, &o);
  lua_settop(L, 3);   /* opts (or nil) at 3, whatever the guard's place */
  size_t n = (size_t)luaL_len(L, 2);
  send_state *st = mc_l_guard(L, sizeof *st, send_state_gc);
  int guard = lua_gettop(L);
  st->jobs = calloc(n ? n : 1, sizeof *st->jobs);
  st->rcpts = calloc(n ? n : 1, sizeof *st->rcpts);
  if (st->jobs == NULL || st->rcpts == NULL) return luaL_error(L, "not enough memory");
  st->n = n;
  for (size_t i = 0; i < n; i++) {
    lua_geti(L, 2, (lua_Integer)i + 1);
    if (!lua_istable(L, -1)) return luaL_error(L, "message %d is not a table", (int)i + 1);
    mc_l_readjob(L, lua_gettop(L), &st->jobs[i], &st->rcpts[i]);
    lua_pop(L, 1);   /* jobs (argument 2) keeps every table alive */
  }
  st->base = mc_loop();
  if (st->base == NULL) return luaL_error(L, "cannot make an event loop");
  if (!lua_isnoneornil(L, 3) && lua_getfield(L, 3, "trace") != LUA_TNIL) {
    st->tracer = mc_l_tracer_new(L, lua_gettop(L), route->host);
    o.trace = mc_l_tracer_line;
    o.trace_arg = st->tracer;
    mc_l_tracer_enter(st->tracer, L);   /* nothing else turns the loop meanwhile */
  }
  mc_pool_state_t ps;
  mc_error_t e;
  int rc = mc_pool_run(st->base, route, st->jobs, n, &o, &ps, &e);
  if (st->tracer) mc_l_tracer_leave(st->tracer);
  if (rc != 0) return mc_l_fail(L, &e);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    mc_l_pushjob(L, &st->jobs[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  mc_l_pushpoolstate(L, &ps);
  mc_l_release(L, guard, send_state_gc);
  return 2;
}


static const luaL_Reg route_meta[] = {
  {"__gc", route_gc}, {"__close", route_gc}, {NULL, NULL},
};
static const luaL_Reg route_methods[] = {{"close", route_gc}, {NULL, NULL}};

static const luaL_Reg session_meta[] = {
  {"__gc", session_close}, {"__close", session_close}, {NULL, NULL},
};
static const luaL_Reg session_methods[] = {
  {"mail", session_mail}, {"rcpt", session_rcpt}, {"data", session_data},
  {"rset", session_rset}, {"noop", session_noop}, {"command", session_command},
  {"quit", session_quit}, {"close", session_close}, {"extensions", session_extensions},
  {"tls", session_tls}, {"auth", session_auth}, {"transcript", session_transcript}, {NULL, NULL},
};


void mc_l_open_smtp(lua_State *L) {
  mc_l_newclass(L, MC_ROUTE_CLASS, route_meta, route_methods);
  mc_l_newclass(L, MC_SESSION_CLASS, session_meta, session_methods);
  lua_pushcfunction(L, l_route);
  lua_setfield(L, -2, "route");
  lua_pushcfunction(L, l_set_waiter);
  lua_setfield(L, -2, "set_waiter");
  lua_pushcfunction(L, l_session_answered);
  lua_setfield(L, -2, "session_answered");
  lua_pushcfunction(L, l_session);
  lua_setfield(L, -2, "session");
  lua_pushcfunction(L, l_send);
  lua_setfield(L, -2, "send");
}
