/* Shared by the binding files: each registers its functions into the
 * module table that luaopen_mailcast_core builds. */
#ifndef MC_BINDING_H
#define MC_BINDING_H

#include <lauxlib.h>
#include <lua.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/message.h"
#include "core/part.h"
#include "core/smtp_pool.h"

#define MC_PART_CLASS "mailcast.Part"
#define MC_MESSAGE_CLASS "mailcast.Message"

void mc_l_open_codec(lua_State *L);
void mc_l_open_part(lua_State *L);
void mc_l_open_message(lua_State *L);
void mc_l_open_parse(lua_State *L);
void mc_l_open_smtp(lua_State *L);
void mc_l_open_sched(lua_State *L);
void mc_l_open_sys(lua_State *L);
void mc_l_open_proc(lua_State *L);
void mc_l_open_json(lua_State *L);
void mc_l_open_dns(lua_State *L);
void mc_l_open_sink(lua_State *L);
void mc_l_open_store(lua_State *L);
void mc_l_open_track(lua_State *L);
void mc_l_open_page(lua_State *L);
void mc_l_open_dkim(lua_State *L);
void mc_l_open_bounce(lua_State *L);
void mc_l_open_verp(lua_State *L);
void mc_l_open_serve(lua_State *L);
void mc_l_open_template(lua_State *L);
void mc_l_open_csv(lua_State *L);
void mc_l_open_entry(lua_State *L);
void mc_l_open_accounting(lua_State *L);
void mc_l_open_metrics(lua_State *L);
void mc_l_open_html(lua_State *L);

/* Pushes fail and the message; returns 2 (the Lua convention). */
int mc_l_fail(lua_State *L, const mc_error_t *e);

/* Field key of the table at t: a number not below 0 (dflt when absent),
 * or a boolean (dflt when absent). */
double mc_l_optnumber(lua_State *L, int t, const char *key, double dflt);
int mc_l_optbool(lua_State *L, int t, const char *key, int dflt);

/* host:port of "ADDRESS:PORT" (host of at most size - 1 bytes), or raises. */
int mc_l_listen(lua_State *L, const char *listen, char *host, size_t size);

/* Writes port to path (through path.tmp and a rename, so a reader that
 * sees the file sees the whole port: its presence means ready), or raises. */
void mc_l_port_file(lua_State *L, const char *path, int port);

/* SIGINT and SIGTERM end base's loop (event_base_loopbreak) while sigs
 * are added; mc_l_signals_free frees them (NULLs are fine). For the
 * servers (sink, serve) that run until told to stop. */
struct event_base;
struct event;
void mc_l_signals_stop(struct event_base *base, struct event *sigs[2]);
void mc_l_signals_free(struct event *sigs[2]);

/* The Route at idx, or a table made into one (which takes its place). */
mc_route_t *mc_l_toroute(lua_State *L, int idx);

/* Reads the list at idx ({address=, name=, port=}...) into *targets and
 * *n, which own each target as soon as it is read: when this raises
 * halfway, the caller frees what is there with mc_targets_free. what
 * names the list in errors ("route targets"). */
void mc_l_readtargets(lua_State *L, int idx, mc_target_t **targets, size_t *n, const char *what);

/* The data at idx for a transaction: a Message, or a string. */
void mc_l_readdata(lua_State *L, int idx, mc_txn_t *t);

/* Reads job table idx ({from=, to=, message=, eight_bit=, dsn_*=}) into
 * *job; *rcpts is malloc'd (the caller frees it) and the strings stay
 * owned by the table, which the caller keeps alive. */
void mc_l_readjob(lua_State *L, int idx, mc_job_t *job, const char ***rcpts);

/* Pool options from the table at idx (none: the defaults). */
void mc_l_poolopts(lua_State *L, int idx, mc_pool_opts_t *o);

/* {status=, attempts=, tls=, server=, recipients={{address=, status=,
 * code=, enhanced=, text=}...}} for a job that has its outcome. */
void mc_l_pushjob(lua_State *L, const mc_job_t *job);

/* {connections=, rate=, backoffs=, sessions=, transactions=} */
void mc_l_pushpoolstate(lua_State *L, const mc_pool_state_t *ps);

/* Registers a class: metatable name (its __name) with the metamethods
 * meta and an __index table of methods. */
void mc_l_newclass(lua_State *L, const char *name, const luaL_Reg *meta,
                   const luaL_Reg *methods);

/* Pushes a zeroed userdata of size whose __gc is gc: C resources a
 * function holds while it may raise live in it, so an error frees them.
 * One given back with mc_l_release is used again by a later call. */
void *mc_l_guard(lua_State *L, size_t size, lua_CFunction gc);

/* A guarded, empty byte buffer: freed however the function ends, or
 * given back with mc_l_buf_release, which keeps its room (up to 64 KB)
 * for the next call. */
mc_buf_t *mc_l_buf(lua_State *L);
int mc_l_buf_gc(lua_State *L);
void mc_l_buf_release(lua_State *L, int idx);

/* Runs the guard at idx's gc now rather than at some later collection
 * (gc must leave the guard safe to collect again), and keeps the guard
 * for the next call of its kind: the caller must not use it after. */
void mc_l_release(lua_State *L, int idx, lua_CFunction gc);

/* The message at idx if it is an open mailcast.Message, else NULL. */
const mc_msg_t *mc_l_tomessage(lua_State *L, int idx);

/* The part at idx: a Part (a new reference), or a table made into a new
 * part; the caller unrefs it. NULL with e set on bad data. */
mc_part_t *mc_l_topart(lua_State *L, int idx, mc_error_t *e);

#endif
