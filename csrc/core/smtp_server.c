#include "smtp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "addr.h"
#include "buf.h"
#include "smtp_session.h"

#define MAX_COMMAND 1024      /* RFC 5321 4.5.3.1.4 says 512; be lenient */
#define MAX_RCPTS 1000

struct mc_sink {
  struct event_base *base;
  struct evconnlistener *listener;
  mc_sink_opts_t o;
  char *maildir;
  char hostname[256];
  mc_sink_cb cb;
  void *arg;
  size_t stored;
  unsigned long counter;
  int port;
  struct conn *conns;         /* open connections, freed with the sink */
};

typedef struct conn {
  struct conn *prev, *next;
  mc_sink_t *sink;
  struct bufferevent *bev;
  int greeted;
  char *from;                 /* NULL: no MAIL yet */
  char **rcpts;
  size_t nrcpts;
  int in_data;
  int too_big;
  mc_buf_t data;
} conn_t;

#define MAX_DATA_LINE 65536   /* RFC 5321 says 1000; longer is refused, not held */


static void reply(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(conn_t *c, const char *fmt, ...) {
  struct evbuffer *out = bufferevent_get_output(c->bev);
  va_list ap;
  va_start(ap, fmt);
  evbuffer_add_vprintf(out, fmt, ap);
  va_end(ap);
  evbuffer_add(out, "\r\n", 2);
}


static void reset(conn_t *c) {
  free(c->from);
  c->from = NULL;
  for (size_t i = 0; i < c->nrcpts; i++) free(c->rcpts[i]);
  free(c->rcpts);
  c->rcpts = NULL;
  c->nrcpts = 0;
  c->in_data = c->too_big = 0;
  mc_buf_free(&c->data);
}


static void conn_free(conn_t *c) {
  if (c->prev) c->prev->next = c->next;
  else c->sink->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  reset(c);
  bufferevent_free(c->bev);
  free(c);
}


/* The address inside "<...>" after "FROM:"/"TO:", parameters ignored. */
static char *path_arg(const char *arg, const char *word) {
  size_t wl = strlen(word);
  if (strncasecmp(arg, word, wl) != 0) return NULL;
  const char *p = arg + wl;
  while (*p == ' ') p++;
  if (*p != '<') return NULL;
  const char *end = strchr(p, '>');
  if (end == NULL) return NULL;
  return strndup(p + 1, (size_t)(end - p - 1));
}


static const char *rule_for(const mc_sink_t *s, const char *addr) {
  const char *domain = strrchr(addr, '@');
  for (size_t i = 0; i < s->o.nrules; i++) {
    const char *a = s->o.rules[i].address;
    if (strcasecmp(a, addr) == 0 || (a[0] == '@' && domain && strcasecmp(a, domain) == 0))
      return s->o.rules[i].reply;
  }
  return NULL;
}


/* Maildir delivery: write under tmp/, then rename into new/ (atomic). */
static int store(conn_t *c, char *name, size_t size) {
  mc_sink_t *s = c->sink;
  char tmp[4096], dst[4096];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(name, size, "%lld.M%ldP%dQ%lu.%s", (long long)ts.tv_sec, ts.tv_nsec / 1000, (int)getpid(),
           ++s->counter, s->hostname);
  snprintf(tmp, sizeof tmp, "%s/tmp/%s", s->maildir, name);
  snprintf(dst, sizeof dst, "%s/new/%s", s->maildir, name);
  FILE *f = fopen(tmp, "wb");
  if (f == NULL) return -1;
  fprintf(f, "Return-Path: <%s>\r\n", c->from);
  for (size_t i = 0; i < c->nrcpts; i++) fprintf(f, "Delivered-To: %s\r\n", c->rcpts[i]);
  if (c->data.len) fwrite(c->data.data, 1, c->data.len, f);
  int failed = ferror(f);
  if (fclose(f) != 0 || failed || rename(tmp, dst) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}


static void end_of_data(conn_t *c) {
  mc_sink_t *s = c->sink;
  char name[512];
  if (c->too_big) {
    reply(c, "552 5.3.4 Message exceeds the size limit of %zu bytes", s->o.max_message);
  } else if (c->data.failed || store(c, name, sizeof name) != 0) {
    reply(c, "451 4.3.0 Cannot store the message: %s", c->data.failed ? "out of memory" : strerror(errno));
  } else {
    s->stored++;
    reply(c, "250 2.0.0 Ok: stored as %s", name);
    if (s->cb) s->cb(name, c->from, (const char *const *)c->rcpts, c->nrcpts, s->arg);
  }
  reset(c);
}


static void data_line(conn_t *c, const char *line, size_t n) {
  if (n == 1 && line[0] == '.') { end_of_data(c); return; }
  if (n > 0 && line[0] == '.') { line++; n--; }   /* dot-stuffing (RFC 5321 4.5.2) */
  if (c->sink->o.max_message && c->data.len + n + 2 > c->sink->o.max_message) c->too_big = 1;
  if (c->too_big) return;
  mc_buf_add(&c->data, line, n);
  mc_buf_add(&c->data, "\r\n", 2);
}


static void command(conn_t *c, char *line) {
  mc_sink_t *s = c->sink;
  char *arg = strchr(line, ' ');
  if (arg) *arg++ = '\0';
  else arg = line + strlen(line);
  if (strcasecmp(line, "EHLO") == 0 || strcasecmp(line, "HELO") == 0) {
    reset(c);
    c->greeted = 1;
    if (line[0] == 'H' || line[0] == 'h') { reply(c, "250 %s", s->hostname); return; }
    reply(c, "250-%s Hello %.100s", s->hostname, arg);
    reply(c, "250-PIPELINING");
    if (s->o.max_message) reply(c, "250-SIZE %zu", s->o.max_message);
    reply(c, "250-8BITMIME");
    reply(c, "250 ENHANCEDSTATUSCODES");
  } else if (strcasecmp(line, "MAIL") == 0) {
    if (!c->greeted) { reply(c, "503 5.5.1 Say EHLO first"); return; }
    if (c->from) { reply(c, "503 5.5.1 Nested MAIL command"); return; }
    char *from = path_arg(arg, "FROM:");
    mc_error_t e;
    if (from == NULL || (from[0] && mc_addr_check(from, strlen(from), &e) != 0)) {
      free(from);
      reply(c, "501 5.1.7 Bad sender address syntax");
      return;
    }
    c->from = from;
    reply(c, "250 2.1.0 Ok");
  } else if (strcasecmp(line, "RCPT") == 0) {
    if (c->from == NULL) { reply(c, "503 5.5.1 Need MAIL command"); return; }
    char *to = path_arg(arg, "TO:");
    mc_error_t e;
    if (to == NULL || mc_addr_check(to, strlen(to), &e) != 0) {
      free(to);
      reply(c, "501 5.1.3 Bad recipient address syntax");
      return;
    }
    const char *rule = rule_for(s, to);
    if (rule) { free(to); reply(c, "%s", rule); return; }
    char **r = c->nrcpts < MAX_RCPTS ? realloc(c->rcpts, (c->nrcpts + 1) * sizeof *r) : NULL;
    if (r == NULL) { free(to); reply(c, "452 4.5.3 Too many recipients"); return; }
    c->rcpts = r;
    c->rcpts[c->nrcpts++] = to;
    reply(c, "250 2.1.5 Ok");
  } else if (strcasecmp(line, "DATA") == 0) {
    if (c->from == NULL) { reply(c, "503 5.5.1 Need MAIL command"); return; }
    if (c->nrcpts == 0) { reply(c, "554 5.5.1 No valid recipients"); return; }
    c->in_data = 1;
    reply(c, "354 End data with <CR><LF>.<CR><LF>");
  } else if (strcasecmp(line, "RSET") == 0) {
    reset(c);
    reply(c, "250 2.0.0 Ok");
  } else if (strcasecmp(line, "NOOP") == 0) {
    reply(c, "250 2.0.0 Ok");
  } else if (strcasecmp(line, "QUIT") == 0) {
    reply(c, "221 2.0.0 Bye");
    bufferevent_disable(c->bev, EV_READ);
    c->greeted = -1;   /* close once the reply is out */
  } else {
    reply(c, "502 5.5.2 Command not recognized");
  }
}


static void on_read(struct bufferevent *bev, void *arg) {
  conn_t *c = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  while (c->greeted >= 0) {
    size_t n;
    char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT);
    if (line == NULL) {
      size_t have = evbuffer_get_length(in);
      if (!c->in_data && have > MAX_COMMAND) {
        reply(c, "500 5.5.6 Line too long");
        evbuffer_drain(in, have);
      } else if (c->in_data && have > MAX_DATA_LINE) {
        c->too_big = 1;   /* answered with 552 at the end of the data */
        evbuffer_drain(in, have);
      }
      return;
    }
    if (c->in_data) data_line(c, line, n);
    else if (n > MAX_COMMAND) reply(c, "500 5.5.6 Line too long");
    else command(c, line);
    free(line);
  }
}


static void on_write(struct bufferevent *bev, void *arg) {
  conn_t *c = arg;
  (void)bev;
  if (c->greeted < 0) conn_free(c);
}


static void on_event(struct bufferevent *bev, short what, void *arg) {
  conn_t *c = arg;
  (void)bev;
  if (what & BEV_EVENT_TIMEOUT) {
    reply(c, "421 4.4.2 %s Idle too long, closing", c->sink->hostname);
    bufferevent_disable(c->bev, EV_READ);
    c->greeted = -1;
    return;
  }
  conn_free(c);   /* EOF or error: an unfinished transaction is dropped */
}


static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg) {
  mc_sink_t *s = arg;
  (void)l;
  (void)sa;
  (void)len;
  conn_t *c = calloc(1, sizeof *c);
  if (c) c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
  if (c == NULL || c->bev == NULL) {
    free(c);
    evutil_closesocket(fd);
    return;
  }
  c->sink = s;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
  struct timeval idle = mc_timeval(s->o.idle_timeout > 0 ? s->o.idle_timeout : 300);
  bufferevent_set_timeouts(c->bev, &idle, NULL);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  reply(c, "220 %s ESMTP mailcast sink", s->hostname);
}


