#include "interrupt.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received;
static struct sigaction old_int, old_term;
static int trapped;


static void on_signal(int sig) {
  if (received++ > 0) {
    /* Asked twice: stop now (the store keeps what was committed). */
    signal(sig, SIG_DFL);
    raise(sig);
  }
}


void mc_interrupt_trap(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  received = 0;
  if (trapped) return;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  trapped = 1;
}


/* The count goes back to 0 too: a Ctrl-C that paused a run that has
 * ended must not cut short the next one in the same process. */
void mc_interrupt_release(void) {
  received = 0;
  if (!trapped) return;
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  trapped = 0;
}


int mc_interrupted(void) { return (int)received; }
