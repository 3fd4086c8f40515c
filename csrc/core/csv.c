/* The CSV reader of csv.h. The bytes of the record being read stay in the
 * buffer from its first byte on (bounded by max_record), so a record
 * refused deep inside a quoted field can be read again from the line
 * after the one where the quote opened. */
#include "csv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

#define CHUNK 65536
#define NONE ((size_t)-1)

/* What get() gives besides a byte. */
#define C_EOF  (-1)
#define C_IO   (-2)
#define C_LONG (-3)   /* the record has reached max_record bytes */

/* The bytes that end a run of a field's plain bytes (a table: the scan
 * over them is most of the reading). */
static const unsigned char ENDS_UNQUOTED[256] = {[','] = 1, ['"'] = 1, ['\n'] = 1, ['\r'] = 1};
static const unsigned char ENDS_QUOTED[256] = {['"'] = 1, ['\n'] = 1, ['\r'] = 1};

/* How a field ended, or why it did not. */
enum { F_COMMA, F_END, F_BAD, F_IO };

struct mc_csv {
  mc_csv_read_fn read;
  void *ctx;
  int fd;                    /* closed by mc_csv_free; -1: not ours */
  mc_csv_limits_t lim;
  char *buf;
  size_t cap, len, pos;
  size_t start;              /* first byte kept: the record's, or pos */
  size_t line_start;         /* first byte of the current line */
  int eof, done, skipping, bom_checked;
  int io_errno;
  unsigned long line, rec_line, err_line, err_col;
  mc_buf_t data;             /* the record's fields, each ended by a NUL */
  size_t *ends;              /* offset of each field's NUL in data */
  size_t nfields, fcap;
};


static ssize_t read_fd(void *ctx, char *buf, size_t n) {
  int fd = *(int *)ctx;
  ssize_t got;
  do got = read(fd, buf, n); while (got < 0 && errno == EINTR);
  return got;
}


mc_csv_t *mc_csv_new(mc_csv_read_fn read, void *ctx, const mc_csv_limits_t *limits) {
  mc_csv_t *r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->buf = malloc(CHUNK);
  if (r->buf == NULL) { free(r); return NULL; }
  r->cap = CHUNK;
  r->read = read;
  r->ctx = ctx;
  r->fd = -1;
  r->line = 1;
  if (limits) r->lim = *limits;
  if (r->lim.max_lines == 0) r->lim.max_lines = MC_CSV_MAX_LINES;
  if (r->lim.max_field == 0) r->lim.max_field = MC_CSV_MAX_FIELD;
  if (r->lim.max_record == 0) r->lim.max_record = MC_CSV_MAX_RECORD;
  if (r->lim.max_record > ((size_t)-1) / 4) r->lim.max_record = ((size_t)-1) / 4;   /* start + it never wraps */
  return r;
}


mc_csv_t *mc_csv_open(const char *path, const mc_csv_limits_t *limits, mc_error_t *e, int *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    mc_error_set(e, "%s: %s", path, strerror(errno));
    return NULL;
  }
  mc_csv_t *r = mc_csv_new(read_fd, NULL, limits);
  if (r == NULL) {
    close(fd);
    *err = ENOMEM;
    mc_error_set(e, "%s: out of memory", path);
    return NULL;
  }
  r->fd = fd;
  r->ctx = &r->fd;
  return r;
}


void mc_csv_free(mc_csv_t *r) {
  if (r == NULL) return;
  if (r->fd >= 0) close(r->fd);
  free(r->buf);
  free(r->ends);
  mc_buf_free(&r->data);
  free(r);
}


/* Reads more bytes after len, first dropping those before start: 1 when
 * some came, 0 at the end, or C_IO. Only get_slow (which stops a record
 * at max_record bytes) and one byte's look-ahead call it, so the buffer
 * never grows past a record and two chunks. */
static int fill(mc_csv_t *r) {
  if (r->eof) return 0;
  if (r->start > 0) {
    size_t shift = r->start;
    memmove(r->buf, r->buf + shift, r->len - shift);
    r->len -= shift;
    r->pos -= shift;
    r->line_start = r->line_start > shift ? r->line_start - shift : 0;
    r->start = 0;
  }
  if (r->cap - r->len < CHUNK / 2) {
    size_t cap = r->cap * 2;
    char *p = realloc(r->buf, cap);
    if (p == NULL) { r->io_errno = ENOMEM; return C_IO; }
    r->buf = p;
    r->cap = cap;
  }
  ssize_t n = r->read(r->ctx, r->buf + r->len, r->cap - r->len);
  if (n < 0) { r->io_errno = errno ? errno : EIO; return C_IO; }
  if (n == 0) { r->eof = 1; return 0; }
  r->len += (size_t)n;
  return 1;
}


/* Where the bytes the record may still take end in the buffer: its
 * max_record bytes are counted exactly, however the source cuts them. */
