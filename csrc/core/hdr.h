/* Writing header fields: folding (RFC 5322 2.2.3), encoded-words
 * (RFC 2047) and parameter values (RFC 2231). */
#ifndef MC_HDR_H
#define MC_HDR_H

#include "buf.h"
#include "error.h"

#define MC_HDR_FOLD 78   /* preferred line length (RFC 5322 2.1.1) */

/* A field being written; col is the length of the current line. */
typedef struct {
  mc_buf_t *out;
  size_t col;
  size_t items;   /* pieces written: never fold before the first */
} mc_hdr_t;

/* Starts "Name:". */
void mc_hdr_begin(mc_hdr_t *h, mc_buf_t *out, const char *name);

/* Appends s after the white space ws (which may be empty). When the line
 * would pass MC_HDR_FOLD and there is white space to fold at, a CRLF is
 * put before ws, so unfolding gives back exactly ws and s. */
void mc_hdr_put(mc_hdr_t *h, const char *ws, size_t wsn, const char *s, size_t n);

/* Ends the field with CRLF. */
void mc_hdr_end(mc_hdr_t *h);

/* An unstructured value (Subject, extra fields): kept readable when it
 * is printable ASCII, otherwise encoded as UTF-8 encoded-words split at
 * character boundaries. The value must be valid UTF-8 without CR or LF. */
void mc_hdr_unstructured(mc_hdr_t *h, const char *s, size_t n);

/* A display name: atoms as they are, a quoted-string when it has
 * specials, encoded-words when it is not ASCII. */
void mc_hdr_phrase(mc_hdr_t *h, const char *s, size_t n);

/* "; name=value": quoted when plain ASCII, RFC 2231 extended (UTF-8,
 * percent-encoded, split into continuations) otherwise. */
void mc_hdr_param(mc_hdr_t *h, const char *name, const char *s, size_t n);

/* "; name=value" with the value as a quoted encoded-word: what older
 * mail readers look for in Content-Type's name= (not a standard). */
void mc_hdr_param_ew(mc_hdr_t *h, const char *name, const char *s, size_t n);

/* Checks text meant for a header: no CR, LF or NUL (which would let data
 * forge fields), valid UTF-8. what names it in the error. 0 or -1. */
int mc_hdr_check_value(const char *what, const char *s, size_t n, mc_error_t *e);

/* 1 when s can be written as it is (printable ASCII and tabs, no "=?",
 * no run without white space long enough to break the line limit). */
int mc_hdr_is_plain(const char *s, size_t n);

#endif
