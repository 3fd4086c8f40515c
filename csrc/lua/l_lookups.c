#include "l_lookups.h"

#include <stdlib.h>
#include <string.h>

typedef struct resolver {
  char *key;                    /* "server|timeout|tries" */
  mc_dns_t *dns;
  struct resolver *next;
} resolver_t;

typedef struct lookup {
  mc_l_lookups_t *owner;
  long long id;
  mc_lookup_kind_t kind;
  char *name;
  mc_mx_result_t mx;
  mc_txt_result_t txt;
  struct lookup *next;          /* the answered list */
} lookup_t;

struct mc_l_lookups {
  struct event_base *base;
  mc_sched_t *sched;
  resolver_t *resolvers;
  lookup_t *answered, *answered_tail;
  size_t pending;
  long long next_id;
};


void mc_l_dnsopts(lua_State *L, int idx, mc_l_dnsopts_t *o) {
  o->server = NULL;
  o->timeout = 5;
  o->tries = 2;
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_getfield(L, idx, "server");
  o->server = luaL_optstring(L, -1, NULL);   /* the table keeps it alive */
  lua_getfield(L, idx, "timeout");
  o->timeout = luaL_optnumber(L, -1, o->timeout);
  lua_getfield(L, idx, "tries");
  o->tries = (int)luaL_optinteger(L, -1, o->tries);
  lua_pop(L, 3);
  if (o->timeout <= 0) luaL_argerror(L, idx, "timeout must be positive");
}


void mc_l_pushmx(lua_State *L, const mc_mx_result_t *r) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, mc_dns_status_name(r->status));
  lua_setfield(L, -2, "status");
  lua_pushboolean(L, r->implicit);
  lua_setfield(L, -2, "implicit");
  if (r->error[0]) {
    lua_pushstring(L, r->error);
    lua_setfield(L, -2, "error");
  }
  lua_createtable(L, (int)r->nhosts, 0);
  for (size_t i = 0; i < r->nhosts; i++) {
    const mc_mx_host_t *h = &r->hosts[i];
    lua_createtable(L, 0, 3);
    lua_pushstring(L, h->name);
    lua_setfield(L, -2, "name");
    lua_pushinteger(L, h->preference);
    lua_setfield(L, -2, "preference");
    lua_createtable(L, (int)h->naddrs, 0);
    for (size_t k = 0; k < h->naddrs; k++) {
      lua_pushstring(L, h->addrs[k]);
      lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    lua_setfield(L, -2, "addresses");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "hosts");
}


static void push_txt(lua_State *L, const mc_txt_result_t *r) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, mc_dns_status_name(r->status));
  lua_setfield(L, -2, "status");
  if (r->error[0]) {
    lua_pushstring(L, r->error);
    lua_setfield(L, -2, "error");
  }
  lua_createtable(L, (int)r->nrecords, 0);
  for (size_t i = 0; i < r->nrecords; i++) {
    lua_pushstring(L, r->records[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "records");
}


mc_l_lookups_t *mc_l_lookups_new(struct event_base *base, mc_sched_t *sched) {
  mc_l_lookups_t *lk = calloc(1, sizeof *lk);
  if (lk == NULL) return NULL;
  lk->base = base;
  lk->sched = sched;
  return lk;
}


static void answered(lookup_t *q) {
  mc_l_lookups_t *lk = q->owner;
  q->next = NULL;
  if (lk->answered_tail) lk->answered_tail->next = q;
  else lk->answered = q;
  lk->answered_tail = q;
  lk->pending--;
  mc_sched_release(lk->sched);
}


static void on_mx(mc_mx_result_t *r, void *arg) {
  lookup_t *q = arg;
  q->mx = *r;   /* ours to free now */
  answered(q);
}


static void on_txt(mc_txt_result_t *r, void *arg) {
  lookup_t *q = arg;
  q->txt = *r;
  answered(q);
}


/* The resolver for these settings, made on first use. */
static mc_dns_t *resolver_for(mc_l_lookups_t *lk, const mc_l_dnsopts_t *o, mc_error_t *e) {
  char key[512];
  snprintf(key, sizeof key, "%s|%g|%d", o->server ? o->server : "", o->timeout, o->tries);
  for (resolver_t *r = lk->resolvers; r; r = r->next)
    if (strcmp(r->key, key) == 0) return r->dns;
  resolver_t *r = calloc(1, sizeof *r);
  if (r == NULL || (r->key = strdup(key)) == NULL) {
    free(r);
    mc_error_set(e, "out of memory");
    return NULL;
  }
  r->dns = mc_dns_new(lk->base, o->server, o->timeout, o->tries, e);
  if (r->dns == NULL) {
    free(r->key);
    free(r);
    return NULL;
  }
  r->next = lk->resolvers;
  lk->resolvers = r;
  return r->dns;
}


long long mc_l_lookups_start(mc_l_lookups_t *lk, mc_lookup_kind_t kind, const char *name,
                             const mc_l_dnsopts_t *o, mc_error_t *e) {
  mc_dns_t *dns = resolver_for(lk, o, e);
  if (dns == NULL) return 0;
  lookup_t *q = calloc(1, sizeof *q);
  if (q == NULL || (q->name = strdup(name)) == NULL) {
    free(q);
    mc_error_set(e, "out of memory");
    return 0;
  }
  q->owner = lk;
  q->id = ++lk->next_id;
  q->kind = kind;
  long long id = q->id;   /* q may be answered (and taken) before we return */
  lk->pending++;
  mc_sched_hold(lk->sched);
  if (kind == MC_LOOKUP_MX) mc_dns_mx(dns, name, on_mx, q);
  else mc_dns_txt(dns, name, on_txt, q);
  return id;
}


size_t mc_l_lookups_pending(const mc_l_lookups_t *lk) { return lk->pending; }


static void free_lookup(lookup_t *q) {
  mc_mx_result_free(&q->mx);
  mc_txt_result_free(&q->txt);
  free(q->name);
  free(q);
}


void mc_l_lookups_take(lua_State *L, mc_l_lookups_t *lk) {
  lua_newtable(L);
  lua_Integer n = 0;
  while (lk->answered) {
    lookup_t *q = lk->answered;   /* still listed if pushing raises */
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, q->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, q->name);
    lua_setfield(L, -2, "name");
    if (q->kind == MC_LOOKUP_MX) mc_l_pushmx(L, &q->mx);
    else push_txt(L, &q->txt);
    lua_setfield(L, -2, "result");
    lua_rawseti(L, -2, ++n);
    lk->answered = q->next;
    if (lk->answered == NULL) lk->answered_tail = NULL;
    free_lookup(q);
  }
}


void mc_l_lookups_free(mc_l_lookups_t *lk) {
  if (lk == NULL) return;
  while (lk->resolvers) {   /* the pending ones are answered now, as failed */
    resolver_t *r = lk->resolvers;
    lk->resolvers = r->next;
    mc_dns_free(r->dns);
    free(r->key);
    free(r);
  }
  while (lk->answered) {
    lookup_t *q = lk->answered;
    lk->answered = q->next;
    free_lookup(q);
  }
  free(lk);
}
