#ifndef MC_MODULE_H
#define MC_MODULE_H

#include <lua.h>

/* Only luaopen_* leaves the shared object (-fvisibility=hidden). */
#define MC_EXPORT __attribute__((visibility("default")))

MC_EXPORT int luaopen_mailcast_core(lua_State *L);

#endif
