/* DKIM canonicalisation (RFC 6376 3.4): header fields and bodies in the
 * "simple" and "relaxed" forms, and the split of a message into the
 * header fields that signing and verifying select from.
 *
 * A bare LF counts as a line break, canonicalised as CRLF: that is what
 * it becomes on the wire (SMTP has no other line ending), so a signature
 * made over the CRLF form survives the conversion. A bare CR is data. */
#ifndef MC_DKIM_CANON_H
#define MC_DKIM_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum { MC_DKIM_SIMPLE, MC_DKIM_RELAXED } mc_dkim_canon_t;

typedef struct {
  const char *start;   /* the field's first byte (its name) */
  size_t len;          /* through its last value byte: no final line break */
  size_t name_len;     /* the name, without WSP before the colon; 0: no colon */
} mc_dkim_field_t;

typedef struct {
  mc_dkim_field_t *fields;   /* top to bottom */
  size_t count;
  const char *body;          /* after the empty line (or the end) */
  size_t body_len;
} mc_dkim_msg_t;

/* Splits raw into its header fields and body; the fields point into raw.
 * Returns 0, or -1 when out of memory (m is then empty). */
int mc_dkim_msg_split(mc_dkim_msg_t *m, const char *raw, size_t len);

void mc_dkim_msg_free(mc_dkim_msg_t *m);

/* True when the field's name is name[0..n) in any case. */
int mc_dkim_field_is(const mc_dkim_field_t *f, const char *name, size_t n);

/* Appends the field canonicalised, without the CRLF that ends it in the
 * hash (the caller adds it, except for the signature field itself). */
void mc_dkim_canon_header(mc_buf_t *out, const char *field, size_t len, size_t name_len,
                          mc_dkim_canon_t c);

typedef void (*mc_dkim_sink_t)(void *ctx, const void *p, size_t n);

/* Feeds the body's canonical form to sink, its first limit bytes only
 * (UINT64_MAX: all of it, as without l=). Returns the length of the
 * whole canonical body, however much was fed. */
uint64_t mc_dkim_canon_body(const char *body, size_t n, mc_dkim_canon_t c, uint64_t limit,
                            mc_dkim_sink_t sink, void *ctx);

#endif
