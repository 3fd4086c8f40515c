/* DKIM signing (RFC 6376 5, RFC 8463): the DKIM-Signature field for a
 * message, made with a key loaded once (dkim_key.h), to be prepended to
 * the message. Several signatures (two algorithms, or two domains) are
 * each made over the unsigned message and all prepended: none signs
 * another. Verifying is in dkim_verify.h. */
#ifndef MC_DKIM_H
#define MC_DKIM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dkim_canon.h"
#include "dkim_key.h"
#include "error.h"

/* Signed when present, unless a signer names its own: the fields a
 * reader sees or a mailbox provider judges a bulk message by. */
extern const char *const mc_dkim_default_headers[];

typedef struct {
  const char *domain;            /* d= */
  const char *selector;          /* s= */
  const char *identity;          /* i=, or NULL */
  const char *const *headers;    /* names to sign, or NULL: mc_dkim_default_headers */
  size_t nheaders;
  const char *const *oversign;   /* named once more than present (no field may be
                                    added later), or NULL: From */
  size_t noversign;
  mc_dkim_canon_t header_canon;  /* c= */
  mc_dkim_canon_t body_canon;
  int body_length;               /* add l= (the canonical body's length) */
  int timestamp;                 /* add t= */
  int64_t time;                  /* now, in seconds since the epoch: t= and x= */
  int64_t expire;                /* add x= time + expire, when > 0 */
} mc_dkim_sign_opts_t;

/* Appends "DKIM-Signature: ...\r\n" for msg to out: folded to lines of
 * at most 78 columns (but for a very long d= or i=). The From field is
 * always signed. 0, or -1 with e set (a message without From, a bad
 * domain, selector, identity or field name, a public key). */
int mc_dkim_sign(mc_dkim_key_t *key, const mc_dkim_sign_opts_t *o, const char *msg, size_t len,
                 mc_buf_t *out, mc_error_t *e);

/* True when s is a domain name DKIM can use in d= or s= (and in a DNS
 * query): dot-separated labels of letters, digits, "-" and "_". */
int mc_dkim_valid_domain(const char *s, size_t n);

#endif
