#include "acctlog.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"

#define KEEP (256 * 1024)   /* a buffer grown past this (a huge reply) is not kept */

struct mc_acctlog {
  int fd;
  char *path;            /* for the messages */
  mc_buf_t buf;          /* the records not yet written */
  size_t ended;          /* bytes of buf in ended records: what a flush writes */
  long long second;      /* the second whose text is in second_text (-1: none) */
  char second_text[64];  /* "2026-11-29T04:05:06" */
  long long ms;          /* the millisecond whose text is in iso (-1: none) */
  char iso[80];          /* "2026-11-29T04:05:06.789Z" */
  size_t iso_len;
};


mc_acctlog_t *mc_acctlog_open(const char *path, mc_error_t *e, int *err) {
  mc_acctlog_t *log = calloc(1, sizeof *log);
  char *copy = strdup(path);
  if (log == NULL || copy == NULL) {
    free(log);
    free(copy);
    *err = ENOMEM;
    mc_error_set(e, "%s: not enough memory", path);
    return NULL;
  }
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) {
    *err = errno;
    mc_error_set(e, "%s: %s", path, strerror(*err));
    free(log);
    free(copy);
    return NULL;
  }
  log->fd = fd;
  log->path = copy;
  log->second = log->ms = -1;
  return log;
}


/* All n bytes of p, across partial writes and interrupted calls. */
static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}


int mc_acctlog_flush(mc_acctlog_t *log, mc_error_t *e, int *err) {
  int rc = 0;
  if (log->ended > 0 && write_all(log->fd, log->buf.data, log->ended) != 0) {
    *err = errno;
    mc_error_set(e, "%s: %s", log->path, strerror(*err));
    rc = -1;
  }
  log->buf.len = log->ended = 0;
  log->buf.failed = 0;
  if (log->buf.cap > KEEP) mc_buf_free(&log->buf);
  return rc;
}


int mc_acctlog_close(mc_acctlog_t *log, mc_error_t *e, int *err) {
  if (log == NULL) return 0;
  int rc = mc_acctlog_flush(log, e, err);
  if (close(log->fd) != 0 && rc == 0) {
    *err = errno;
    mc_error_set(e, "%s: %s", log->path, strerror(*err));
    rc = -1;
  }
  mc_buf_free(&log->buf);
  free(log->path);
  free(log);
  return rc;
}


/* log->iso for the wall clock now, made as os.date("!%Y-%m-%dT%H:%M:%S")
 * and "%s.%03dZ" made it from the time in seconds (a double, as
 * core.time gives it): the same text to the byte. Several records a
 * millisecond share one, and the date is made once a second. */
static void update_time(mc_acctlog_t *log) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
  long long ms = (long long)floor(t * 1000);
  if (ms == log->ms) return;
  long long second = ms / 1000 - (ms % 1000 < 0);   /* floor, as Lua's // */
  if (second != log->second) {
    time_t whole = (time_t)second;
    struct tm tm;
    size_t n = 0;
    if (gmtime_r(&whole, &tm) != NULL) n = strftime(log->second_text, sizeof log->second_text, "%Y-%m-%dT%H:%M:%S", &tm);
    log->second_text[n] = '\0';
    log->second = second;
  }
  int n = snprintf(log->iso, sizeof log->iso, "%s.%03dZ", log->second_text, (int)(ms - second * 1000));
  log->iso_len = n < 0 ? 0 : (size_t)n < sizeof log->iso ? (size_t)n : sizeof log->iso - 1;
  log->ms = ms;
}


void mc_acctlog_begin(mc_acctlog_t *log, const char *type) {
  mc_buf_t *b = &log->buf;
  b->len = log->ended;   /* a record left unfinished is dropped */
  b->failed = 0;         /* a failed growth left the data as it was */
  update_time(log);
  mc_buf_add(b, "{\"time\":\"", 9);
  mc_buf_add(b, log->iso, log->iso_len);
  mc_buf_add(b, "\",\"type\":", 9);
  mc_json_string(b, type, strlen(type));
}


void mc_acctlog_string(mc_acctlog_t *log, mc_acctlog_key_t key, const char *s, size_t n) {
  mc_json_string_framed(&log->buf, key.text, key.len, s, n, "", 0);
}


void mc_acctlog_integer(mc_acctlog_t *log, mc_acctlog_key_t key, long long v) {
  mc_buf_add(&log->buf, key.text, key.len);
  mc_json_integer(&log->buf, v);
}


void mc_acctlog_double(mc_acctlog_t *log, mc_acctlog_key_t key, double v) {
  mc_buf_add(&log->buf, key.text, key.len);
  mc_json_double(&log->buf, v);
}


void mc_acctlog_bool(mc_acctlog_t *log, mc_acctlog_key_t key, int v) {
  mc_buf_add(&log->buf, key.text, key.len);
  if (v) mc_buf_add(&log->buf, "true", 4);
  else mc_buf_add(&log->buf, "false", 5);
}


int mc_acctlog_end(mc_acctlog_t *log) {
  mc_buf_t *b = &log->buf;
  mc_buf_add(b, "}\n", 2);
  if (b->failed) {
    b->len = log->ended;
    b->failed = 0;
    return -1;
  }
  log->ended = b->len;
  return 0;
}


size_t mc_acctlog_pending(const mc_acctlog_t *log) {
  return log->buf.len;
}


/* White space as Lua's %s (isspace in the C locale). */
static int space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}


void mc_acctlog_split_server(const char *s, size_t n, mc_span_t *mx, mc_span_t *ip) {
  const char *open = n > 0 && s[n - 1] == ']' ? memchr(s, '[', n - 1) : NULL;
  if (open == NULL) {
    *mx = (mc_span_t){s, n};
    *ip = (mc_span_t){NULL, 0};
    return;
  }
  size_t name = (size_t)(open - s);
  while (name > 0 && space(s[name - 1])) name--;
  *mx = name > 0 ? (mc_span_t){s, name} : (mc_span_t){NULL, 0};
  *ip = (mc_span_t){open + 1, (size_t)(s + n - 1 - (open + 1))};
}


void mc_acctlog_split_tls(const char *s, size_t n, mc_span_t *version, mc_span_t *cipher) {
  size_t v = 0;
  while (v < n && !space(s[v])) v++;
  if (v == 0) {
    *version = *cipher = (mc_span_t){NULL, 0};
    return;
  }
  size_t c = v;
  while (c < n && space(s[c])) c++;
  *version = (mc_span_t){s, v};
  *cipher = c < n ? (mc_span_t){s + c, n - c} : (mc_span_t){NULL, 0};
}
