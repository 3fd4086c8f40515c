/* mailcast.core.build: a message from a Lua table, as a mailcast.Message
 * that is written out as a string, to a file or to an ltn12 sink. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "binding.h"
#include "l_part.h"
#include "core/message.h"

#define MAX_FIELDS 100

/* What a build holds while it reads the table. It lives in a userdata
 * so that a Lua error half-way (a field of the wrong type) frees it. It
 * is small, as it is cleared for every message: the lists it may need
 * are allocated when the table has them. */
typedef struct {
  mc_msg_spec_t spec;
  mc_field_t *fields;
  size_t fields_cap;
  mc_part_t **inline_parts;
  mc_part_t **attachments;
} build_state;

typedef struct {
  mc_msg_t *msg;   /* NULL once closed */
} message_box;


static int build_state_gc(lua_State *L) {
  build_state *b = lua_touserdata(L, 1);
  mc_msg_spec_t *s = &b->spec;
  mc_addrlist_free(&s->from);
  mc_addrlist_free(&s->to);
  mc_addrlist_free(&s->cc);
  mc_addrlist_free(&s->reply_to);
  mc_part_unref(s->text);
  mc_part_unref(s->html);
  for (size_t i = 0; i < s->ninline; i++) mc_part_unref(b->inline_parts[i]);
  for (size_t i = 0; i < s->nattachments; i++) mc_part_unref(b->attachments[i]);
  free(b->fields);
  free(b->inline_parts);
  free(b->attachments);
  memset(b, 0, sizeof *b);
  return 0;
}


/* Prefixes e with the field it is about: "to[2]: ...". */
static void blame(mc_error_t *e, const char *field, int index) {
  char what[64];
  if (index > 0) snprintf(what, sizeof what, "%s[%d]", field, index);
  else snprintf(what, sizeof what, "%s", field);
  char msg[sizeof e->msg];
  snprintf(msg, sizeof msg, "%s: %.440s", what, e->msg);
  memcpy(e->msg, msg, sizeof msg);
}


/* One mailbox at the top of the stack: "Name <a@b>" (or several, comma
 * separated) or {name=, address=}. */
static int read_mailbox(lua_State *L, mc_addrlist_t *list, mc_error_t *e) {
  if (lua_type(L, -1) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    return mc_addr_parse(list, s, n, e);
  }
  if (!lua_istable(L, -1)) {
    mc_error_set(e, "an address must be a string or {name=, address=}, not %s",
                 luaL_typename(L, -1));
    return -1;
  }
  size_t an = 0, nn = 0;
  lua_getfield(L, -1, "address");
  const char *addr = lua_tolstring(L, -1, &an);
  lua_getfield(L, -2, "name");
  const char *name = lua_tolstring(L, -1, &nn);
  int rc;
  if (addr == NULL) {
    mc_error_set(e, "address table without 'address'");
    rc = -1;
  } else {
    rc = mc_addr_add(list, name, nn, addr, an, e);
  }
  lua_pop(L, 2);
  return rc;
}


/* t[field]: a string, a mailbox table, or a list of them. */
static int read_addresses(lua_State *L, int t, const char *field,
                          mc_addrlist_t *list, mc_error_t *e) {
  int type = lua_getfield(L, t, field);
  int rc = 0;
  if (type == LUA_TNIL) {
    rc = 0;
  } else if (type == LUA_TTABLE && lua_getfield(L, -1, "address") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_Integer count = luaL_len(L, -1);
    if (count == 0) {   /* {} or {name=...}: better refused than sent to nobody */
      lua_getfield(L, -1, "name");
      mc_error_set(e, lua_isnil(L, -1) ? "empty list of addresses"
                                       : "address table without 'address'");
      lua_pop(L, 1);
      blame(e, field, 0);
      rc = -1;
    }
    for (lua_Integer i = 1; i <= count && rc == 0; i++) {
      lua_geti(L, -1, i);
      rc = read_mailbox(L, list, e);
      lua_pop(L, 1);
      if (rc != 0) blame(e, field, (int)i);
    }
  } else {
    if (type == LUA_TTABLE) lua_pop(L, 1);
    rc = read_mailbox(L, list, e);
    if (rc != 0) blame(e, field, 0);
  }
  lua_pop(L, 1);
  return rc;
}


/* Stack slot of the table that keeps strings made from numbers alive
 * while the build uses them (l_build's layout). */
#define ANCHOR 4


