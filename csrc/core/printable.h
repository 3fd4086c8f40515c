/* A value from outside (an address, a header, a CSV field) as it may be
 * shown in one line of a message or a log: control bytes written \r, \n,
 * \t or \xNN, so a value holding CR LF cannot forge lines. */
#ifndef MC_PRINTABLE_H
#define MC_PRINTABLE_H

#include <stddef.h>

/* Writes at most max bytes of s (n bytes) into out (size bytes, always
 * terminated; what does not fit is left out). Returns out. */
char *mc_printable(char *out, size_t size, const char *s, size_t n, size_t max);

#endif
