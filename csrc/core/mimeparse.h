/* Reading a message into a tree of entities with decoded bodies: for
 * round-trip checks now, and bounces (RFC 3464 reports) later. Lenient
 * the way mail readers are, and bounded against hostile input. */
#ifndef MC_MIMEPARSE_H
#define MC_MIMEPARSE_H

#include "buf.h"
#include "error.h"
#include "hdrdecode.h"

#define MC_MIME_MAX_DEPTH 32
#define MC_MIME_MAX_ENTITIES 10000

typedef struct {
  char *name;    /* as written */
  char *value;   /* unfolded, without leading and trailing white space */
} mc_hfield_t;

typedef struct mc_entity {
  mc_hfield_t *fields;
  size_t nfields;
  mc_structured_t type;         /* value: "type/subtype", lowercase */
  mc_structured_t disposition;  /* value: "" when absent */
  char *encoding;               /* Content-Transfer-Encoding, lowercase */
  mc_buf_t body;                /* leaf: decoded; message/rfc822: as sent */
  struct mc_entity **kids;      /* multipart parts, or the enclosed message */
  size_t nkids;
  int unterminated;             /* a multipart without its close delimiter */
} mc_entity_t;

mc_entity_t *mc_mime_parse(const char *s, size_t n, mc_error_t *e);

/* The first field named name (any case), or NULL. */
const char *mc_entity_field(const mc_entity_t *ent, const char *name);

void mc_entity_free(mc_entity_t *ent);

#endif
