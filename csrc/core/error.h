/* Error messages owned by the caller: every core function that can fail
 * takes an mc_error_t * and fills it in before returning failure. */
#ifndef MC_ERROR_H
#define MC_ERROR_H

typedef struct {
  char msg[512];
} mc_error_t;

void mc_error_set(mc_error_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
