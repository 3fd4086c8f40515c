/* A message body made from a template, the way a campaign makes one per
 * recipient: the template's static text is made canonical (CRLF) and
 * quoted-printable once, in a plan, and each message encodes only the
 * lines its variables are on. The body is the same, byte for byte, as
 * mc_part_new would make of the whole rendering.
 *
 * It is exact because both encodings work line by line: a text op's
 * "middle", from after its first line break to after its last, is whole
 * lines, whose encoding does not depend on what comes before or after
 * them; the rest of each op, and the variables, are rendered into one
 * buffer per message and encoded there, and the counts the encoding is
 * chosen from are added up. */
#ifndef MC_TEXTPART_H
#define MC_TEXTPART_H

#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "part.h"
#include "template.h"

typedef struct mc_textplan mc_textplan_t;

/* One rendering: its own bytes, and where the middles it left out go
 * (after raw's first marks[2k] bytes, op marks[2k + 1]'s middle). */
typedef struct {
  mc_buf_t raw;
  size_t *marks;
  size_t nmarks, cap;
  int failed;
  mc_buf_t canon;   /* mc_textplan_part's room, kept for the next one */
  size_t *ends;
  size_t ends_cap;
} mc_textrender_t;

/* The plan of template t for bodies of type ("text/plain" or
 * "text/html", a static string); NULL with e set when out of memory.
 * It keeps nothing of t: renderings pass t along. Refs start at 1. */
mc_textplan_t *mc_textplan_new(const mc_tpl_t *t, const char *type, mc_error_t *e);
void mc_textplan_unref(mc_textplan_t *p);

/* Appends text op i of t (the template the plan was made of) to r. */
void mc_textplan_text(const mc_textplan_t *p, const mc_tpl_t *t, mc_textrender_t *r, size_t i);

/* The body part of rendering r (it refers to p, which it keeps). NULL
 * when it cannot be made this way (it would be base64, or the text is
 * not UTF-8, or out of memory): then mc_part_new of mc_textplan_full's
 * text makes it, or says what is wrong, as for any body. */
mc_part_t *mc_textplan_part(mc_textplan_t *p, mc_textrender_t *r, int allow_8bit);

/* The whole text of rendering r into out. */
void mc_textplan_full(const mc_textplan_t *p, const mc_tpl_t *t, const mc_textrender_t *r,
                      mc_buf_t *out);

void mc_textrender_reset(mc_textrender_t *r);
void mc_textrender_free(mc_textrender_t *r);

#endif
