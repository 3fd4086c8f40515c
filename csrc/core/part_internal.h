/* What part.c shares with textpart.c, which makes a body part from a
 * template's rendering with the same scan, encoding choice and header
 * fields as mc_part_new, so both give the same bytes. */
#ifndef MC_PART_INTERNAL_H
#define MC_PART_INTERNAL_H

#include "part.h"

/* What the encoder choice needs to know about some bytes. Counts add up
 * over pieces split after line breaks (longest is their maximum). */
typedef struct {
  size_t high;        /* bytes >= 0x80 */
  size_t nul;
  size_t bare_eol;    /* CR or LF not part of CRLF */
  size_t longest;     /* longest line, without its break */
  int boundary_like;  /* "=_" occurs: our boundaries start with it */
  size_t escapes;     /* bytes quoted-printable would escape */
} scan_t;

/* Scans n bytes at s; with out, also appends them with every line break
 * made CRLF, and r then describes what was written. -1: out of memory. */
int mc_part_scan(const char *s, size_t n, scan_t *r, mc_buf_t *out);

/* The encoding for the content, from its scan (scanned) or a scan here;
 * MC_ENC_AUTO with e set when o's encoding cannot carry it. */
mc_encoding_t mc_part_choose(const mc_part_opts_t *o, const char *type,
                             const scan_t *scanned, const char *s, size_t n, int *crlf,
                             mc_error_t *e);

/* Writes p's header fields for p->encoding into p->head. */
int mc_part_write_head(mc_part_t *p, const mc_part_opts_t *o, const char *type,
                       mc_error_t *e);

int mc_part_is_text_type(const char *type);

#endif
