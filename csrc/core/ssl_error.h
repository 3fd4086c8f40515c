/* OpenSSL's error queue as an mc_error_t. */
#ifndef MC_SSL_ERROR_H
#define MC_SSL_ERROR_H

#include "error.h"

/* Sets e to "PREFIX: WHAT: the newest OpenSSL error" ("unknown error"
 * when the queue is empty) and clears the queue, so the next failure
 * names its own cause. */
void mc_error_ssl(mc_error_t *e, const char *prefix, const char *what);

#endif