static inline size_t avail_end(const mc_csv_t *r) {
  if (r->skipping || r->len - r->start <= r->lim.max_record) return r->len;
  return r->start + r->lim.max_record;
}


static int get_slow(mc_csv_t *r) {
  if (!r->skipping && r->pos - r->start >= r->lim.max_record) return C_LONG;
  int rc = r->pos < r->len ? 1 : fill(r);
  if (rc == 1) return (unsigned char)r->buf[r->pos++];
  return rc == 0 ? C_EOF : rc;
}


static inline int get(mc_csv_t *r) {
  return r->pos < avail_end(r) ? (unsigned char)r->buf[r->pos++] : get_slow(r);
}


/* After a CR or LF just read: a CR's LF goes with it (past the record's
 * limit too: the pair is one line break); a new line starts. A failed
 * read here shows again at the next one. */
static void end_line(mc_csv_t *r, int c) {
  if (c == '\r') {
    if (r->pos == r->len) fill(r);
    if (r->pos < r->len && r->buf[r->pos] == '\n') r->pos++;
  }
  r->line++;
  r->line_start = r->pos;
}


static unsigned long column(const mc_csv_t *r, size_t at) {
  return (unsigned long)(at - r->line_start) + 1;
}


/* Drops the rest of the current line (the reader goes on after it). */
static int skip_line(mc_csv_t *r) {
  for (;;) {
    r->start = r->pos;
    while (r->pos < r->len && r->buf[r->pos] != '\n' && r->buf[r->pos] != '\r') r->pos++;   /* skipping: no limit */
    int c = get(r);
    if (c == '\n' || c == '\r') { end_line(r, c); break; }
    if (c == C_EOF) break;
    if (c == C_IO) return -1;
  }
  r->skipping = 0;
  r->start = r->pos;
  return 0;
}


static int bad(mc_csv_t *r, unsigned long line, unsigned long col) {
  r->err_line = line;
  r->err_col = col;
  return F_BAD;
}


/* A record refused where nothing but the current line is to blame. */
static int bad_here(mc_csv_t *r, size_t at, mc_error_t *e, const char *what) {
  mc_error_set(e, "%s", what);
  r->skipping = 1;
  return bad(r, r->line, column(r, at));
}


static int bad_long_record(mc_csv_t *r, mc_error_t *e) {
  mc_error_set(e, "record is longer than %zu bytes", r->lim.max_record);
  r->skipping = 1;
  return bad(r, r->rec_line, 1);
}


/* A field that runs up to a comma, a line break or the end. */
static int unquoted(mc_csv_t *r, size_t field_at, mc_error_t *e) {
  unsigned long f_col = column(r, r->pos);
  for (;;) {
    size_t p = r->pos, end = avail_end(r);
    while (p < end && !ENDS_UNQUOTED[(unsigned char)r->buf[p]]) p++;
    mc_buf_add(&r->data, r->buf + r->pos, p - r->pos);
    r->pos = p;
    int c = get(r);
    if (c == '"') return bad_here(r, r->pos - 1, e, "quote inside an unquoted field");
    if (c == C_IO) return F_IO;
    if (c == C_LONG) return bad_long_record(r, e);
    if (c >= 0 && c != ',' && c != '\n' && c != '\r') {   /* the buffer ran out before it */
      mc_buf_addc(&r->data, (char)c);
      continue;
    }
    if (r->data.len - field_at > r->lim.max_field) {
      mc_error_set(e, "field (from column %lu) is longer than %zu bytes", f_col, r->lim.max_field);
      if (c == '\n' || c == '\r') r->pos--;   /* the break goes with the line dropped */
      r->skipping = 1;
      return bad(r, r->line, f_col);
    }
    if (c == ',') return F_COMMA;
    if (c == '\n' || c == '\r') end_line(r, c);
    return F_END;
  }
}


/* A quoted field gone wrong: reported where its quote opened; the reader
 * goes on with the next line after that one (resume: where that line
 * starts, counted from the record's first byte, which stays in the
 * buffer; NONE when the field never left its first line, whose rest is
 * dropped). */
static int bad_quote(mc_csv_t *r, unsigned long q_line, unsigned long q_col, size_t resume) {
  if (resume == NONE) {
    r->skipping = 1;
  } else {
    r->pos = r->start + resume;
    r->line = q_line + 1;
    r->line_start = r->pos;
  }
  return bad(r, q_line, q_col);
}


/* A field after its opening quote: what ends it, once closed, is read
 * here too (a comma, a line break, the end; anything else is refused). */
