/* What the two DKIM binding files share: the key class and verify. */
#ifndef MC_L_DKIM_H
#define MC_L_DKIM_H

#include "binding.h"
#include "core/dkim_key.h"

#define MC_DKIM_KEY_CLASS "mailcast.DkimKey"

/* The key of the open DkimKey at idx, or NULL when idx is not one;
 * raises when it is a closed one. */
mc_dkim_key_t *mc_l_dkim_tokey(lua_State *L, int idx);

/* core.dkim_verify (l_dkim_verify.c). */
int mc_l_dkim_verify(lua_State *L);

#endif
