#include "dkim_canon.h"

#include <stdlib.h>
#include <strings.h>

#define IS_WSP(c) ((c) == ' ' || (c) == '\t')


static int add_field(mc_dkim_msg_t *m, size_t *cap, const char *start, size_t len) {
  if (m->count == *cap) {
    size_t n = *cap ? *cap * 2 : 32;
    mc_dkim_field_t *f = realloc(m->fields, n * sizeof *f);
    if (f == NULL) return -1;
    m->fields = f;
    *cap = n;
  }
  mc_dkim_field_t *f = &m->fields[m->count++];
  f->start = start;
  f->len = len;
  f->name_len = 0;
  const char *colon = IS_WSP(*start) ? NULL : memchr(start, ':', len);
  if (colon) {
    size_t n = (size_t)(colon - start);
    while (n > 0 && IS_WSP(start[n - 1])) n--;   /* RFC 5322 4.5: WSP before the colon */
    f->name_len = n;
  }
  return 0;
}


int mc_dkim_msg_split(mc_dkim_msg_t *m, const char *raw, size_t len) {
  memset(m, 0, sizeof *m);
  const char *p = raw, *end = raw + len;
  size_t cap = 0;
  m->body = end;
  while (p < end) {
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    const char *next = lf ? lf + 1 : end;
    const char *stop = lf ? lf : end;
    if (lf && stop > p && stop[-1] == '\r') stop--;
    if (lf && stop == p) {   /* the empty line: the body follows */
      m->body = next;
      break;
    }
    if (IS_WSP(*p) && m->count > 0) {   /* a continuation line */
      mc_dkim_field_t *f = &m->fields[m->count - 1];
      f->len = (size_t)(stop - f->start);
    } else if (add_field(m, &cap, p, (size_t)(stop - p)) != 0) {
      mc_dkim_msg_free(m);
      return -1;
    }
    p = next;
  }
  m->body_len = (size_t)(end - m->body);
  return 0;
}


void mc_dkim_msg_free(mc_dkim_msg_t *m) {
  free(m->fields);
  memset(m, 0, sizeof *m);
}


int mc_dkim_field_is(const mc_dkim_field_t *f, const char *name, size_t n) {
  return f->name_len == n && n > 0 && strncasecmp(f->start, name, n) == 0;
}


/* Simple (3.4.1): the field unchanged, a bare LF written as CRLF. */
static void simple_header(mc_buf_t *out, const char *f, size_t len) {
  const char *p = f, *end = f + len;
  while (p < end) {
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    if (lf == NULL) {
      mc_buf_add(out, p, (size_t)(end - p));
      break;
    }
    if (lf > p && lf[-1] == '\r') {
      mc_buf_add(out, p, (size_t)(lf + 1 - p));
    } else {
      mc_buf_add(out, p, (size_t)(lf - p));
      mc_buf_add(out, "\r\n", 2);
    }
    p = lf + 1;
  }
}


/* Relaxed (3.4.2): the name in lower case, the value unfolded, every WSP
 * run one SP, none at the ends of the value or around the colon. */
