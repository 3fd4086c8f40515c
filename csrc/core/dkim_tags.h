/* DKIM tag=value lists (RFC 6376 3.2): the DKIM-Signature field's value
 * and the key record in DNS. The tags point into the text parsed; values
 * keep the folding white space inside them (base64 values may be folded)
 * but not around them. */
#ifndef MC_DKIM_TAGS_H
#define MC_DKIM_TAGS_H

#include <stddef.h>
#include <stdint.h>

#define MC_DKIM_MAX_TAGS 48   /* more than any signature or record needs */

typedef struct {
  const char *name;
  size_t name_len;
  const char *value;      /* trimmed */
  size_t value_len;
  const char *after_eq;   /* the byte after "=": where the raw value starts */
  const char *end;        /* the ";" that ends the tag, or the end of the list */
} mc_dkim_tag_t;

typedef struct {
  mc_dkim_tag_t tags[MC_DKIM_MAX_TAGS];
  size_t count;
} mc_dkim_tags_t;

/* Parses s[0..n). Returns 0, or -1 with *why set to a fixed reason:
 * a tag without "=", a bad tag name, a tag given twice, too many tags. */
int mc_dkim_tags_parse(mc_dkim_tags_t *t, const char *s, size_t n, const char **why);

/* The tag called name (case-sensitive, as 3.2 says), or NULL. */
const mc_dkim_tag_t *mc_dkim_tags_get(const mc_dkim_tags_t *t, const char *name);

/* True when the value is exactly s. */
int mc_dkim_tag_is(const mc_dkim_tag_t *tag, const char *s);

/* A decimal value (at most 19 digits, so it fits); 0 or -1. */
int mc_dkim_tag_uint(const mc_dkim_tag_t *tag, uint64_t *out);

/* The next item of a list separated by sep (":" in h=, k= and s= of a
 * record), trimmed of folding white space. *pos starts at 0; returns 0
 * with the item in (*item, *len), or -1 after the last. */
int mc_dkim_tag_next(const mc_dkim_tag_t *tag, char sep, size_t *pos, const char **item,
                     size_t *len);

#endif
