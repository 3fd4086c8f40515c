#include "loop.h"

#include <sys/types.h>
#include <unistd.h>

#include <event2/event.h>

static struct event_base *loop;
static pid_t owner;   /* the process that made (or last reinitialised) it */
static unsigned long wakes;


struct event_base *mc_loop(void) {
  if (loop == NULL) {
    loop = event_base_new();
    owner = getpid();
  } else if (owner != getpid()) {
    /* The events added before the fork stay added; reinit gives them
     * the child's own kernel objects. */
    if (event_reinit(loop) != 0) return NULL;
    owner = getpid();
  }
  return loop;
}


void mc_loop_wake(void) { wakes++; }


unsigned long mc_loop_wakes(void) { return wakes; }
