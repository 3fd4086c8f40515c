/* Ctrl-C (SIGINT) and SIGTERM as a request to stop cleanly: the first
 * one is only counted, for a run loop to notice and finish what it has
 * in flight; a second one ends the process at once, as it would have
 * without the trap. */
#ifndef MC_INTERRUPT_H
#define MC_INTERRUPT_H

void mc_interrupt_trap(void);

/* Puts the handlers that were there before back; the count is 0 again. */
void mc_interrupt_release(void);

/* Signals received since the trap was set (0: none, and always 0 while
 * no trap is set). */
int mc_interrupted(void);

#endif
