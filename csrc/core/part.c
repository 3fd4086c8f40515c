#include "part.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "b64.h"
#include "hdr.h"
#include "mimetype.h"
#include "part_internal.h"
#include "qp.h"
#include "utf8.h"

#define MAX_LINE 998        /* RFC 5322 2.1.1, without the CRLF */
#define MAX_FILENAME 255

/* What the encoder choice needs to know about some bytes. */


/* Nonzero when one of the 8 bytes of w is outside printable ASCII or is
 * '=' (the bytes the scan has to look at one by one). It may say so of a
 * word that has none (a borrow), never the other way round. */
static inline uint64_t word_has_special(uint64_t w) {
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  uint64_t below_space = (w - ones * 0x20) & ~w;             /* a byte < 0x20 */
  uint64_t above_tilde = (w + ones) | w;                     /* a byte > 0x7E */
  uint64_t eq = w ^ (ones * '=');
  uint64_t is_eq = (eq - ones) & ~eq;                        /* a byte == '=' */
  return (below_space | above_tilde | is_eq) & highs;
}


/* Scans n bytes at s for the encoder choice. With out, the bytes are
 * also appended to it with every line break made CRLF (RFC 2045
 * canonical form: at most two bytes out per byte in), and r describes
 * what was written, so it has no bare line breaks. One pass for both:
 * it runs over every body of a campaign, 8 plain bytes at a time. */
int mc_part_scan(const char *s, size_t n, scan_t *r, mc_buf_t *out) {
  memset(r, 0, sizeof *r);
  char *d = NULL, *start = NULL;
  if (out && n > 0) {
    if ((d = start = mc_buf_tail(out, 2 * n)) == NULL) return -1;
  }
  size_t line = 0, i = 0;
  while (i < n) {
#ifdef __SSE2__
    /* 16 bytes at a time: the plain run before the first special byte
     * is copied whole, and the scan goes on at that byte. */
    if (i + 16 <= n) {
      __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
      __m128i below = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
      __m128i above = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x7F)), v);
      __m128i eq = _mm_cmpeq_epi8(v, _mm_set1_epi8('='));
      unsigned mask = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(below, above), eq));
      size_t plain = mask ? (size_t)__builtin_ctz(mask) : 16;
      if (d) { _mm_storeu_si128((__m128i *)d, v); d += plain; }
      line += plain;
      i += plain;
      if (plain == 16) continue;
    }
#endif
    if (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (!word_has_special(w)) {
        if (d) { memcpy(d, &w, 8); d += 8; }
        line += 8;
        i += 8;
        continue;
      }
    }
    unsigned char c = (unsigned char)s[i];
    if ((unsigned)(c - ' ') < 95u && c != '=') {
      if (d) *d++ = (char)c;
      line++;
      i++;
      continue;
    }
    if (c == '\r' || c == '\n') {
      int pair = c == '\r' && i + 1 < n && s[i + 1] == '\n';
      if (pair || d) {
        if (d) { *d++ = '\r'; *d++ = '\n'; }
        if (line > r->longest) r->longest = line;
        line = 0;
        i += pair ? 2 : 1;
        continue;
      }
      r->bare_eol++;
      line++;
      i++;
      continue;
    }
    if (c == 0) r->nul++;
    else if (c >= 0x80) r->high++;
    else if (c == '=' && i + 1 < n && s[i + 1] == '_') r->boundary_like = 1;
    if (!mc_qp_literal(c)) r->escapes++;
    if (d) *d++ = (char)c;
    line++;
    i++;
  }
  if (line > r->longest) r->longest = line;
  if (d) out->len += (size_t)(d - start);
  return 0;
}


int mc_part_is_text_type(const char *type) {
  return strncasecmp(type, "text/", 5) == 0;
}


/* 1 at the first byte that rules out 7bit (>= 0x80, NUL, a bare CR or
 * LF); 0 when there is none and the full scan has to decide. */
static int surely_not_7bit(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x80 || c == 0) return 1;
    if (c == '\r' && !(i + 1 < n && s[i + 1] == '\n')) return 1;
    if (c == '\n' && !(i > 0 && s[i - 1] == '\r')) return 1;
  }
  return 0;
}


/* The encoding for the content, from its scan when the caller made one
 * (scanned) or else from a scan here; *crlf says whether every CR and LF
 * in it is part of a CRLF (known from the scan when there was one). */
