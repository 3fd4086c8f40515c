/* Transactions between Lua and the core: job tables read into mc_job_t,
 * outcomes pushed back, and the options of a destination's pool. Shared
 * by send (one batch) and the scheduler (a stream of jobs). */
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "l_trace.h"


void mc_l_readdata(lua_State *L, int idx, mc_txn_t *t) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    t->raw = lua_tolstring(L, idx, &t->raw_len);
    return;
  }
  t->msg = mc_l_tomessage(L, idx);
  if (t->msg == NULL) luaL_argerror(L, idx, "an open mailcast.Message or a string");
}


/* The string at the top of the stack, or NULL (no number conversion:
 * a converted number would live only on the stack, which is popped,
 * while the job keeps the pointer). */
static const char *string_only(lua_State *L) {
  return lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
}


/* Field key of the job table at idx: a string the table keeps, or NULL. */
static const char *opt_string(lua_State *L, int idx, const char *key) {
  int type = lua_getfield(L, idx, key);
  const char *s = string_only(L);
  lua_pop(L, 1);
  if (s == NULL && type != LUA_TNIL) luaL_error(L, "'%s' must be a string", key);
  return s;
}


void mc_l_readjob(lua_State *L, int idx, mc_job_t *job, const char ***rcpts) {
  mc_txn_t *t = &job->txn;
  lua_getfield(L, idx, "from");
  t->from = string_only(L);
  lua_pop(L, 1);
  if (t->from == NULL) luaL_error(L, "each message needs an envelope 'from' string (\"\" for none)");
  lua_getfield(L, idx, "to");
  if (lua_type(L, -1) == LUA_TSTRING) {
    *rcpts = malloc(sizeof **rcpts);
    if (*rcpts == NULL) luaL_error(L, "not enough memory");
    (*rcpts)[0] = lua_tostring(L, -1);
    t->nrcpts = 1;
  } else if (lua_istable(L, -1)) {
    lua_Integer n = luaL_len(L, -1);
    *rcpts = malloc(sizeof **rcpts * (size_t)(n > 0 ? n : 1));
    if (*rcpts == NULL) luaL_error(L, "not enough memory");
    t->nrcpts = (size_t)(n > 0 ? n : 0);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, -1, i);
      (*rcpts)[i - 1] = string_only(L);
      lua_pop(L, 1);
      if ((*rcpts)[i - 1] == NULL) luaL_error(L, "envelope 'to' must hold strings");
    }
  } else {
    luaL_error(L, "each message needs envelope 'to' recipients");
  }
  lua_pop(L, 1);
  t->rcpts = *rcpts;
  lua_getfield(L, idx, "message");
  mc_l_readdata(L, lua_gettop(L), t);
  lua_pop(L, 1);   /* the job table keeps it */
  t->eight_bit = mc_l_optbool(L, idx, "eight_bit", 0);
  t->dsn_orcpt = mc_l_optbool(L, idx, "dsn_orcpt", 0);
  t->dsn_ret = opt_string(L, idx, "dsn_ret");
  t->dsn_envid = opt_string(L, idx, "dsn_envid");
  t->dsn_notify = opt_string(L, idx, "dsn_notify");
  const char *const checks[] = {t->dsn_ret, t->dsn_envid, t->dsn_notify};
  for (size_t i = 0; i < 3; i++) {
    if (checks[i] && (strpbrk(checks[i], "\r\n <>") || strlen(checks[i]) > 100))
      luaL_error(L, "DSN parameters must be short and hold no spaces, CR, LF or angle brackets");
  }
}


void mc_l_poolopts(lua_State *L, int idx, mc_pool_opts_t *o) {
  mc_pool_opts_init(o);
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  o->connections = (size_t)mc_l_optnumber(L, idx, "connections", 1);
  o->messages_per_connection = (size_t)mc_l_optnumber(L, idx, "messages_per_connection", 10);
  o->rate = mc_l_optnumber(L, idx, "rate", 0);
  o->connect_rate = mc_l_optnumber(L, idx, "connect_rate", 0);
  o->connect_attempts = (int)mc_l_optnumber(L, idx, "connect_attempts", 3);
  o->idle_timeout = mc_l_optnumber(L, idx, "idle_timeout", 0);
  o->down_time = mc_l_optnumber(L, idx, "down_time", 0);
  o->keep_transcripts = mc_l_optbool(L, idx, "keep_transcripts", 0);
  if (o->connections < 1 || o->connections > 1000) luaL_argerror(L, idx, "connections must be 1 to 1000");
  if (o->messages_per_connection < 1) luaL_argerror(L, idx, "messages_per_connection must be at least 1");
  if (o->connect_attempts < 1) o->connect_attempts = 1;
}


static const char *const statuses[] = {"sent", "deferred", "failed"};


static void push_rcpt(lua_State *L, const char *addr, const mc_rcpt_result_t *r) {
  lua_createtable(L, 0, 5);
  lua_pushstring(L, addr);
  lua_setfield(L, -2, "address");
  lua_pushstring(L, statuses[mc_rcpt_status(r)]);
  lua_setfield(L, -2, "status");
  lua_pushinteger(L, r->code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, r->enhanced);
  lua_setfield(L, -2, "enhanced");
  lua_pushstring(L, r->text ? r->text : "");
  lua_setfield(L, -2, "text");
}


void mc_l_pushjob(lua_State *L, const mc_job_t *job) {
  size_t counts[3] = {0, 0, 0};
  lua_createtable(L, 0, 5);
  lua_createtable(L, (int)job->nresults, 0);
  for (size_t k = 0; k < job->nresults; k++) {
    push_rcpt(L, job->txn.rcpts[k], &job->results[k]);
    lua_rawseti(L, -2, (lua_Integer)k + 1);
    counts[mc_rcpt_status(&job->results[k])]++;
  }
  lua_setfield(L, -2, "recipients");
  const char *status = counts[0] == job->nresults ? "sent"
                     : counts[0] ? "partial"
                     : counts[2] == job->nresults ? "failed" : "deferred";
  lua_pushstring(L, status);
  lua_setfield(L, -2, "status");
  lua_pushinteger(L, job->attempts);
  lua_setfield(L, -2, "attempts");
  lua_pushnumber(L, job->duration);
  lua_setfield(L, -2, "duration");
  if (job->taken_back) {   /* its owner withdrew it: never sent */
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "withdrawn");
  }
  if (job->tls) {
    lua_pushstring(L, job->tls);
    lua_setfield(L, -2, "tls");
  }
  if (job->peer) {
    lua_pushstring(L, job->peer);
    lua_setfield(L, -2, "server");
  }
  if (job->transcript.len > 0 || job->transcript.failed) {
    mc_l_pushrecords(L, &job->transcript);
    lua_setfield(L, -2, "transcript");
  }
}


void mc_l_pushpoolstate(lua_State *L, const mc_pool_state_t *ps) {
  lua_createtable(L, 0, 5);
  lua_pushnumber(L, ps->connections);
  lua_setfield(L, -2, "connections");
  lua_pushnumber(L, ps->rate);
  lua_setfield(L, -2, "rate");
  lua_pushinteger(L, (lua_Integer)ps->backoffs);
  lua_setfield(L, -2, "backoffs");
  lua_pushinteger(L, (lua_Integer)ps->sessions);
  lua_setfield(L, -2, "sessions");
  lua_pushinteger(L, (lua_Integer)ps->transactions);
  lua_setfield(L, -2, "transactions");
}