static int make_maildir(const char *dir, mc_error_t *e) {
  static const char *const subs[] = {"", "/tmp", "/new", "/cur"};
  char path[4096];
  for (size_t i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "%s%s", dir, subs[i]);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
      mc_error_set(e, "sink: cannot make %s: %s", path, strerror(errno));
      return -1;
    }
  }
  return 0;
}


mc_sink_t *mc_sink_new(struct event_base *base, const char *host, int port,
                       const mc_sink_opts_t *o, mc_sink_cb cb, void *arg, mc_error_t *e) {
  if (make_maildir(o->maildir, e) != 0) return NULL;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    len = sizeof *in4;
  } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    len = sizeof *in6;
  } else {
    mc_error_set(e, "sink: listen address '%s' is not an IP address", host);
    return NULL;
  }
  mc_sink_t *s = calloc(1, sizeof *s);
  if (s == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  s->base = base;
  s->o = *o;
  s->cb = cb;
  s->arg = arg;
  s->maildir = strdup(o->maildir);
  snprintf(s->hostname, sizeof s->hostname, "%s", o->hostname ? o->hostname : "localhost");
  s->listener = evconnlistener_new_bind(base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                        64, (struct sockaddr *)&ss, (int)len);
  if (s->listener == NULL || s->maildir == NULL) {
    mc_error_set(e, "sink: cannot listen on %s:%d: %s", host, port, strerror(errno));
    mc_sink_free(s);
    return NULL;
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&bound, &blen);
  s->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                             : ((struct sockaddr_in6 *)&bound)->sin6_port);
  return s;
}


int mc_sink_port(const mc_sink_t *s) { return s->port; }
size_t mc_sink_stored(const mc_sink_t *s) { return s->stored; }


size_t mc_sink_connections(const mc_sink_t *s) {
  size_t n = 0;
  for (const conn_t *c = s->conns; c; c = c->next) n++;
  return n;
}


void mc_sink_stop_accepting(mc_sink_t *s) {
  if (s->listener) evconnlistener_disable(s->listener);
}


void mc_sink_free(mc_sink_t *s) {
  if (s == NULL) return;
  if (s->listener) evconnlistener_free(s->listener);
  while (s->conns) conn_free(s->conns);
  free(s->maildir);
  free(s);
}