/* The value on top of the stack as a string that stays valid until the
 * build ends: a string is kept by its table, a number converted here is
 * kept by the anchor. NULL for other types. Pops the value. */
static const char *take_string(lua_State *L, size_t *n) {
  int type = lua_type(L, -1);
  const char *s = NULL;
  if (type == LUA_TSTRING || type == LUA_TNUMBER) s = lua_tolstring(L, -1, n);
  if (type == LUA_TNUMBER) {
    lua_pushvalue(L, -1);
    lua_rawseti(L, ANCHOR, luaL_len(L, ANCHOR) + 1);
  }
  lua_pop(L, 1);
  return s;
}


static const char *opt_string(lua_State *L, int t, const char *field, size_t *n) {
  int type = lua_getfield(L, t, field);
  if (type != LUA_TNIL && type != LUA_TSTRING && type != LUA_TNUMBER)
    luaL_error(L, "message field '%s' must be a string, not %s", field, luaL_typename(L, -1));
  return take_string(L, n);
}


/* The value at the top of the stack as a field value for name. */
static int add_field(lua_State *L, build_state *b, const char *name, mc_error_t *e) {
  if (b->spec.nfields == MAX_FIELDS) {
    mc_error_set(e, "more than %d extra header fields", MAX_FIELDS);
    return -1;
  }
  if (b->spec.nfields == b->fields_cap) {
    size_t cap = b->fields_cap ? 2 * b->fields_cap : 8;
    mc_field_t *fields = realloc(b->fields, cap * sizeof *fields);
    if (fields == NULL) {
      mc_error_set(e, "out of memory");
      return -1;
    }
    b->fields = fields;
    b->fields_cap = cap;
  }
  size_t n;
  const char *type = luaL_typename(L, -1);
  lua_pushvalue(L, -1);   /* take_string pops; the caller pops its own */
  const char *v = take_string(L, &n);
  if (v == NULL) {
    mc_error_set(e, "header '%s' must be a string, not %s", name, type);
    return -1;
  }
  b->fields[b->spec.nfields++] = (mc_field_t){name, v, n};
  return 0;
}


static int by_name(const void *a, const void *b) {
  return strcmp(((const mc_field_t *)a)->name, ((const mc_field_t *)b)->name);
}


/* headers: a list of {name, value} (kept in order) or a map (sorted by
 * name, so the same table always gives the same message). The strings
 * stay referenced from the message table while the build runs. */
static int read_fields(lua_State *L, int t, build_state *b, mc_error_t *e) {
  if (lua_getfield(L, t, "headers") == LUA_TNIL) { lua_pop(L, 1); return 0; }
  luaL_argexpected(L, lua_istable(L, -1), 1, "headers as a table");
  int h = lua_gettop(L);
  lua_Integer count = luaL_len(L, h);
  int rc = 0;
  if (count > 0) {
    for (lua_Integer i = 1; i <= count && rc == 0; i++) {
      lua_geti(L, h, i);
      if (!lua_istable(L, -1)) luaL_error(L, "headers[%d] must be a {name, value} pair", (int)i);
      lua_geti(L, -1, 1);
      const char *name = take_string(L, NULL);
      if (name == NULL) luaL_error(L, "headers[%d] has no name", (int)i);
      lua_geti(L, -1, 2);
      rc = add_field(L, b, name, e);
      lua_pop(L, 2);
    }
  } else {
    lua_pushnil(L);
    while (rc == 0 && lua_next(L, h) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "headers keys must be field names");
      rc = add_field(L, b, lua_tostring(L, -2), e);
      lua_pop(L, 1);
    }
    if (rc != 0) lua_pop(L, 1);  /* the key lua_next left */
    else if (b->spec.nfields > 1) qsort(b->fields, b->spec.nfields, sizeof b->fields[0], by_name);  /* fields is NULL for {} */
  }
  lua_pop(L, 1);
  return rc;
}


static int read_body(lua_State *L, int t, const char *field, const char *type,
                     int allow_8bit, mc_part_t **out, mc_error_t *e) {
  lua_getfield(L, t, field);
  mc_part_t *made = mc_l_testpart(L, -1);   /* a template's body part */
  lua_pop(L, 1);
  if (made) {
    if (made->body_type == NULL || strcmp(made->body_type, type) != 0)
      luaL_error(L, "message field '%s' must be a string or a %s part from a template", field, type);
    mc_part_ref(made);
    *out = made;
    return 0;
  }
  size_t n;
  const char *s = opt_string(L, t, field, &n);
  if (s == NULL) return 0;
  mc_part_opts_t o = {.content_type = type, .body = 1, .allow_8bit = allow_8bit};
  *out = mc_part_new(&o, s, n, e);
  if (*out == NULL) { blame(e, field, 0); return -1; }
  return 0;
}


