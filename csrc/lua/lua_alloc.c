#include "lua_alloc.h"

#include <stdlib.h>
#include <string.h>

/* Blocks up to SMALL_MAX bytes, in classes of CLASS bytes. */
#define CLASS 16
#define SMALL_MAX 256
#define NCLASSES (SMALL_MAX / CLASS + 1)   /* index 0 unused */
#define SLAB_SIZE (64 * 1024)

/* A slab starts with the link to the one made before it, padded so the
 * blocks after it keep CLASS-byte alignment. */
typedef union slab {
  union slab *next;
  char pad[CLASS];
} slab_t;

struct mc_lua_heap {
  void *free[NCLASSES];   /* each free block holds the next one's address */
  char *cur, *end;        /* what is left of the newest slab */
  slab_t *slabs;
};


mc_lua_heap_t *mc_lua_heap_new(void) {
  return calloc(1, sizeof(mc_lua_heap_t));
}


void mc_lua_heap_free(mc_lua_heap_t *h) {
  if (h == NULL) return;
  while (h->slabs) {
    slab_t *next = h->slabs->next;
    free(h->slabs);
    h->slabs = next;
  }
  free(h);
}


static size_t class_of(size_t n) { return (n + CLASS - 1) / CLASS; }


static void *small_alloc(mc_lua_heap_t *h, size_t c) {
  void *p = h->free[c];
  if (p) {
    h->free[c] = *(void **)p;
    return p;
  }
  size_t size = c * CLASS;
  if ((size_t)(h->end - h->cur) < size) {
    /* The old slab's last few bytes (less than SMALL_MAX) stay unused. */
    slab_t *slab = malloc(SLAB_SIZE);
    if (slab == NULL) return NULL;
    slab->next = h->slabs;
    h->slabs = slab;
    h->cur = (char *)(slab + 1);
    h->end = (char *)slab + SLAB_SIZE;
  }
  p = h->cur;
  h->cur += size;
  return p;
}


static void small_free(mc_lua_heap_t *h, void *p, size_t c) {
  *(void **)p = h->free[c];
  h->free[c] = p;
}


static void release(mc_lua_heap_t *h, void *p, size_t size) {
  if (size <= SMALL_MAX) small_free(h, p, class_of(size));
  else free(p);
}


static void *resize(mc_lua_heap_t *h, void *p, size_t osize, size_t nsize) {
  int osmall = osize <= SMALL_MAX, nsmall = nsize <= SMALL_MAX;
  if (!osmall && !nsmall) return realloc(p, nsize);
  if (osmall && nsmall && class_of(osize) == class_of(nsize)) return p;
  void *q = nsmall ? small_alloc(h, class_of(nsize)) : malloc(nsize);
  if (q == NULL) {
    /* Lua expects a shrink to succeed: the block is big enough as it is,
     * and once freed under its new size it serves that size's class. */
    return nsize < osize ? p : NULL;
  }
  memcpy(q, p, osize < nsize ? osize : nsize);
  release(h, p, osize);
  return q;
}


void *mc_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  mc_lua_heap_t *h = ud;
#if defined(__SANITIZE_ADDRESS__)
  (void)h;
  (void)osize;
  if (nsize == 0) { free(ptr); return NULL; }
  return realloc(ptr, nsize);
#endif
  if (nsize == 0) {
    if (ptr) release(h, ptr, osize);
    return NULL;
  }
  /* Without a block, osize tells the kind of object Lua makes. */
  if (ptr == NULL) return nsize <= SMALL_MAX ? small_alloc(h, class_of(nsize)) : malloc(nsize);
  return resize(h, ptr, osize, nsize);
}
