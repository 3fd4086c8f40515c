#include "smtp_trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define LINE_MAX_SHOWN 1024   /* longer command lines are cut (none of ours is) */


void mc_trace_sent(mc_trace_cb cb, void *arg, struct evbuffer *out, size_t from, size_t secret_from) {
  if (cb == NULL) return;
  size_t len = evbuffer_get_length(out);
  while (from < len) {
    char line[LINE_MAX_SHOWN + sizeof MC_TRACE_HIDDEN];
    struct evbuffer_ptr at;
    if (evbuffer_ptr_set(out, &at, from, EVBUFFER_PTR_SET) != 0) return;
    size_t want = len - from < LINE_MAX_SHOWN ? len - from : LINE_MAX_SHOWN;
    ev_ssize_t got = evbuffer_copyout_from(out, &at, line, want);
    if (got <= 0) return;
    size_t n = (size_t)got, end = 0;
    while (end < n && line[end] != '\n') end++;
    size_t next = from + (end < n ? end + 1 : n);
    if (end > 0 && line[end - 1] == '\r') end--;
    if (secret_from != MC_TRACE_NO_SECRET && end > secret_from) {
      OPENSSL_cleanse(line + secret_from, end - secret_from);
      memcpy(line + secret_from, MC_TRACE_HIDDEN, sizeof MC_TRACE_HIDDEN - 1);
      end = secret_from + sizeof MC_TRACE_HIDDEN - 1;
    }
    cb(MC_TRACE_CLIENT, line, end, arg);
    OPENSSL_cleanse(line, sizeof line);
    from = next;
  }
}


void mc_trace_info(mc_trace_cb cb, void *arg, const char *fmt, ...) {
  if (cb == NULL) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  cb(MC_TRACE_INFO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, arg);
}


/* The name's one-line form (X509_NAME_oneline), or "?". */
static void name_of(const X509_NAME *name, char *out, size_t size) {
  if (name == NULL || X509_NAME_oneline(name, out, (int)size) == NULL) snprintf(out, size, "?");
}


void mc_trace_tls(mc_trace_cb cb, void *arg, SSL *ssl) {
  if (cb == NULL || ssl == NULL) return;
  mc_trace_info(cb, arg, "TLS negotiated: %s, cipher %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
  X509 *cert = SSL_get1_peer_certificate(ssl);
  if (cert == NULL) {
    mc_trace_info(cb, arg, "TLS: the server showed no certificate");
    return;
  }
  char subject[256], issuer[256], expires[64] = "?";
  name_of(X509_get_subject_name(cert), subject, sizeof subject);
  name_of(X509_get_issuer_name(cert), issuer, sizeof issuer);
  const ASN1_TIME *until = X509_get0_notAfter(cert);
  struct tm tm;
  if (until && ASN1_TIME_to_tm(until, &tm) == 1) strftime(expires, sizeof expires, "%Y-%m-%d", &tm);
  mc_trace_info(cb, arg, "TLS certificate: %s, issued by %s, valid until %s", subject, issuer, expires);
  long verify = SSL_get_verify_result(ssl);
  mc_trace_info(cb, arg, "TLS certificate check: %s", verify == X509_V_OK ? "trusted" :
                X509_verify_cert_error_string(verify));
  X509_free(cert);
}
