/* Opening a session: connecting to each target in turn, the greeting,
 * EHLO (HELO when the server is not ESMTP) and what it offers, STARTTLS
 * or implicit TLS and the OpenSSL setup, and AUTH (PLAIN, LOGIN,
 * XOAUTH2). Apart from smtp_session.c because it runs once per
 * connection, before any transaction. */
#include "smtp_session_internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "b64.h"
#include "hostname.h"


static void parse_ehlo(mc_session_t *s, const mc_reply_t *r) {
  static const struct { const char *kw; unsigned bit; } kws[] = {
    {"PIPELINING", MC_EXT_PIPELINING}, {"SIZE", MC_EXT_SIZE}, {"8BITMIME", MC_EXT_8BITMIME},
    {"SMTPUTF8", MC_EXT_SMTPUTF8}, {"ENHANCEDSTATUSCODES", MC_EXT_ENHANCED},
    {"DSN", MC_EXT_DSN}, {"STARTTLS", MC_EXT_STARTTLS}, {"AUTH", MC_EXT_AUTH},
    {"CHUNKING", MC_EXT_CHUNKING},
  };
  s->ext = 0;
  s->size_limit = 0;
  s->auth_offered = 0;
  const char *p = r->text.data ? r->text.data : "";
  const char *end = p + r->text.len;
  const char *line = memchr(p, '\n', (size_t)(end - p));   /* skip the greeting line */
  while (line && line < end) {
    line++;
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    size_t n = eol ? (size_t)(eol - line) : (size_t)(end - line);
    size_t kwlen = 0;
    while (kwlen < n && line[kwlen] != ' ' && line[kwlen] != '=') kwlen++;
    for (size_t k = 0; k < sizeof kws / sizeof kws[0]; k++) {
      if (strlen(kws[k].kw) == kwlen && strncasecmp(line, kws[k].kw, kwlen) == 0)
        s->ext |= kws[k].bit;
    }
    if (kwlen == 4 && strncasecmp(line, "SIZE", 4) == 0 && kwlen < n)
      s->size_limit = (size_t)strtoull(line + kwlen + 1, NULL, 10);
    if (kwlen == 4 && (strncasecmp(line, "AUTH", 4) == 0)) {
      for (size_t i = kwlen; i < n;) {
        while (i < n && (line[i] == ' ' || line[i] == '=')) i++;
        size_t w = i;
        while (i < n && line[i] != ' ') i++;
        if (i - w == 5 && strncasecmp(line + w, "PLAIN", 5) == 0) s->auth_offered |= 1u << AUTH_PLAIN;
        if (i - w == 5 && strncasecmp(line + w, "LOGIN", 5) == 0) s->auth_offered |= 1u << AUTH_LOGIN;
        if (i - w == 7 && strncasecmp(line + w, "XOAUTH2", 7) == 0) s->auth_offered |= 1u << AUTH_XOAUTH2;
      }
    }
    line = eol;
  }
}


static void send_b64(mc_session_t *s, expect_t x, const char *prefix, const char *data, size_t n) {
  char *enc = malloc(mc_b64_encoded_len(n, 0) + 1);
  if (enc == NULL) { mc_sess_fail(s, "out of memory"); return; }
  size_t len = mc_b64_encode(enc, (const unsigned char *)data, n, 0);
  enc[len] = '\0';
  s->secret_from = strlen(prefix);   /* the transcript shows the mechanism, not the secret */
  mc_sess_send_line(s, x, "%s%s", prefix, enc);
  s->secret_from = MC_TRACE_NO_SECRET;
  OPENSSL_cleanse(enc, len);
  free(enc);
}


