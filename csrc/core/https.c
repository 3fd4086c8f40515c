#include "https.h"

#include <stdio.h>

#include <arpa/inet.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ssl_error.h"


SSL_CTX *mc_https_ctx(const char *ca_file, mc_error_t *e) {
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  int ok = ctx != NULL;
  if (ok) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
  }
  if (!ok) {
    char what[300];
    snprintf(what, sizeof what, "cannot load the CAs %s", ca_file ? ca_file : "of the system");
    mc_error_ssl(e, "webhooks", what);
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}


struct bufferevent *mc_https_bev(struct event_base *base, SSL_CTX *ctx, const char *host) {
  SSL *ssl = SSL_new(ctx);
  if (ssl == NULL) return NULL;
  unsigned char ip[16];
  int named;   /* what the certificate must name is set (else no connection) */
  if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
    named = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);   /* no SNI for an address */
  else
    named = SSL_set_tlsext_host_name(ssl, host) && SSL_set1_host(ssl, host);
  if (!named) { SSL_free(ssl); return NULL; }
  struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                           BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  if (bev == NULL) { SSL_free(ssl); return NULL; }
  /* Receivers that close without close_notify are common; the answer
   * they sent has been read by then. */
  bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  return bev;
}


void mc_https_error(struct bufferevent *bev, char *buf, size_t size) {
  buf[0] = '\0';
  SSL *ssl = bufferevent_openssl_get_ssl(bev);
  long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (verify != X509_V_OK) {
    snprintf(buf, size, "certificate not verified: %s", X509_verify_cert_error_string(verify));
    return;
  }
  unsigned long code = bufferevent_get_openssl_error(bev);
  if (code) {
    char why[200];
    ERR_error_string_n(code, why, sizeof why);
    snprintf(buf, size, "tls: %s", why);
  }
  ERR_clear_error();   /* nothing left behind for the next connection's message */
}
