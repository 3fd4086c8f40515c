/* Unpredictable identifiers: boundaries and Message-IDs. */
#ifndef MC_RAND_H
#define MC_RAND_H

#include <stddef.h>

/* Fills buf with n random bytes from the kernel (through a per-thread
 * pool that a fork empties); 0 or -1. */
int mc_rand_bytes(void *buf, size_t n);

/* Writes n characters of [0-9a-v] (5 random bits each) plus a NUL. */
int mc_rand_token(char *out, size_t n);

#endif