static int read_parts(lua_State *L, int t, const char *field, mc_part_t ***list,
                      size_t *count, mc_error_t *e) {
  if (lua_getfield(L, t, field) == LUA_TNIL) { lua_pop(L, 1); return 0; }
  luaL_argexpected(L, lua_istable(L, -1), 1, "a list of parts");
  lua_Integer len = luaL_len(L, -1);
  if (len > MC_MSG_MAX_PARTS) {
    mc_error_set(e, "%s: more than %d parts", field, MC_MSG_MAX_PARTS);
    lua_pop(L, 1);
    return -1;
  }
  if (len > 0 && (*list = malloc((size_t)len * sizeof **list)) == NULL) {
    mc_error_set(e, "out of memory");
    lua_pop(L, 1);
    return -1;
  }
  for (lua_Integer i = 1; i <= len; i++) {
    lua_geti(L, -1, i);
    mc_part_t *p = mc_l_topart(L, -1, e);
    lua_pop(L, 1);
    if (p == NULL) {
      blame(e, field, (int)i);
      lua_pop(L, 1);
      return -1;
    }
    (*list)[(*count)++] = p;
  }
  lua_pop(L, 1);
  return 0;
}


static int read_spec(lua_State *L, build_state *b, mc_error_t *e) {
  mc_msg_spec_t *s = &b->spec;
  if (read_addresses(L, 1, "from", &s->from, e) != 0 ||
      read_addresses(L, 1, "to", &s->to, e) != 0 ||
      read_addresses(L, 1, "cc", &s->cc, e) != 0 ||
      read_addresses(L, 1, "reply_to", &s->reply_to, e) != 0)
    return -1;
  if (s->from.count > 1) {
    mc_error_set(e, "from: one sender only");
    return -1;
  }
  s->subject = opt_string(L, 1, "subject", &s->subject_len);
  s->message_id = opt_string(L, 1, "message_id", NULL);
  s->date_time = time(NULL);
  if (lua_getfield(L, 1, "date") == LUA_TNUMBER) {
    s->date_time = (time_t)luaL_checkinteger(L, -1);
  } else if (!lua_isnil(L, -1)) {
    s->date = lua_tostring(L, -1);
    if (s->date == NULL) luaL_error(L, "message field 'date' must be a string or a time");
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "allow_8bit");
  int allow_8bit = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (read_fields(L, 1, b, e) != 0) return -1;
  s->fields = b->fields;
  if (read_body(L, 1, "text", "text/plain", allow_8bit, &s->text, e) != 0 ||
      read_body(L, 1, "html", "text/html", allow_8bit, &s->html, e) != 0)
    return -1;
  if (read_parts(L, 1, "inline", &b->inline_parts, &s->ninline, e) != 0 ||
      read_parts(L, 1, "attachments", &b->attachments, &s->nattachments, e) != 0)
    return -1;
  s->inline_parts = b->inline_parts;
  s->attachments = b->attachments;
  return 0;
}


/* build{from=, to=, cc=, reply_to=, subject=, headers=, text=, html=,
 *       inline=, attachments=, message_id=, date=, allow_8bit=}
 *   -> Message | fail, message */
static int l_build(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  build_state *b = mc_l_guard(L, sizeof *b, build_state_gc);   /* index 2 */
  message_box *box = lua_newuserdatauv(L, sizeof *box, 0); /* index 3 */
  box->msg = NULL;
  luaL_setmetatable(L, MC_MESSAGE_CLASS);
  lua_newtable(L);                                          /* ANCHOR */
  mc_error_t e;
  e.msg[0] = '\0';
  if (read_spec(L, b, &e) == 0) box->msg = mc_msg_build(&b->spec, &e);
  mc_l_release(L, 2, build_state_gc);
  if (box->msg == NULL) return mc_l_fail(L, &e);
  lua_settop(L, 3);
  return 1;
}


const mc_msg_t *mc_l_tomessage(lua_State *L, int idx) {
  message_box *box = luaL_testudata(L, idx, MC_MESSAGE_CLASS);
  return box ? box->msg : NULL;
}


