/* Reading header fields: RFC 2047 encoded-words and RFC 2045/2231
 * parameters, with charsets converted to UTF-8. */
#ifndef MC_HDRDECODE_H
#define MC_HDRDECODE_H

#include "buf.h"

/* Appends s with its encoded-words decoded to UTF-8. A word in a charset
 * that cannot be converted is kept as it was written. */
void mc_hdr_decode(mc_buf_t *out, const char *s, size_t n);

/* Appends bytes in charset converted to UTF-8; -1 when the charset is
 * unknown or the bytes are not valid in it (out is then unchanged). */
int mc_charset_to_utf8(mc_buf_t *out, const char *charset, size_t clen,
                       const char *s, size_t n);

typedef struct {
  char *name;    /* lowercase */
  char *value;   /* unquoted, RFC 2231 and encoded-words decoded */
} mc_param_t;

typedef struct {
  char *value;   /* the part before the first ';', lowercase, e.g. "text/plain" */
  mc_param_t *params;
  size_t nparams;
} mc_structured_t;

/* Parses "value; name=value; ..." leniently (what mail readers accept). */
int mc_structured_parse(mc_structured_t *out, const char *s, size_t n);

/* A parameter's value, or NULL. */
const char *mc_structured_param(const mc_structured_t *st, const char *name);

void mc_structured_free(mc_structured_t *st);

#endif
