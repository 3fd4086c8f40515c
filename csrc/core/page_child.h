/* A page made by another process: a program started with posix_spawn
 * whose standard output is read on the loop, without blocking it, up to
 * a size and a deadline. mailcast serve's dashboard builds its pages so:
 * a report runs SQL over the whole store, and in a process of its own a
 * slow one cannot hold up the open pixel and the click redirects. */
#ifndef MC_PAGE_CHILD_H
#define MC_PAGE_CHILD_H

#include <stddef.h>

#include "error.h"

struct event_base;

typedef struct mc_page_child mc_page_child_t;

/* Called once, on the loop: ok is 1 when the program exited with 0 in
 * time, and out (len bytes, valid during the call) is what it wrote;
 * else ok is 0 and why says what went wrong. The callback may free the
 * child. */
typedef void (*mc_page_child_cb)(void *arg, int ok, const char *out, size_t len, const char *why);

/* Starts argv[0] (a path) with argv (NULL-ended): standard input
 * /dev/null, standard error the server's, no other descriptor of ours.
 * A program that runs past timeout seconds or writes more than max bytes
 * is killed. NULL, e says why, when it cannot be started. */
mc_page_child_t *mc_page_child_run(struct event_base *base, char *const argv[], double timeout,
                                   size_t max, mc_page_child_cb cb, void *arg, mc_error_t *e);

/* Kills the program if it still runs (cb is not called) and frees c
 * (NULL is fine). */
void mc_page_child_free(mc_page_child_t *c);

#endif
