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

/* mc_json_string between the n_before bytes of before and the n_after
 * bytes of after, as they are (a ',' before a key, its ':' after): the
 * same bytes, with text that needs no escaping, as most of a log line,
 * copied in one piece. */
void mc_json_string_framed(mc_buf_t *b, const char *before, size_t n_before, const char *s, size_t n,
                           const char *after, size_t n_after);

/* Appends v in decimal. */
void mc_json_integer(mc_buf_t *b, long long v);

/* Appends v to the microsecond as "%.6f" writes it, trailing zeros
 * dropped but one digit kept after the point (2.0, 0.25); null when v
 * is not finite. The numbers of a log line: durations, scores. */
void mc_json_double(mc_buf_t *b, double v);

#endif
