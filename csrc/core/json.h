/* JSON strings from any bytes: shared by the JSON lines of the accounting
 * log and the bodies of webhooks, which both carry server replies and
 * addresses that may hold anything. */
#ifndef MC_JSON_H
#define MC_JSON_H

#include <stddef.h>

#include "buf.h"

/* Appends s (n bytes) to b as a quoted JSON string: control characters
 * escaped, valid UTF-8 kept, and any byte that is not part of valid UTF-8
 * taken as Latin-1, so the result is always valid UTF-8 and valid JSON. */
void mc_json_string(mc_buf_t *b, const char *s, size_t n);

#endif
