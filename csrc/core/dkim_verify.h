/* DKIM verification (RFC 6376 6): every DKIM-Signature field of a
 * message (or the first few) checked against its key. The caller finds
 * each key (DNS, or a key it was given) between mc_dkim_verify_begin,
 * which parses the signatures, and mc_dkim_verify_check. */
#ifndef MC_DKIM_VERIFY_H
#define MC_DKIM_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "dkim_canon.h"
#include "dkim_key.h"
#include "error.h"

/* The results of RFC 8601 2.7.1; NONE: well formed, waiting for a key. */
typedef enum {
  MC_DKIM_NONE,
  MC_DKIM_PASS,
  MC_DKIM_FAIL,        /* the signature or the body hash does not match, or it expired */
  MC_DKIM_PERMERROR,   /* a malformed signature, no usable key */
  MC_DKIM_TEMPERROR    /* the key could not be looked up now */
} mc_dkim_status_t;

typedef struct {
  mc_dkim_status_t status;
  char reason[160];      /* why it did not pass */
  char domain[256];      /* d=, s=, a=, i= as given (cut to fit) */
  char selector[256];
  char algorithm[32];
  char identity[256];
  int64_t timestamp;     /* t=, x=; -1 when absent */
  int64_t expire;
  int64_t body_length;   /* l=; -1 when absent */
  int testing;           /* the key record says t=y */
} mc_dkim_result_t;

typedef struct mc_dkim_sig mc_dkim_sig_t;

typedef struct {
  mc_dkim_msg_t msg;
  mc_dkim_result_t *results;   /* one per signature, top to bottom */
  mc_dkim_sig_t *sigs;
  size_t count;
} mc_dkim_verify_t;

/* Parses the message's DKIM-Signature fields, the first max of them
 * (0: all): a malformed one gets PERMERROR, the rest NONE. 0, or -1 with
 * e set when out of memory (v is then empty, safe to end). */
int mc_dkim_verify_begin(mc_dkim_verify_t *v, const char *raw, size_t len, size_t max,
                         mc_error_t *e);

/* Writes signature i's key name, "selector._domainkey.domain". */
void mc_dkim_verify_key_name(const mc_dkim_verify_t *v, size_t i, char *out, size_t size);

/* Checks signature i (still NONE) with key, at time now (for x=). */
void mc_dkim_verify_check(mc_dkim_verify_t *v, size_t i, const mc_dkim_key_t *key, int64_t now);

/* Gives signature i (still NONE) a status without a check: no key. */
void mc_dkim_verify_set(mc_dkim_verify_t *v, size_t i, mc_dkim_status_t status,
                        const char *reason);

void mc_dkim_verify_end(mc_dkim_verify_t *v);

/* "pass", "fail", "permerror", "temperror", or "none". */
const char *mc_dkim_status_name(mc_dkim_status_t s);

#endif
