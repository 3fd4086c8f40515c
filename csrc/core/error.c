#include "error.h"

#include <stdarg.h>
#include <stdio.h>


void mc_error_set(mc_error_t *e, const char *fmt, ...) {
  if (e == NULL) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
}
