/* The runner's Lua allocator. A campaign makes and drops many small Lua
 * objects for every recipient (strings, tables, closures, the guards of
 * C calls), more of one size than glibc's per-thread cache keeps (seven),
 * so most of them went through its arenas (_int_malloc, _int_free,
 * consolidation): about a tenth of the runner's CPU. Blocks up to 256
 * bytes come instead from free lists per 16-byte class, carved from
 * 64 KB slabs and kept for reuse until the state is closed; bigger ones
 * from malloc. Lua passes a block's size with every free and resize, so
 * blocks carry no header.
 *
 * One heap per Lua state, used by the thread that runs it. Sanitized
 * builds use malloc for everything, so AddressSanitizer sees every block. */
#ifndef MC_LUA_ALLOC_H
#define MC_LUA_ALLOC_H

#include <stddef.h>

typedef struct mc_lua_heap mc_lua_heap_t;

/* NULL when out of memory. */
mc_lua_heap_t *mc_lua_heap_new(void);

/* After lua_close of the state that used it. */
void mc_lua_heap_free(mc_lua_heap_t *h);

/* A lua_Alloc; ud is the heap. */
void *mc_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

#endif
