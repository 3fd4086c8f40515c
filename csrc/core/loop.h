/* The process's one event loop. Every session, look-up, timer, listener
 * and signal of mailcast lives on it, so that while any of them waits the
 * others go on: an MX look-up for a new domain no longer holds up the
 * sessions already open, and two users of a destination see each other. */
#ifndef MC_LOOP_H
#define MC_LOOP_H

struct event_base;

/* The loop, made on first use (NULL only when it cannot be made). In a
 * child process after fork() it is reinitialised before it is handed out:
 * the parent's epoll set is not the child's to use. It lives as long as
 * the process. */
struct event_base *mc_loop(void);

/* Asks whoever turns the loop now to come back to its caller: something
 * it does not watch itself has finished (a session a hook waits on). A
 * count, read with mc_loop_wakes(), so that a turn compares it with the
 * count it began with. */
void mc_loop_wake(void);
unsigned long mc_loop_wakes(void);

#endif
