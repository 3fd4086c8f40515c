/* Transcripts in Lua: the records of smtp_trace.h as lists of {kind =
 * "client"|"server"|"info", line=, time=}, and a tracer, the Lua
 * function a pool's sessions tell their lines to (mailcast.send's
 * trace option, mailcast run --trace).
 *
 * Lines come from the loop. While the binding call that turns the loop
 * has said so (mc_l_tracer_enter) they go to the function at once; when
 * someone else turns the loop they wait in the tracer, told at the next
 * enter. The function is called in protected mode, each time with
 * {session=, kind=, line=, time= [, destination=]}; the first error it
 * raises stops the tracer (the Lua layer wraps a user's function to
 * report its error: mailcast.smtp). */
#ifndef MC_L_TRACE_H
#define MC_L_TRACE_H

#include <lua.h>

#include "core/buf.h"
#include "core/smtp_trace.h"

typedef struct mc_l_tracer mc_l_tracer_t;

/* A tracer of the function at idx, whose lines name destination (NULL:
 * none). Raises when out of memory. */
mc_l_tracer_t *mc_l_tracer_new(lua_State *L, int idx, const char *destination);

void mc_l_tracer_free(lua_State *L, mc_l_tracer_t *t);

/* From now on until leave, lines go to the function at once, called on
 * L (the thread that turns the loop); those that waited go first. */
void mc_l_tracer_enter(mc_l_tracer_t *t, lua_State *L);
void mc_l_tracer_leave(mc_l_tracer_t *t);

/* An mc_pool_trace_cb: arg is the tracer. */
void mc_l_tracer_line(unsigned long session, mc_trace_kind_t kind, const char *line, size_t n,
                      double time, void *arg);

/* Pushes the records of b as a list; a buffer that ran out of memory
 * ends with a line that says so. */
void mc_l_pushrecords(lua_State *L, const mc_buf_t *b);

#endif