static mc_msg_t *check_message(lua_State *L) {
  message_box *box = luaL_checkudata(L, 1, MC_MESSAGE_CLASS);
  if (box->msg == NULL) luaL_error(L, "attempt to use a closed message");
  return box->msg;
}


typedef struct {
  char *dst;
  size_t off, cap;
} copy_ctx;


static int copy_out(void *ctx, const char *p, size_t n, mc_error_t *e) {
  copy_ctx *c = ctx;
  if (n > c->cap - c->off) { mc_error_set(e, "message grew while written"); return -1; }
  memcpy(c->dst + c->off, p, n);
  c->off += n;
  return 0;
}


/* message:tostring() -> the whole message | fail, message
 * The size is known up front, so the string is built with one copy. */
static int l_message_tostring(lua_State *L) {
  mc_msg_t *m = check_message(L);
  size_t size = mc_msg_size(m);
  luaL_Buffer b;
  copy_ctx c = {luaL_buffinitsize(L, &b, size), 0, size};
  mc_error_t e;
  if (mc_msg_write(m, copy_out, &c, &e) != 0) return mc_l_fail(L, &e);
  luaL_pushresultsize(&b, c.off);
  return 1;
}


static int file_out(void *ctx, const char *p, size_t n, mc_error_t *e) {
  if (fwrite(p, 1, n, ctx) != n) { mc_error_set(e, "write error"); return -1; }
  return 0;
}


typedef struct {
  lua_State *L;
  int sink;   /* stack index of the sink function */
} sink_ctx;


/* Calls sink(chunk) the ltn12 way: a false result with a message stops. */
static int call_sink(sink_ctx *c, const char *p, size_t n, int last, mc_error_t *e) {
  lua_State *L = c->L;
  lua_pushvalue(L, c->sink);
  if (last) lua_pushnil(L);
  else lua_pushlstring(L, p, n);
  if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
    mc_error_set(e, "sink: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return -1;
  }
  int ok = lua_toboolean(L, -2);
  if (!ok) mc_error_set(e, "sink: %s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "failed");
  lua_pop(L, 2);
  return ok ? 0 : -1;
}


static int sink_out(void *ctx, const char *p, size_t n, mc_error_t *e) {
  return call_sink(ctx, p, n, 0, e);
}


/* message:write(file | sink) -> true | fail, message
 * Writes piece by piece; streamed attachments are encoded on the way, so
 * the message is never whole in memory. A sink gets nil at the end. */
static int l_message_write(lua_State *L) {
  mc_msg_t *m = check_message(L);
  mc_error_t e;
  luaL_Stream *f = luaL_testudata(L, 2, LUA_FILEHANDLE);
  if (f) {
    if (f->closef == NULL) return luaL_error(L, "attempt to use a closed file");
    if (mc_msg_write(m, file_out, f->f, &e) != 0 || fflush(f->f) != 0) {
      if (e.msg[0] == '\0') mc_error_set(&e, "write error");
      return mc_l_fail(L, &e);
    }
  } else {
    luaL_checktype(L, 2, LUA_TFUNCTION);
    sink_ctx c = {L, 2};
    e.msg[0] = '\0';
    if (mc_msg_write(m, sink_out, &c, &e) != 0 || call_sink(&c, NULL, 0, 1, &e) != 0)
      return mc_l_fail(L, &e);
  }
  lua_pushboolean(L, 1);
  return 1;
}


/* message:size() -> its exact length in bytes */
static int l_message_size(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mc_msg_size(check_message(L)));
  return 1;
}


/* message:id() -> the Message-ID, with its angle brackets */
static int l_message_id(lua_State *L) {
  lua_pushstring(L, mc_msg_id(check_message(L)));
  return 1;
}


static int l_message_close(lua_State *L) {
  message_box *box = luaL_checkudata(L, 1, MC_MESSAGE_CLASS);
  mc_msg_free(box->msg);
  box->msg = NULL;
  return 0;
}


static const luaL_Reg methods[] = {
  {"tostring", l_message_tostring},
  {"write", l_message_write},
  {"size", l_message_size},
  {"id", l_message_id},
  {"close", l_message_close},
  {NULL, NULL},
};


static const luaL_Reg meta[] = {
  {"__gc", l_message_close},
  {"__close", l_message_close},
  {NULL, NULL},
};


void mc_l_open_message(lua_State *L) {
  mc_l_newclass(L, MC_MESSAGE_CLASS, meta, methods);
  lua_pushcfunction(L, l_build);
  lua_setfield(L, -2, "build");
}