static int quoted(mc_csv_t *r, size_t field_at, mc_error_t *e) {
  unsigned long q_line = r->line, q_col = column(r, r->pos - 1);
  size_t resume = NONE, lines = 1;
  for (;;) {
    size_t p = r->pos, end = avail_end(r);
    while (p < end && !ENDS_QUOTED[(unsigned char)r->buf[p]]) p++;
    mc_buf_add(&r->data, r->buf + r->pos, p - r->pos);
    r->pos = p;
    if (r->data.len - field_at > r->lim.max_field) {
      mc_error_set(e, "quoted field (from column %lu) is longer than %zu bytes", q_col, r->lim.max_field);
      return bad_quote(r, q_line, q_col, resume);
    }
    int c = get(r);
    if (c == '"') {
      int next = get(r);
      if (next == '"') { mc_buf_addc(&r->data, '"'); continue; }
      if (next == ',') return F_COMMA;
      if (next == C_EOF) return F_END;
      if (next == '\n' || next == '\r') { end_line(r, next); return F_END; }
      if (next == C_IO) return F_IO;
      if (next == C_LONG) {
        mc_error_set(e, "record is longer than %zu bytes", r->lim.max_record);
      } else {
        mc_error_set(e, "text after the closing quote (line %lu, column %lu) of the field quoted from column %lu",
                     r->line, column(r, r->pos - 1), q_col);
      }
      return bad_quote(r, q_line, q_col, resume);
    }
    if (c == '\n' || c == '\r') {
      end_line(r, c);
      if (resume == NONE) resume = r->pos - r->start;
      if (++lines > r->lim.max_lines) {
        mc_error_set(e, "quoted field (from column %lu) runs over more than %zu lines", q_col, r->lim.max_lines);
        return bad_quote(r, q_line, q_col, resume);
      }
      mc_buf_addc(&r->data, '\n');
      continue;
    }
    if (c >= 0) {   /* the buffer ran out before it */
      mc_buf_addc(&r->data, (char)c);
      continue;
    }
    if (c == C_IO) return F_IO;
    if (c == C_LONG) {
      mc_error_set(e, "record is longer than %zu bytes", r->lim.max_record);
    } else {   /* C_EOF */
      mc_error_set(e, "unterminated quoted field");
    }
    return bad_quote(r, q_line, q_col, resume);
  }
}


static int end_field(mc_csv_t *r) {
  if (r->nfields == r->fcap) {
    size_t cap = r->fcap ? r->fcap * 2 : 16;
    size_t *p = realloc(r->ends, cap * sizeof *p);
    if (p == NULL) return -1;
    r->ends = p;
    r->fcap = cap;
  }
  r->ends[r->nfields++] = r->data.len;
  mc_buf_addc(&r->data, '\0');
  return r->data.failed ? -1 : 0;
}


static void skip_bom(mc_csv_t *r) {
  r->bom_checked = 1;
  while (r->len - r->pos < 3 && fill(r) == 1) continue;
  if (r->len - r->pos >= 3 && memcmp(r->buf + r->pos, "\xEF\xBB\xBF", 3) == 0) {
    r->pos += 3;
    r->line_start = r->pos;
  }
}


static int io_failed(mc_csv_t *r, mc_error_t *e) {
  mc_error_set(e, "read: %s", strerror(r->io_errno ? r->io_errno : EIO));
  r->done = 1;
  return MC_CSV_IO;
}


int mc_csv_next(mc_csv_t *r, mc_error_t *e) {
  if (r->done) return MC_CSV_END;
  if (!r->bom_checked) skip_bom(r);
  if (r->skipping && skip_line(r) != 0) return io_failed(r, e);
  for (;;) {   /* empty lines */
    r->start = r->pos;
    int c = get(r);
    if (c == C_EOF) { r->done = 1; return MC_CSV_END; }
    if (c == C_IO) return io_failed(r, e);
    if (c != '\n' && c != '\r') { r->pos--; break; }
    end_line(r, c);
  }
  r->rec_line = r->line;
  r->nfields = 0;
  r->data.len = 0;
  for (;;) {
    size_t field_at = r->data.len;
    int c = get(r), rc;
    if (c == '"') {
      rc = quoted(r, field_at, e);
    } else {
      if (c >= 0) r->pos--;
      rc = c == C_IO ? F_IO : c == C_LONG ? bad_long_record(r, e) : unquoted(r, field_at, e);
    }
    if (rc == F_BAD) return MC_CSV_BAD;
    if (rc == F_IO) return io_failed(r, e);
    if (end_field(r) != 0) {
      r->io_errno = ENOMEM;
      return io_failed(r, e);
    }
    if (rc == F_END) break;
  }
  r->start = r->pos;
  return MC_CSV_RECORD;
}


size_t mc_csv_nfields(const mc_csv_t *r) {
  return r->nfields;
}


const char *mc_csv_field(const mc_csv_t *r, size_t i, size_t *len) {
  size_t from = i == 0 ? 0 : r->ends[i - 1] + 1;
  *len = r->ends[i] - from;
  return r->data.data + from;
}


unsigned long mc_csv_line(const mc_csv_t *r) {
  return r->rec_line;
}


unsigned long mc_csv_error_line(const mc_csv_t *r) {
  return r->err_line;
}


unsigned long mc_csv_error_column(const mc_csv_t *r) {
  return r->err_col;
}
