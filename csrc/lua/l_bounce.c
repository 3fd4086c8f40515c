/* mailcast.core: bounce_parse, classify, bounce_reasons, bounce_rules. */
#include <stdlib.h>

#include "binding.h"
#include "core/bounce_parse.h"
#include "core/bounce_rules.h"


static void set_string(lua_State *L, const char *key, const char *value) {
  if (value == NULL) return;
  lua_pushstring(L, value);
  lua_setfield(L, -2, key);
}


static void set_bool(lua_State *L, const char *key, int value) {
  lua_pushboolean(L, value);
  lua_setfield(L, -2, key);
}


/* reason, category, hard, permanent, rule into the table on top. */
static void set_class(lua_State *L, const mc_class_t *c) {
  const mc_reason_info_t *info = mc_reason_info(c->reason);
  set_string(L, "reason", info->name);
  set_string(L, "category", info->category);
  set_string(L, "kumo", info->kumo);
  set_bool(L, "hard", c->hard);
  set_bool(L, "permanent", c->permanent);
  set_string(L, "rule", c->rule);
}


/* A complaint has no SMTP reason: the recipient asked not to get mail. */
static void set_complaint(lua_State *L, const mc_bounce_t *b) {
  set_string(L, "reason", "complaint");
  set_string(L, "category", b->feedback_type ? b->feedback_type : "abuse");
  set_bool(L, "hard", 1);
  set_bool(L, "permanent", 1);
  set_string(L, "rule", "feedback report");
}


/* classify(code, enhanced, text [, permanent]) -> {reason=, category=,
 * kumo=, hard=, permanent=, rule=}. code and enhanced may be nil: they
 * are then looked for in text. permanent says what to assume when no
 * code says it (default true). */
static int l_classify(lua_State *L) {
  lua_Integer code = luaL_opt(L, luaL_checkinteger, 1, 0);
  const char *enhanced = luaL_optstring(L, 2, NULL);
  size_t n;
  const char *text = luaL_optlstring(L, 3, "", &n);
  int hint = lua_isnoneornil(L, 4) ? -1 : lua_toboolean(L, 4);
  mc_class_t c;
  mc_classify(code >= 0 && code < 1000 ? (int)code : 0, enhanced, text, n, hint, &c);
  lua_createtable(L, 0, 6);
  set_class(L, &c);
  return 1;
}


/* bounce_reasons() -> {{name=, category=, kumo=, hard=, summary=}...}
 * in the taxonomy's order. */
static int l_bounce_reasons(lua_State *L) {
  lua_createtable(L, MC_REASON_COUNT, 0);
  for (int i = 0; i < MC_REASON_COUNT; i++) {
    const mc_reason_info_t *info = mc_reason_info((mc_reason_t)i);
    lua_createtable(L, 0, 5);
    set_string(L, "name", info->name);
    set_string(L, "category", info->category);
    set_string(L, "kumo", info->kumo);
    set_bool(L, "hard", info->hard);
    set_string(L, "summary", info->summary);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}


/* bounce_rules() -> {{pattern, reason}...}: the built-in text rules. */
static int l_bounce_rules(lua_State *L) {
  size_t n;
  const mc_text_rule_t *rules = mc_rules_table(&n);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_createtable(L, 2, 0);
    lua_pushstring(L, rules[i].pattern);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, mc_reason_info(rules[i].reason)->name);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}


static void push_rcpt(lua_State *L, const mc_bounce_t *b, const mc_bounce_rcpt_t *r) {
  lua_createtable(L, 0, 14);
  set_string(L, "address", r->address);
  set_string(L, "original", r->original);
  set_string(L, "action", r->action);
  set_string(L, "status", r->status);
  if (r->code) {
    lua_pushinteger(L, r->code);
    lua_setfield(L, -2, "code");
  }
  set_string(L, "diagnostic", r->diagnostic);
  set_string(L, "remote_mta", r->remote_mta);
  if (b->kind == MC_BOUNCE_COMPLAINT) set_complaint(L, b);
  else if (r->classified) set_class(L, &r->cls);
}


static void push_bounce(lua_State *L, const mc_bounce_t *b) {
  lua_createtable(L, 0, 24);
  set_string(L, "kind", mc_bounce_kind_name(b->kind));
  lua_createtable(L, (int)b->nrcpts, 0);
  for (size_t i = 0; i < b->nrcpts; i++) {
    push_rcpt(L, b, &b->rcpts[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "recipients");
  lua_createtable(L, 0, (int)b->nheaders);
  for (size_t i = 0; i < b->nheaders; i++) {
    lua_pushstring(L, b->headers[i].value);
    lua_setfield(L, -2, b->headers[i].name);
  }
  lua_setfield(L, -2, "headers");
  if (b->kind == MC_BOUNCE_COMPLAINT) set_complaint(L, b);
  else if (b->classified) set_class(L, &b->cls);
  set_string(L, "diagnostic", b->diagnostic);
  set_string(L, "verp", b->verp);
  set_string(L, "message_id", b->message_id);
  set_string(L, "from", b->from);
  set_string(L, "subject", b->subject);
  set_string(L, "reporting_mta", b->reporting_mta);
  set_string(L, "feedback_type", b->feedback_type);
  set_string(L, "user_agent", b->user_agent);
  set_string(L, "source_ip", b->source_ip);
  set_string(L, "original_mail_from", b->original_mail_from);
  set_string(L, "arrival_date", b->arrival_date);
}


static int bounce_guard_gc(lua_State *L) {
  mc_bounce_free(lua_touserdata(L, 1));   /* leaves it zeroed: safe twice */
  return 0;
}


/* bounce_parse(raw) -> {kind=, recipients={...}, verp=, message_id=,
 * headers=, ...} (see lua/mailcast/bounce.lua) | nil, message */
static int l_bounce_parse(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  /* The result is held by a guard while the tables are made, so a
   * memory error while pushing them frees it too. */
  mc_bounce_t *b = mc_l_guard(L, sizeof *b, bounce_guard_gc);
  mc_error_t e;
  if (mc_bounce_parse(s, n, b, &e) != 0) {
    mc_bounce_free(b);
    return mc_l_fail(L, &e);
  }
  push_bounce(L, b);
  mc_bounce_free(b);
  return 1;
}


void mc_l_open_bounce(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"bounce_parse", l_bounce_parse},
    {"classify", l_classify},
    {"bounce_reasons", l_bounce_reasons},
    {"bounce_rules", l_bounce_rules},
    {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