static void start_auth(mc_session_t *s) {
  const mc_route_t *r = s->route;
  if (r->user == NULL) { mc_sess_finish(s); return; }
  if (!s->tls_on && !r->allow_plaintext_auth) {
    mc_sess_fail(s, "auth: refusing to send credentials without TLS (set allow_plaintext_auth to allow it)");
    return;
  }
  if (!(s->ext & MC_EXT_AUTH)) { mc_sess_fail(s, "auth: the server does not offer AUTH"); return; }
  char buf[1024];
  const char *want = r->auth_mechanism;
  if (want && !(s->auth_offered & (1u << (strcasecmp(want, "PLAIN") == 0 ? AUTH_PLAIN
                                          : strcasecmp(want, "LOGIN") == 0 ? AUTH_LOGIN
                                          : AUTH_XOAUTH2)))) {
    mc_sess_fail(s, "auth: the server does not offer %s", want);
    return;
  }
  if (r->oauth_token) {
    if (!(s->auth_offered & (1u << AUTH_XOAUTH2))) {
      mc_sess_fail(s, "auth: the server does not offer XOAUTH2");
      return;
    }
    int n = snprintf(buf, sizeof buf, "user=%s\001auth=Bearer %s\001\001", r->user, r->oauth_token);
    if (n < 0 || (size_t)n >= sizeof buf) { mc_sess_fail(s, "auth: token too long"); return; }
    s->auth_used = AUTH_XOAUTH2;
    send_b64(s, X_AUTH, "AUTH XOAUTH2 ", buf, (size_t)n);
  } else if ((s->auth_offered & (1u << AUTH_PLAIN)) && !(want && strcasecmp(want, "LOGIN") == 0)) {
    const char *pw = r->password ? r->password : "";
    int n = snprintf(buf, sizeof buf, "%c%s%c%s", 0, r->user, 0, pw);
    if (n < 0 || (size_t)n >= sizeof buf) { mc_sess_fail(s, "auth: credentials too long"); return; }
    s->auth_used = AUTH_PLAIN;
    send_b64(s, X_AUTH, "AUTH PLAIN ", buf, (size_t)n);
  } else if (s->auth_offered & (1u << AUTH_LOGIN)) {
    s->auth_used = AUTH_LOGIN;
    mc_sess_send_line(s, X_AUTH, "AUTH LOGIN");
  } else {
    mc_sess_fail(s, "auth: no mechanism in common (PLAIN, LOGIN, XOAUTH2)");
    return;
  }
  OPENSSL_cleanse(buf, sizeof buf);
  s->auth_step = 0;
}


static void on_auth_reply(mc_session_t *s, mc_reply_t *r) {
  const mc_route_t *rt = s->route;
  if (r->code == 235) { mc_sess_finish(s); return; }
  if (r->code == 334 && s->auth_used == AUTH_LOGIN && s->auth_step < 2) {
    const char *v = s->auth_step++ == 0 ? rt->user : (rt->password ? rt->password : "");
    send_b64(s, X_AUTH, "", v, strlen(v));
    return;
  }
  if (r->code == 334 && s->auth_used == AUTH_XOAUTH2) {
    mc_sess_send_line(s, X_AUTH, "%s", "");   /* the error details come next */
    return;
  }
  mc_sess_fail_with_reply(s, "auth: refused", r);
}


static void start_tls(mc_session_t *s);


/* After EHLO (or HELO): TLS first if the policy wants it, then AUTH. */
static void after_hello(mc_session_t *s) {
  const mc_route_t *r = s->route;
  if (!s->tls_on && r->tls != MC_TLS_NONE) {
    if (s->ext & MC_EXT_STARTTLS) {
      mc_sess_send_line(s, X_STARTTLS, "STARTTLS");
      return;
    }
    if (r->tls != MC_TLS_OPPORTUNISTIC) {
      mc_sess_fail(s, "tls: the server does not offer STARTTLS");
      return;
    }
  }
  start_auth(s);
}


/* Our name in EHLO and HELO: the route's, else the machine's fully
 * qualified name, else the address literal of our end of the connection
 * (RFC 5321 4.1.4); "localhost" would tell the server nothing, and
 * strict servers refuse it. */
static const char *helo_name(const mc_session_t *s, char *buf, size_t size) {
  if (s->route->helo) return s->route->helo;
  const char *fqdn = mc_host_fqdn();
  if (fqdn) return fqdn;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  evutil_socket_t fd = s->bev ? bufferevent_getfd(s->bev) : -1;
  if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
      mc_host_address_literal(&ss, buf, size) == 0)
    return buf;
  return "localhost";
}


void mc_sess_send_hello(mc_session_t *s, expect_t x) {
  char literal[64];
  mc_sess_send_line(s, x, "%s %s", x == X_HELO ? "HELO" : "EHLO", helo_name(s, literal, sizeof literal));
}


