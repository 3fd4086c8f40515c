/* The --metrics listener of a run (metrics_http.h): libevent's evhttp,
 * as mailcast serve's HTTP server uses it, with one page held in memory
 * and swapped whole when the run writes a new one. */
#include "metrics_http.h"

#include "smtp_session.h"   /* mc_timeval */

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct mc_metrics_http {
  struct evhttp *http;
  int port;
  char *page;          /* NULL until the run's first one */
  size_t len;
  unsigned long long requests;
};


static void answer(struct evhttp_request *req, int code, const char *reason, const char *type,
                   const char *body, size_t n) {
  struct evkeyvalq *out = evhttp_request_get_output_headers(req);
  evhttp_add_header(out, "Content-Type", type);
  evhttp_add_header(out, "Cache-Control", "no-store");
  struct evbuffer *b = evbuffer_new();
  if (b && n) evbuffer_add(b, body, n);
  evhttp_send_reply(req, code, reason, b);
  if (b) evbuffer_free(b);
}


static void handle(struct evhttp_request *req, void *arg) {
  mc_metrics_http_t *m = arg;
  m->requests++;
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
  const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
  if (path && strcmp(path, "/metrics") == 0) {
    static const char none[] = "# the run has not counted anything yet\n";
    answer(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", m->page ? m->page : none,
           m->page ? m->len : sizeof none - 1);
  } else if (path && strcmp(path, "/healthz") == 0) {
    answer(req, 200, "OK", "text/plain; charset=utf-8", "ok\n", 3);
  } else {
    answer(req, 404, "Not Found", "text/plain; charset=utf-8", "not found\n", 10);
  }
}


mc_metrics_http_t *mc_metrics_http_new(struct event_base *base, const char *host, int port,
                                       mc_error_t *e) {
  mc_metrics_http_t *m = calloc(1, sizeof *m);
  if (m == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  m->http = evhttp_new(base);
  if (m->http == NULL) { mc_error_set(e, "metrics: cannot make the HTTP server"); goto fail; }
  struct timeval tv = mc_timeval(10);   /* a silent client holds nothing for long */
  evhttp_set_timeout_tv(m->http, &tv);
  evhttp_set_max_body_size(m->http, 0);
  evhttp_set_max_headers_size(m->http, 8192);
  evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
  evhttp_set_gencb(m->http, handle, m);
  struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(m->http, host, (ev_uint16_t)port);
  if (bound == NULL) { mc_error_set(e, "metrics: cannot listen on %s:%d", host, port); goto fail; }
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &len) != 0) {
    mc_error_set(e, "metrics: cannot read the port");
    goto fail;
  }
  m->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return m;
fail:
  mc_metrics_http_free(m);
  return NULL;
}


int mc_metrics_http_port(const mc_metrics_http_t *m) { return m->port; }


unsigned long long mc_metrics_http_requests(const mc_metrics_http_t *m) { return m->requests; }


int mc_metrics_http_set(mc_metrics_http_t *m, const char *text, size_t len) {
  char *page = malloc(len + 1);
  if (page == NULL) return -1;
  memcpy(page, text, len);
  page[len] = '\0';
  free(m->page);
  m->page = page;
  m->len = len;
  return 0;
}


void mc_metrics_http_free(mc_metrics_http_t *m) {
  if (m == NULL) return;
  if (m->http) evhttp_free(m->http);
  free(m->page);
  free(m);
}