static void relaxed_header(mc_buf_t *out, const char *f, size_t len, size_t name_len) {
  char *d = mc_buf_tail(out, len + 1);   /* never longer than the field, plus a colon */
  if (d == NULL) return;
  char *start = d;
  const char *colon = name_len ? memchr(f, ':', len) : NULL;
  const char *p = f;
  if (colon) {
    for (size_t i = 0; i < name_len; i++) {
      unsigned char c = (unsigned char)f[i];
      *d++ = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    *d++ = ':';
    p = colon + 1;
  }
  const char *end = f + len;
  int space = 0, any = 0;
  for (; p < end; p++) {
    char c = *p;
    if (c == '\n' || (c == '\r' && p + 1 < end && p[1] == '\n')) continue;   /* unfolding */
    if (IS_WSP(c)) {
      space = 1;
      continue;
    }
    if (space && any) *d++ = ' ';
    *d++ = c;
    space = 0;
    any = 1;
  }
  out->len += (size_t)(d - start);
}


void mc_dkim_canon_header(mc_buf_t *out, const char *field, size_t len, size_t name_len,
                          mc_dkim_canon_t c) {
  if (c == MC_DKIM_SIMPLE) simple_header(out, field, len);
  else relaxed_header(out, field, len, name_len);
}


/* Collects canonical bytes into blocks for the sink, counting all of
 * them and passing on only those within the limit. */
typedef struct {
  mc_dkim_sink_t sink;
  void *ctx;
  uint64_t limit;
  uint64_t total;
  size_t used;
  char block[4096];
} emitter_t;


/* Counts n canonical bytes at p and passes on those within the limit. */
static void pass(emitter_t *o, const char *p, size_t n) {
  uint64_t room = o->total < o->limit ? o->limit - o->total : 0;
  o->total += n;
  if (n > room) n = (size_t)room;
  if (n) o->sink(o->ctx, p, n);
}


static void flush(emitter_t *o) {
  pass(o, o->block, o->used);
  o->used = 0;
}


static void emit(emitter_t *o, const char *p, size_t n) {
  if (n > sizeof o->block - o->used) {
    flush(o);
    if (n >= sizeof o->block) {   /* a long run goes straight through */
      pass(o, p, n);
      return;
    }
  }
  memcpy(o->block + o->used, p, n);
  o->used += n;
}


#define ONES 0x0101010101010101ULL


/* 0x80 in each byte of x that equals the byte c, 0 in the others. */
static uint64_t bytes_equal(uint64_t x, unsigned char c) {
  uint64_t t = x ^ (ONES * c), low7 = ONES * 0x7f;
  return ~(((t & low7) + low7) | t | low7);
}


/* True when a line (without WSP at its end) is already in relaxed form:
 * no tab and no two spaces in a row, as most lines of prose are. Eight
 * bytes at a time: a byte at a time, every space costs a mispredicted
 * branch. */
static int relaxed_already(const char *p, size_t n) {
  size_t i = 0;
  for (; i + 9 <= n; i += 8) {
    uint64_t here, next;
    memcpy(&here, p + i, 8);
    memcpy(&next, p + i + 1, 8);   /* lane k: the byte after lane k of here */
    if ((bytes_equal(here, ' ') & bytes_equal(next, ' ')) | bytes_equal(here, '\t')) return 0;
  }
  for (; i + 1 < n; i++)
    if (p[i] == '\t' || (p[i] == ' ' && p[i + 1] == ' ')) return 0;
  return 1;   /* p[n - 1] is not WSP */
}


/* One line (without its line break) in relaxed form, written straight
 * into the block: WSP runs become one SP, WSP at the end goes. */
static void relaxed_line(emitter_t *o, const char *p, const char *end) {
  while (end > p && IS_WSP(end[-1])) end--;
  if (relaxed_already(p, (size_t)(end - p))) {
    emit(o, p, (size_t)(end - p));
    return;
  }
  while (p < end) {
    if (o->used == sizeof o->block) flush(o);
    /* Each byte written takes a read: reading at most as many bytes as
     * the block has room for cannot overflow it. */
    size_t room = sizeof o->block - o->used;
    const char *last = (size_t)(end - p) < room ? end : p + room;
    char *d = o->block + o->used;
    while (p < last) {
      char c = *p++;
      if (IS_WSP(c)) {
        c = ' ';
        while (IS_WSP(*p)) p++;   /* stops before end: end[-1] is not WSP */
      }
      *d++ = c;
    }
    o->used = (size_t)(d - o->block);
  }
}


/* Where the canonical body's last line ends: after the trailing empty
 * lines (and, relaxed, the WSP at line ends) that both forms drop. */
static size_t content_end(const char *b, size_t n, mc_dkim_canon_t c) {
  while (n > 0) {
    if (b[n - 1] == '\n') {
      n--;
      if (n > 0 && b[n - 1] == '\r') n--;
    } else if (c == MC_DKIM_RELAXED && IS_WSP(b[n - 1])) {
      n--;
    } else {
      break;
    }
  }
  return n;
}


uint64_t mc_dkim_canon_body(const char *body, size_t n, mc_dkim_canon_t c, uint64_t limit,
                            mc_dkim_sink_t sink, void *ctx) {
  emitter_t em = {.sink = sink, .ctx = ctx, .limit = limit};
  emitter_t *o = &em;
  size_t len = content_end(body, n, c);
  if (len == 0) {
    if (c == MC_DKIM_SIMPLE) emit(o, "\r\n", 2);   /* 3.4.3: an empty body is one CRLF */
  } else {
    const char *p = body, *end = body + len;
    while (p < end) {
      const char *lf = memchr(p, '\n', (size_t)(end - p));
      const char *stop = lf ? lf : end;
      if (lf && stop > p && stop[-1] == '\r') stop--;
      if (c == MC_DKIM_RELAXED) relaxed_line(o, p, stop);
      else emit(o, p, (size_t)(stop - p));
      emit(o, "\r\n", 2);   /* the last line gets one too (3.4.3, 3.4.4) */
      p = lf ? lf + 1 : end;
    }
  }
  flush(o);
  return o->total;
}