mc_encoding_t mc_part_choose(const mc_part_opts_t *o, const char *type,
                             const scan_t *scanned, const char *s, size_t n, int *crlf,
                             mc_error_t *e) {
  /* Anything but text goes as base64 unless it is all 7bit: a PNG (0x89
   * first) or a PDF (a bare LF after "%PDF-1.x") is decided at its first
   * bytes, not after a branchy pass over every byte. */
  *crlf = 0;
  scan_t r;
  if (scanned) {
    r = *scanned;
  } else {
    if (o->encoding == MC_ENC_AUTO && !mc_part_is_text_type(type) && surely_not_7bit(s, n))
      return MC_ENC_BASE64;
    mc_part_scan(s, n, &r, NULL);
  }
  *crlf = r.bare_eol == 0;
  int line_safe = r.nul == 0 && r.bare_eol == 0 && r.longest <= MAX_LINE;
  switch (o->encoding) {
  case MC_ENC_7BIT:
    if (!line_safe || r.high) {
      mc_error_set(e, "content is not 7bit (8-bit bytes, NUL, bare CR/LF or a line over %d)", MAX_LINE);
      return MC_ENC_AUTO;
    }
    return r.boundary_like ? MC_ENC_QP : MC_ENC_7BIT;
  case MC_ENC_8BIT:
    if (!line_safe) {
      mc_error_set(e, "content cannot be 8bit (NUL, bare CR/LF or a line over %d)", MAX_LINE);
      return MC_ENC_AUTO;
    }
    return r.boundary_like ? MC_ENC_QP : MC_ENC_8BIT;
  case MC_ENC_QP:
  case MC_ENC_BASE64:
    return o->encoding;
  case MC_ENC_AUTO:
    break;
  }
  if (line_safe && !r.boundary_like) {
    if (!r.high) return MC_ENC_7BIT;
    if (o->allow_8bit && mc_part_is_text_type(type)) return MC_ENC_8BIT;
  }
  /* Quoted-printable in text mode would rewrite bare line breaks; text
   * with them, and anything not text, goes as base64 to keep its bytes. */
  if (!mc_part_is_text_type(type) || r.bare_eol || r.nul) return MC_ENC_BASE64;
  return r.escapes * 6 < n ? MC_ENC_QP : MC_ENC_BASE64;
}


/* Quoted-printable in text mode turns line breaks into CRLF; that is only
 * right for text already in that form. Anything else is encoded byte for
 * byte (binary mode), so an attachment always comes back the same. */
static void encode_body(mc_buf_t *out, mc_encoding_t enc, const char *type, int crlf,
                        const char *s, size_t n) {
  if (enc == MC_ENC_BASE64) {
    char *d = mc_buf_tail(out, mc_b64_encoded_len(n, 1));
    if (d) out->len += mc_b64_encode(d, (const unsigned char *)s, n, 1);
  } else if (enc == MC_ENC_QP) {
    mc_qp_encode(out, s, n, !(mc_part_is_text_type(type) && crlf));
  } else {
    mc_buf_add(out, s, n);
  }
}


/* RFC 2045 token characters, for the type and subtype and charset. */
static int check_token(const char *what, const char *s, int slash, mc_error_t *e) {
  int slashes = 0;
  if (*s == '\0') { mc_error_set(e, "%s is empty", what); return -1; }
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '/' && slash) { slashes++; continue; }
    if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?=", c)) {
      mc_error_set(e, "%s '%s' is not a valid token", what, s);
      return -1;
    }
  }
  if (slash && slashes != 1) {
    mc_error_set(e, "%s '%s' is not type/subtype", what, s);
    return -1;
  }
  return 0;
}


static int check_cid(const char *s, mc_error_t *e) {
  if (*s == '\0') { mc_error_set(e, "content_id is empty"); return -1; }
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= 32 || c >= 127 || strchr("<>()[]\\\",;:", c)) {
      mc_error_set(e, "content_id '%s' has a character not allowed in a Content-ID", s);
      return -1;
    }
  }
  return 0;
}


