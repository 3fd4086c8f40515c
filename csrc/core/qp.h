/* Quoted-printable (RFC 2045 6.7). */
#ifndef MC_QP_H
#define MC_QP_H

#include "buf.h"

/* Appends the encoding of s to out. Lines are at most 76 characters,
 * soft-broken with "=" CRLF. Text mode turns every line break (CRLF, LF
 * or CR) into a hard CRLF, as RFC 2045 canonical text; binary mode
 * encodes CR and LF like any other byte, so the bytes round-trip exactly. */
void mc_qp_encode(mc_buf_t *out, const char *s, size_t n, int binary);

/* 1 when c stands for itself in quoted-printable (c is escaped otherwise,
 * and a blank before a line break is escaped too). */
static inline int mc_qp_literal(unsigned char c) {
  return (c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t';
}

/* Appends the decoding of s: soft breaks removed, "=XX" decoded, white
 * space before a hard break dropped; malformed escapes kept literally. */
void mc_qp_decode(mc_buf_t *out, const char *s, size_t n);

#endif
