/* DNS look-ups a scheduler waits for along with its sessions: started on
 * the process's loop, they hold the scheduler's run() open and end it when
 * they answer (mc_sched_hold/release), and wait to be taken as Lua tables.
 * One resolver per server setting, kept for the scheduler's life. */
#ifndef MC_L_LOOKUPS_H
#define MC_L_LOOKUPS_H

#include "binding.h"
#include "core/dns.h"
#include "core/sched.h"

typedef struct mc_l_lookups mc_l_lookups_t;

typedef enum { MC_LOOKUP_MX, MC_LOOKUP_TXT } mc_lookup_kind_t;

/* Resolver settings, as Lua gives them ({server=, timeout=, tries=}). */
typedef struct {
  const char *server;   /* "127.0.0.1:5353,...", NULL: resolv.conf */
  double timeout;
  int tries;
} mc_l_dnsopts_t;

/* Reads {server=, timeout=, tries=} at idx (absent: the defaults); the
 * server string stays owned by the table. Raises on a bad value. */
void mc_l_dnsopts(lua_State *L, int idx, mc_l_dnsopts_t *o);

/* {status=, implicit=, error=, hosts={{name=, preference=, addresses={}}...}} */
void mc_l_pushmx(lua_State *L, const mc_mx_result_t *r);

mc_l_lookups_t *mc_l_lookups_new(struct event_base *base, mc_sched_t *sched);

/* Starts a look-up of name: its id (> 0), or 0 with e when the resolver
 * cannot be set up. */
long long mc_l_lookups_start(mc_l_lookups_t *lk, mc_lookup_kind_t kind, const char *name,
                             const mc_l_dnsopts_t *o, mc_error_t *e);

/* Look-ups started and not yet answered. */
size_t mc_l_lookups_pending(const mc_l_lookups_t *lk);

/* Pushes the answered look-ups, {{id=, name=, result=}...}, and forgets
 * them; the TXT result is {status=, error=, records={...}}. */
void mc_l_lookups_take(lua_State *L, mc_l_lookups_t *lk);

/* Cancels what is pending and frees everything (NULL is fine); the
 * scheduler must still be there. */
void mc_l_lookups_free(mc_l_lookups_t *lk);

#endif