int mc_part_write_head(mc_part_t *p, const mc_part_opts_t *o, const char *type,
                       mc_error_t *e) {
  if (check_token("content_type", type, 1, e) != 0) return -1;
  if (o->charset && check_token("charset", o->charset, 0, e) != 0) return -1;
  if (o->filename && mc_hdr_check_value("filename", o->filename, strlen(o->filename), e) != 0)
    return -1;
  if (o->filename && strlen(o->filename) > MAX_FILENAME) {
    mc_error_set(e, "filename longer than %d bytes", MAX_FILENAME);
    return -1;
  }
  if (o->content_id && check_cid(o->content_id, e) != 0) return -1;
  if (o->disposition && strcmp(o->disposition, "inline") != 0 &&
      strcmp(o->disposition, "attachment") != 0) {
    mc_error_set(e, "disposition must be 'inline' or 'attachment', not '%s'", o->disposition);
    return -1;
  }
  mc_hdr_t h;
  mc_hdr_begin(&h, &p->head, "Content-Type");
  mc_hdr_put(&h, " ", 1, type, strlen(type));
  const char *charset = o->charset ? o->charset : (o->body ? "utf-8" : NULL);
  if (charset && mc_part_is_text_type(type)) mc_hdr_param(&h, "charset", charset, strlen(charset));
  if (o->filename) mc_hdr_param_ew(&h, "name", o->filename, strlen(o->filename));
  mc_hdr_end(&h);
  mc_hdr_begin(&h, &p->head, "Content-Transfer-Encoding");
  const char *enc = mc_encoding_name(p->encoding);
  mc_hdr_put(&h, " ", 1, enc, strlen(enc));
  mc_hdr_end(&h);
  if (o->disposition || o->filename) {
    const char *d = o->disposition ? o->disposition : "attachment";
    mc_hdr_begin(&h, &p->head, "Content-Disposition");
    mc_hdr_put(&h, " ", 1, d, strlen(d));
    if (o->filename) mc_hdr_param(&h, "filename", o->filename, strlen(o->filename));
    mc_hdr_end(&h);
  }
  if (o->content_id) mc_buf_printf(&p->head, "Content-ID: <%s>\r\n", o->content_id);
  if (p->head.failed) { mc_error_set(e, "out of memory"); return -1; }
  return 0;
}


static const char *type_of(const mc_part_opts_t *o) {
  if (o->content_type) return o->content_type;
  if (o->body) return "text/plain";
  return mc_mimetype_for(o->filename);
}


mc_part_t *mc_part_new(const mc_part_opts_t *o, const char *data, size_t n,
                       mc_error_t *e) {
  const char *type = type_of(o);
  mc_buf_t canon = MC_BUF_INIT;
  scan_t scanned;
  if (o->body) {
    if (mc_part_scan(data, n, &scanned, &canon) != 0) {
      mc_error_set(e, "out of memory");
      return NULL;
    }
    size_t bad;
    if (scanned.high && !mc_utf8_valid(data, n, &bad)) {
      mc_error_set(e, "%s body is not valid UTF-8 (byte %zu)", type, bad + 1);
      mc_buf_free(&canon);
      return NULL;
    }
    data = canon.data ? canon.data : "";
    n = canon.len;
  }
  mc_part_t *p = calloc(1, sizeof *p);
  if (p == NULL) {
    mc_error_set(e, "out of memory");
    mc_buf_free(&canon);
    return NULL;
  }
  p->refs = 1;
  e->msg[0] = '\0';
  int crlf;
  p->encoding = mc_part_choose(o, type, o->body ? &scanned : NULL, data, n, &crlf, e);
  if (p->encoding == MC_ENC_AUTO || mc_part_write_head(p, o, type, e) != 0) goto fail;
  if (o->body && (p->encoding == MC_ENC_7BIT || p->encoding == MC_ENC_8BIT)) {
    /* The canonical text is the body: kept, not copied, and given back
     * the room left for line breaks that did not need it. */
    char *fit = canon.len ? realloc(canon.data, canon.len) : NULL;
    if (fit) canon.data = fit, canon.cap = canon.len;
    p->body = canon;
    canon = (mc_buf_t)MC_BUF_INIT;
  } else {
    encode_body(&p->body, p->encoding, type, crlf, data, n);
  }
  if (p->body.failed) { mc_error_set(e, "out of memory"); goto fail; }
  mc_buf_free(&canon);
  return p;
fail:
  mc_buf_free(&canon);
  mc_part_unref(p);
  return NULL;
}


/* A file read whole into memory: a regular file of at most
 * MC_PART_FILE_MAX bytes. A FIFO would hang the read (the open itself,
 * without O_NONBLOCK), /dev/zero fill the memory. */
