/* luaopen_mailcast_core: the C core as a Lua module. */
#include <signal.h>

#include "binding.h"
#include "module.h"

#ifndef MC_VERSION
#define MC_VERSION "scm"
#endif


MC_EXPORT int luaopen_mailcast_core(lua_State *L) {
  /* A server that hangs up while we write is an error for that
   * transaction (EPIPE), not a signal that ends the whole run. Only the
   * default action is replaced: a handler of the host program stays. */
  struct sigaction old;
  if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  lua_newtable(L);
  mc_l_open_codec(L);
  mc_l_open_part(L);
  mc_l_open_message(L);
  mc_l_open_parse(L);
  mc_l_open_smtp(L);
  mc_l_open_sched(L);
  mc_l_open_sys(L);
  mc_l_open_proc(L);
  mc_l_open_json(L);
  mc_l_open_dns(L);
  mc_l_open_sink(L);
  mc_l_open_store(L);
  mc_l_open_track(L);
  mc_l_open_page(L);
  mc_l_open_dkim(L);
  mc_l_open_bounce(L);
  mc_l_open_verp(L);
  mc_l_open_serve(L);
  mc_l_open_template(L);
  mc_l_open_csv(L);
  mc_l_open_entry(L);
  mc_l_open_accounting(L);
  mc_l_open_metrics(L);
  mc_l_open_html(L);
  lua_pushliteral(L, MC_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
