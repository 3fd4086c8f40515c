/* A small SMTP server that stores what it accepts in a Maildir: the
 * local target of `make demo` and of tests, and later the receiver of
 * bounces. ESMTP with PIPELINING, SIZE, 8BITMIME and enhanced codes;
 * rules can answer chosen recipients with chosen replies. */
#ifndef MC_SMTP_SERVER_H
#define MC_SMTP_SERVER_H

#include <stddef.h>

#include "error.h"

struct event_base;

typedef struct {
  char *address;   /* a whole address, or "@domain" for a domain */
  char *reply;     /* e.g. "550 5.1.1 No such user" */
} mc_sink_rule_t;

typedef struct {
  const char *maildir;         /* created with tmp/, new/ and cur/ */
  const mc_sink_rule_t *rules;
  size_t nrules;
  size_t max_message;          /* SIZE, and 552 past it */
  double idle_timeout;         /* seconds without a command: 421 and close */
  const char *hostname;
} mc_sink_opts_t;

typedef struct mc_sink mc_sink_t;

/* Called after each stored message with its file name and envelope. */
typedef void (*mc_sink_cb)(const char *file, const char *from, const char *const *rcpts,
                           size_t nrcpts, void *arg);

/* Listens on host:port (port 0: any free one). */
mc_sink_t *mc_sink_new(struct event_base *base, const char *host, int port,
                       const mc_sink_opts_t *o, mc_sink_cb cb, void *arg, mc_error_t *e);

int mc_sink_port(const mc_sink_t *s);
size_t mc_sink_stored(const mc_sink_t *s);
size_t mc_sink_connections(const mc_sink_t *s);

/* Takes no new connections; the open ones go on to their QUIT. */
void mc_sink_stop_accepting(mc_sink_t *s);
void mc_sink_free(mc_sink_t *s);

#endif