static char *read_file(const char *path, size_t *n, mc_error_t *e) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    mc_error_set(e, "cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    mc_error_set(e, "cannot read '%s': not a regular file", path);
    close(fd);
    return NULL;
  }
  if ((uintmax_t)st.st_size > MC_PART_FILE_MAX) {
    mc_error_set(e, "'%s' has %jd bytes, more than the %d MiB a part read into memory may have"
                 " (stream = true sends it from the file)", path, (intmax_t)st.st_size, MC_PART_FILE_MAX >> 20);
    close(fd);
    return NULL;
  }
  FILE *f = fdopen(fd, "rb");
  if (f == NULL) {
    mc_error_set(e, "cannot open '%s': %s", path, strerror(errno));
    close(fd);
    return NULL;
  }
  mc_buf_t b = MC_BUF_INIT;
  char chunk[65536];
  size_t got;
  while (b.len <= MC_PART_FILE_MAX && (got = fread(chunk, 1, sizeof chunk, f)) > 0) mc_buf_add(&b, chunk, got);
  int failed = ferror(f), grew = b.len > MC_PART_FILE_MAX;
  fclose(f);
  if (failed || b.failed || grew) {
    mc_error_set(e, "cannot read '%s': %s", path,
                 b.failed ? "out of memory" : grew ? "it grew past the limit while it was read" : "read error");
    mc_buf_free(&b);
    return NULL;
  }
  *n = b.len;
  if (b.data == NULL) return calloc(1, 1);
  return b.data;
}


mc_part_t *mc_part_from_file(const mc_part_opts_t *o, const char *path,
                             int stream, mc_error_t *e) {
  if (!stream || o->body) {
    size_t n;
    char *data = read_file(path, &n, e);
    if (data == NULL) return NULL;
    mc_part_t *p = mc_part_new(o, data, n, e);
    free(data);
    return p;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    mc_error_set(e, "cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    mc_error_set(e, "cannot stream '%s': not a regular file", path);
    return NULL;
  }
  if (o->encoding != MC_ENC_AUTO && o->encoding != MC_ENC_BASE64) {
    mc_error_set(e, "a streamed file is always base64");
    return NULL;
  }
  mc_part_t *p = calloc(1, sizeof *p);
  if (p == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  p->refs = 1;
  p->encoding = MC_ENC_BASE64;
  p->file_size = (size_t)st.st_size;
  p->path = strdup(path);
  if (p->path == NULL) { mc_error_set(e, "out of memory"); goto fail; }
  if (mc_part_write_head(p, o, type_of(o), e) != 0) goto fail;
  return p;
fail:
  mc_part_unref(p);
  return NULL;
}


size_t mc_part_size(const mc_part_t *p) {
  size_t body = p->path ? mc_b64_encoded_len(p->file_size, 1) : p->body.len;
  if (p->pieces) {
    body = 0;
    for (size_t i = 0; i < p->npieces; i++) body += p->pieces[i].len;
  }
  return p->head.len + 2 + body;
}


int mc_part_ends_crlf(const mc_part_t *p) {
  char last[2];
  size_t got = 0;
  if (p->pieces) {
    for (size_t i = p->npieces; i-- > 0 && got < 2;) {
      const mc_piece_t *q = &p->pieces[i];
      const char *s = q->ext ? q->ext : p->body.data + q->off;
      for (size_t k = q->len; k-- > 0 && got < 2;) last[1 - got++] = s[k];
    }
  } else {
    for (size_t k = p->body.len; k-- > 0 && got < 2;) last[1 - got++] = p->body.data[k];
  }
  return got == 2 && last[0] == '\r' && last[1] == '\n';
}


void mc_part_ref(mc_part_t *p) { p->refs++; }


void mc_part_unref(mc_part_t *p) {
  if (p == NULL || --p->refs > 0) return;
  mc_buf_free(&p->head);
  mc_buf_free(&p->body);
  free(p->path);   /* pieces are in the part's own allocation */
  if (p->release) p->release(p->keep);
  free(p);
}


static const char *const names[] = {
  [MC_ENC_AUTO] = "auto", [MC_ENC_7BIT] = "7bit", [MC_ENC_8BIT] = "8bit",
  [MC_ENC_QP] = "quoted-printable", [MC_ENC_BASE64] = "base64",
};


const char *mc_encoding_name(mc_encoding_t enc) { return names[enc]; }


int mc_encoding_parse(const char *name, mc_encoding_t *enc) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcasecmp(name, names[i]) == 0) { *enc = (mc_encoding_t)i; return 0; }
  }
  return -1;
}