void mc_sess_on_open_reply(mc_session_t *s, expect_t x, mc_reply_t *r) {
  switch (x) {
  case X_GREETING:
    if (r->code / 100 == 5) s->retryable = 0;   /* a refusal, not a passing trouble */
    if (r->code / 100 != 2) { mc_sess_fail_with_reply(s, "greeting", r); return; }
    s->retryable = 0;
    mc_sess_send_hello(s, X_EHLO);
    return;
  case X_EHLO:
    if (r->code / 100 == 2) { parse_ehlo(s, r); after_hello(s); return; }
    if (r->code / 100 == 5) {   /* not ESMTP: HELO, and no extensions */
      mc_sess_send_hello(s, X_HELO);
      return;
    }
    mc_sess_fail_with_reply(s, "EHLO", r);
    return;
  case X_HELO:
    if (r->code / 100 != 2) { mc_sess_fail_with_reply(s, "HELO", r); return; }
    s->ext = 0;
    after_hello(s);
    return;
  case X_STARTTLS:
    if (r->code == 220) { start_tls(s); return; }
    if (s->route->tls == MC_TLS_OPPORTUNISTIC) { start_auth(s); return; }
    mc_sess_fail_with_reply(s, "tls: STARTTLS refused", r);
    return;
  case X_AUTH:
    on_auth_reply(s, r);
    return;
  default:
    mc_sess_fail(s, "smtp: unexpected %s reply while opening", mc_sess_expect_name(x));
  }
}


