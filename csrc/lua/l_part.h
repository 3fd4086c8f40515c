/* Parts made elsewhere in the binding (a template's body part) handed
 * to Lua as mailcast.Part, and found again in a message table. */
#ifndef MC_L_PART_H
#define MC_L_PART_H

#include "binding.h"

/* Pushes an empty Part and returns its slot: the caller stores a part it
 * made after this (so an allocation error cannot leak the part); the
 * Part takes over that reference. */
mc_part_t **mc_l_newpart(lua_State *L);

/* The part of the Part at idx (no new reference), or NULL when idx is
 * no Part; raises when it is closed. */
mc_part_t *mc_l_testpart(lua_State *L, int idx);

#endif
