/* Routes: their defaults, the TLS context made once for all their
 * sessions, and their release; and mc_timeval, for the timeouts they
 * carry. Apart from smtp_session.c because a route is configuration its
 * owner makes and frees, which sessions only read. */
#include "smtp_session.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ssl_error.h"


struct timeval mc_timeval(double seconds) {
  if (seconds < 0) seconds = 0;
  time_t whole = (time_t)seconds;
  return (struct timeval){whole, (suseconds_t)((seconds - (double)whole) * 1e6)};
}


void mc_route_init(mc_route_t *r) {
  memset(r, 0, sizeof *r);
  r->port = 25;
  r->tls = MC_TLS_OPPORTUNISTIC;
  r->pipelining = 1;
  r->chunking = 1;
  r->timeouts = (mc_smtp_timeouts_t){
    .connect = 30, .greeting = 300, .ehlo = 300, .tls = 60, .mail = 300, .rcpt = 300,
    .data_init = 120, .data_block = 180, .data_end = 600, .command = 300,
  };
}


static void tls_error(mc_error_t *e, const char *what) {
  mc_error_ssl(e, "tls", what);
}


int mc_route_prepare(mc_route_t *r, mc_error_t *e) {
  if (r->tls == MC_TLS_NONE && !r->implicit_tls) return 0;
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) { tls_error(e, "cannot make a context"); return -1; }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (r->tls == MC_TLS_VERIFY) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = r->ca_file ? SSL_CTX_load_verify_locations(ctx, r->ca_file, NULL)
                        : SSL_CTX_set_default_verify_paths(ctx);
    if (!ok) {
      tls_error(e, r->ca_file ? "cannot load the CA file" : "cannot load the system store");
      SSL_CTX_free(ctx);
      return -1;
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  }
  r->ssl_ctx = ctx;
  return 0;
}


void mc_targets_free(mc_target_t *t, size_t n) {
  for (size_t i = 0; t != NULL && i < n; i++) {
    free(t[i].address);
    free(t[i].name);
  }
  free(t);
}


void mc_route_free(mc_route_t *r) {
  free(r->host);
  mc_targets_free(r->targets, r->ntargets);
  free(r->server_name);
  free(r->ca_file);
  free(r->helo);
  if (r->password) OPENSSL_cleanse(r->password, strlen(r->password));
  if (r->oauth_token) OPENSSL_cleanse(r->oauth_token, strlen(r->oauth_token));
  free(r->user);
  free(r->password);
  free(r->oauth_token);
  free(r->auth_mechanism);
  if (r->ssl_ctx) SSL_CTX_free(r->ssl_ctx);
  memset(r, 0, sizeof *r);
}
