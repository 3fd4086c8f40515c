#include "smtp_trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define LINE_MAX_SHOWN 1024   /* longer command lines are cut (none of ours is) */


void mc_trace_sent(mc_trace_cb cb, void *arg, struct evbuffer *out, size_t from, size_t secret_from) {
  if (cb == NULL) return;
  size_t len = evbuffer_get_length(out);
  while (from < len) {
    struct evbuffer_ptr at, eol;
    size_t eol_len = 0;
    if (evbuffer_ptr_set(out, &at, from, EVBUFFER_PTR_SET) != 0) return;
    eol = evbuffer_search_eol(out, &at, &eol_len, EVBUFFER_EOL_CRLF);
    size_t line_len = eol.pos < 0 ? len - from : (size_t)eol.pos - from;
    /* A secret is never copied out, however long its line: only the
     * bytes before it are (an OAuth token runs past LINE_MAX_SHOWN). */
    int hide = secret_from != MC_TRACE_NO_SECRET && line_len > secret_from;
    size_t shown = hide ? secret_from : line_len;
    if (shown > LINE_MAX_SHOWN) shown = LINE_MAX_SHOWN;
    char line[LINE_MAX_SHOWN + sizeof MC_TRACE_HIDDEN];
    ev_ssize_t got = shown ? evbuffer_copyout_from(out, &at, line, shown) : 0;
    if (got < 0) return;
    size_t n = (size_t)got;
    if (hide) {
      memcpy(line + n, MC_TRACE_HIDDEN, sizeof MC_TRACE_HIDDEN - 1);
      n += sizeof MC_TRACE_HIDDEN - 1;
    }
    cb(MC_TRACE_CLIENT, line, n, arg);
    from = eol.pos < 0 ? len : (size_t)eol.pos + eol_len;
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


void mc_trace_size(mc_trace_cb cb, void *arg, size_t size) {
  if (cb == NULL) return;
  static const char head[] = "(the message: ", tail[] = " bytes)";
  char line[sizeof head + 20 + sizeof tail], digits[20];
  char *end = digits + sizeof digits, *start = mc_decimal(end, size);
  size_t n = 0, len = (size_t)(end - start);
  memcpy(line, head, sizeof head - 1);
  n += sizeof head - 1;
  memcpy(line + n, start, len);
  n += len;
  memcpy(line + n, tail, sizeof tail - 1);
  n += sizeof tail - 1;
  cb(MC_TRACE_INFO, line, n, arg);
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


double mc_trace_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


void mc_trace_record(mc_buf_t *b, mc_trace_kind_t kind, double time, const char *line, size_t n) {
  mc_trace_head_t h = {kind == MC_TRACE_CLIENT ? 'C' : kind == MC_TRACE_SERVER ? 'S' : 'I', time, n};
  mc_buf_add(b, &h, sizeof h);
  mc_buf_add(b, line, n);
}


int mc_trace_next(const char *data, size_t n, size_t *at, mc_trace_head_t *h, const char **line) {
  if (*at > n || n - *at < sizeof *h) return 0;
  memcpy(h, data + *at, sizeof *h);
  if (h->len > n - *at - sizeof *h) return 0;   /* cut short by a failed append */
  *line = data + *at + sizeof *h;
  *at += sizeof *h + h->len;
  return 1;
}
