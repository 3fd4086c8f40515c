/* The client side of https:// for webhooks: a verifying TLS context and,
 * per connection, a libevent OpenSSL bufferevent that checks the chain
 * and the host name (or IP address) and sends SNI. */
#ifndef MC_HTTPS_H
#define MC_HTTPS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "error.h"

struct bufferevent;
struct event_base;

/* Verifies against ca_file, or the system's CAs when it is NULL. The
 * caller frees it with SSL_CTX_free. */
SSL_CTX *mc_https_ctx(const char *ca_file, mc_error_t *e);

/* A bufferevent (not yet connected) that will talk TLS to host; it owns
 * its SSL and socket, and checks the certificate names host (a name or an
 * address). NULL when that cannot be set up (out of memory). */
struct bufferevent *mc_https_bev(struct event_base *base, SSL_CTX *ctx, const char *host);

/* Why TLS on bev failed, into buf (empty when it did not fail: the fault
 * was elsewhere). */
void mc_https_error(struct bufferevent *bev, char *buf, size_t size);

#endif