void mc_sess_describe_tls(mc_session_t *s) {
  SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
  if (ssl == NULL) return;
  s->tls_on = 1;
  snprintf(s->tls_desc, sizeof s->tls_desc, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}


void mc_sess_tls_failure(mc_session_t *s, const char *what) {
  SSL *ssl = s->bev ? bufferevent_openssl_get_ssl(s->bev) : NULL;
  long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  unsigned long code = s->bev ? bufferevent_get_openssl_error(s->bev) : 0;
  char buf[256] = "handshake failed";
  if (s->tls_plain)   /* OpenSSL's own words for it say nothing of use */
    snprintf(buf, sizeof buf, "%s", s->route->implicit_tls
             ? "the server does not speak TLS on this port (it answered in plain text)"
             : "the server did not start TLS (it answered STARTTLS, then went on in plain text)");
  else if (verify != X509_V_OK && s->route->tls == MC_TLS_VERIFY)
    snprintf(buf, sizeof buf, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
  else if (code)
    ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  mc_sess_fail(s, "tls: %s: %s", what, buf);
}


/* OpenSSL shows each record header it reads, before it judges it: one
 * no TLS peer writes (a content type outside 20..24, a major version
 * other than 3) is plain text, such as an SMTP reply from a server that
 * said 220 to STARTTLS and did not start TLS. */
static void on_tls_message(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
                           void *arg) {
  mc_session_t *s = arg;
  const unsigned char *h = buf;
  (void)version;
  (void)ssl;
  if (write_p || type != SSL3_RT_HEADER || len < 2 || s->tls_on) return;
  if (h[0] < 20 || h[0] > 24 || h[1] != 3) s->tls_plain = 1;
}


static SSL *new_ssl(mc_session_t *s) {
  const mc_route_t *r = s->route;
  SSL *ssl = SSL_new(r->ssl_ctx);
  if (ssl == NULL) return NULL;
  SSL_set_msg_callback(ssl, on_tls_message);
  SSL_set_msg_callback_arg(ssl, s);
  const char *name = r->server_name ? r->server_name : mc_sess_host_name(s);
  unsigned char ip[16];
  int is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
  if (!is_ip) SSL_set_tlsext_host_name(ssl, name);
  if (r->tls == MC_TLS_VERIFY) {
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if (is_ip) X509_VERIFY_PARAM_set1_ip_asc(param, name);
    else SSL_set1_host(ssl, name);
  }
  return ssl;
}


static void start_tls(mc_session_t *s) {
  if (s->route->ssl_ctx == NULL) { mc_sess_fail(s, "tls: the route has no TLS context"); return; }
  if (s->direct) {   /* the TLS filter writes through the plain bufferevent */
    bufferevent_enable(s->bev, EV_WRITE);
    s->direct = 0;
  }
  if (s->tls_out == NULL && (s->tls_out = evbuffer_new()) == NULL) {
    mc_sess_fail(s, "out of memory");
    return;
  }
  SSL *ssl = new_ssl(s);
  if (ssl == NULL) { mc_sess_fail(s, "tls: cannot make a session"); return; }
  struct bufferevent *tls = bufferevent_openssl_filter_new(
      s->base, s->bev, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  if (tls == NULL) { SSL_free(ssl); mc_sess_fail(s, "tls: cannot start"); return; }
  s->bev = tls;   /* the filter owns the plain one now */
  s->ext = 0;
  s->retryable = 1;   /* a failed negotiation moves on to the next host */
  struct timeval block = mc_timeval(s->route->timeouts.data_block);
  bufferevent_set_timeouts(tls, NULL, &block);
  bufferevent_setcb(tls, mc_sess_on_read, mc_sess_on_write, mc_sess_on_event, s);
  bufferevent_enable(tls, EV_READ | EV_WRITE);
  struct timeval tv = mc_timeval(s->route->timeouts.tls);
  evtimer_add(s->timer, &tv);
}


static void open_session(mc_session_t *s, mc_session_cb cb, void *arg) {
  mc_sess_drop_connection(s);
  mc_sess_start_op(s, OP_OPEN, cb, arg);
  s->target = 0;
  mc_sess_connect_target(s);
}


void mc_session_open(mc_session_t *s, mc_session_cb cb, void *arg) {
  mc_sess_enter(s);   /* what it queues is flushed on the way out */
  open_session(s, cb, arg);
  mc_sess_leave(s);
}


static const char *host_address(const mc_session_t *s) {
  const mc_route_t *r = s->route;
  return r->ntargets ? r->targets[s->target].address : r->host;
}


/* Connects to the current target; mc_sess_fail() moves on to the next one. */
void mc_sess_connect_target(mc_session_t *s) {
  const mc_route_t *r = s->route;
  s->ext = 0;
  s->direct = 0;
  s->tls_on = 0;
  s->tls_plain = 0;
  s->tls_desc[0] = '\0';
  s->auth_used = AUTH_NONE;
  s->ntxn = 0;
  s->retryable = 1;
  mc_reply_free(&s->reply);
  const char *address = host_address(s);
  snprintf(s->peer, sizeof s->peer, "%s [%s]", mc_sess_host_name(s), address);
  int port_number = mc_sess_target_port(s);
  char port[16];
  snprintf(port, sizeof port, "%d", port_number);
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  int gai = getaddrinfo(address, port, &hints, &ai);
  if (gai != 0) { mc_sess_fail(s, "dns: %s: %s", address, gai_strerror(gai)); return; }
  int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
  if (r->implicit_tls) {
    SSL *ssl = r->ssl_ctx ? new_ssl(s) : NULL;
    if (ssl) s->bev = bufferevent_openssl_socket_new(s->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, opts);
    if (ssl && s->bev == NULL) SSL_free(ssl);
  } else {
    s->bev = bufferevent_socket_new(s->base, -1, opts);
  }
  if (s->bev == NULL) { freeaddrinfo(ai); mc_sess_fail(s, "closed: cannot make a socket"); return; }
  if (r->implicit_tls && (s->tls_out = evbuffer_new()) == NULL) {
    freeaddrinfo(ai);
    mc_sess_fail(s, "out of memory");
    return;
  }
  bufferevent_setcb(s->bev, mc_sess_on_read, mc_sess_on_write, mc_sess_on_event, s);
  bufferevent_enable(s->bev, EV_READ | EV_WRITE);
  struct timeval block = mc_timeval(r->timeouts.data_block);
  bufferevent_set_timeouts(s->bev, NULL, &block);
  struct timeval tv = mc_timeval(r->timeouts.connect);
  evtimer_add(s->timer, &tv);
  mc_trace_info(s->trace, s->trace_arg, "connecting to %s port %d", s->peer, port_number);
  int rc = bufferevent_socket_connect(s->bev, ai->ai_addr, (int)ai->ai_addrlen);
  freeaddrinfo(ai);
  if (rc != 0) mc_sess_fail(s, "closed: cannot connect to %s:%d", s->peer, port_number);
}
