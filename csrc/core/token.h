/* Signed tracking tokens: what an open, click or unsubscribe URL names
 * (campaign, recipient, link) with an HMAC-SHA256 over it, so the server
 * believes only tokens it made. A token never carries a URL: a click
 * names a link index, and the server redirects to the campaign's stored
 * link, so it can never be made into an open redirect. */
#ifndef MC_TOKEN_H
#define MC_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum {
  MC_TOKEN_OPEN = 1,
  MC_TOKEN_CLICK = 2,
  MC_TOKEN_UNSUBSCRIBE = 3,
} mc_token_kind_t;

#define MC_TOKEN_ID_MAX INT64_MAX   /* campaign and recipient ids fit a Lua integer */
#define MC_TOKEN_LINK_MAX UINT32_MAX

typedef struct {
  mc_token_kind_t kind;
  uint64_t campaign;
  uint64_t recipient;   /* 0 in aggregate mode: no one in particular */
  uint32_t link;        /* a click's link index, from 1; 0 for the others */
} mc_token_t;

#define MC_TOKEN_MAX 64   /* room for the longest token and a NUL */

/* A secret ready to sign with (the HMAC key schedule is done once). */
typedef struct mc_token_key mc_token_key_t;

/* NULL with e set when OpenSSL fails or the secret is empty. */
mc_token_key_t *mc_token_key_new(const void *secret, size_t len, mc_error_t *e);
void mc_token_key_free(mc_token_key_t *k);

/* Writes t's token into out (URL-safe base64 without padding, NUL
 * terminated); returns its length, or 0 with e set when t is not a valid
 * token (a click without a link, an open with one, an id too large) or
 * OpenSSL fails. */
size_t mc_token_make(mc_token_key_t *k, const mc_token_t *t, char out[MC_TOKEN_MAX],
                     mc_error_t *e);

/* Reads the token tok (n bytes) into *t when it is one this key made:
 * 0, or -1 with e's message one of "token: malformed", "token:
 * truncated", "token: unknown version", "token: bad signature" (or an
 * OpenSSL failure). */
int mc_token_check(mc_token_key_t *k, const char *tok, size_t n, mc_token_t *t,
                   mc_error_t *e);

#endif
