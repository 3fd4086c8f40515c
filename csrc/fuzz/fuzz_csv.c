/* fuzz_csv: a CSV file into mc_csv_next, with small limits (lines, field
 * and record) chosen by the first two bytes, so that the refusals and the
 * resuming after them are reached. Checks: the outcome (every record,
 * error, line and column) is the same whether the source gives one byte
 * per read or a whole chunk; records never start before the one before;
 * every error names a place; every record read, written back with every
 * field quoted, reads back the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/csv.h"

typedef struct {
  const uint8_t *data;
  size_t size, at, step;
} source;


static void fail(const char *why) {
  fprintf(stderr, "fuzz_csv: %s\n", why);
  abort();
}


static ssize_t from_memory(void *ctx, char *buf, size_t n) {
  source *s = ctx;
  size_t left = s->size - s->at;
  if (n > s->step) n = s->step;
  if (n > left) n = left;
  if (n == 0) return 0;
  memcpy(buf, s->data + s->at, n);
  s->at += n;
  return (ssize_t)n;
}


/* Writes one record as CSV with every field quoted. */
static void write_record(mc_buf_t *out, const mc_csv_t *r) {
  for (size_t i = 0; i < mc_csv_nfields(r); i++) {
    size_t len;
    const char *f = mc_csv_field(r, i, &len);
    if (i) mc_buf_addc(out, ',');
    mc_buf_addc(out, '"');
    for (size_t k = 0; k < len; k++) {
      if (f[k] == '"') mc_buf_addc(out, '"');
      mc_buf_addc(out, f[k]);
    }
    mc_buf_addc(out, '"');
  }
  mc_buf_add(out, "\r\n", 2);
}


/* Adds a field to a trace: its length, then its bytes. */
static void add_field(mc_buf_t *trace, const char *f, size_t len) {
  mc_buf_printf(trace, "%zu:", len);
  mc_buf_add(trace, f, len);
}


/* Reads the whole source: every outcome (records with their lines,
 * errors with their places) into trace, the fields alone into fields,
 * and every record, written back, into written (when not NULL). */
static void read_all(source *s, const mc_csv_limits_t *lim, mc_buf_t *trace, mc_buf_t *fields,
                     mc_buf_t *written) {
  mc_csv_t *r = mc_csv_new(from_memory, s, lim);
  if (r == NULL) fail("no memory for a reader");
  unsigned long last = 0;
  mc_error_t e;
  int rc;
  while ((rc = mc_csv_next(r, &e)) != MC_CSV_END) {
    if (rc == MC_CSV_IO) fail("a memory source failed");
    if (rc == MC_CSV_BAD) {
      unsigned long line = mc_csv_error_line(r);
      if (line == 0 || mc_csv_error_column(r) == 0) fail("an error names no place");
      mc_buf_printf(trace, "bad %lu:%lu %s\n", line, mc_csv_error_column(r), e.msg);
      continue;
    }
    unsigned long line = mc_csv_line(r);
    if (line < last) fail("a record starts before the one read before it");
    last = line;
    size_t n = mc_csv_nfields(r);
    if (n == 0) fail("a record without fields");
    mc_buf_printf(trace, "rec %lu\n", line);
    mc_buf_printf(fields, "rec %zu\n", n);
    for (size_t i = 0; i < n; i++) {
      size_t len;
      const char *f = mc_csv_field(r, i, &len);
      if (f[len] != '\0') fail("a field is not ended by a NUL");
      if (len > lim->max_field) fail("a field longer than the limit");
      add_field(trace, f, len);
      add_field(fields, f, len);
    }
    if (written) write_record(written, r);
  }
  if (mc_csv_next(r, &e) != MC_CSV_END) fail("a reader at its end read more");
  mc_csv_free(r);
}


static void same(const mc_buf_t *a, const mc_buf_t *b, const char *why) {
  if (a->failed || b->failed) fail("no memory for the traces");
  if (a->len != b->len || (a->len && memcmp(a->data, b->data, a->len) != 0)) fail(why);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  mc_csv_limits_t lim = {1 + data[0] % 12, 1 + (size_t)data[1] * 16, 32 + (size_t)(data[0] >> 4) * 256};
  source whole = {data + 2, size - 2, 0, 65536}, bytewise = {data + 2, size - 2, 0, 1};
  mc_buf_t t1 = MC_BUF_INIT, f1 = MC_BUF_INIT, t2 = MC_BUF_INIT, f2 = MC_BUF_INIT;
  mc_buf_t written = MC_BUF_INIT, t3 = MC_BUF_INIT, f3 = MC_BUF_INIT;
  read_all(&whole, &lim, &t1, &f1, &written);
  read_all(&bytewise, &lim, &t2, &f2, NULL);
  same(&t1, &t2, "reading a byte at a time gave another outcome");
  /* Written back and read with limits none of them reaches: the same
   * records (on other lines), and no error. */
  mc_csv_limits_t wide = {(size_t)1 << 30, (size_t)1 << 30, (size_t)1 << 30};
  if (written.failed) fail("no memory for the records written back");
  source w = {(const uint8_t *)written.data, written.len, 0, 4096};
  read_all(&w, &wide, &t3, &f3, NULL);
  same(&f1, &f3, "records written back read otherwise");   /* a refusal would drop one */
  mc_buf_free(&t1);
  mc_buf_free(&f1);
  mc_buf_free(&t2);
  mc_buf_free(&f2);
  mc_buf_free(&written);
  mc_buf_free(&t3);
  mc_buf_free(&f3);
  return 0;
}
