/* A streaming RFC 4180 CSV reader: records of fields from any byte
 * source, read through one buffer, so a list of a million rows is never
 * held whole. What it reads:
 *   - fields separated by commas, records by CRLF, LF or a lone CR;
 *   - quoted fields holding commas, doubled quotes ("") and line breaks
 *     (each break in a field is read as one LF, whatever the file used);
 *   - a UTF-8 byte order mark at the very start, skipped;
 *   - empty lines, skipped.
 * A bad record is reported with the line and column where it goes wrong
 * and the reader goes on with the next line: after a quoted field that
 * never closes within the limits, with the line after the one where its
 * quote opened, so a stray quote costs one row and not the rows after it.
 * The header row is a record like the others: the caller names columns. */
#ifndef MC_CSV_H
#define MC_CSV_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* How far a quoted field may run, and the longest field and record: past
 * them the record is refused (a stray quote would otherwise take the rest
 * of the file into one field). */
#define MC_CSV_MAX_LINES  10          /* physical lines one quoted field spans */
#define MC_CSV_MAX_FIELD  65536       /* bytes in one field */
#define MC_CSV_MAX_RECORD 1048576     /* bytes of one record as written */

typedef struct {
  size_t max_lines;   /* 0: MC_CSV_MAX_LINES */
  size_t max_field;   /* 0: MC_CSV_MAX_FIELD */
  size_t max_record;  /* 0: MC_CSV_MAX_RECORD */
} mc_csv_limits_t;

/* Reads up to n bytes into buf: how many, 0 at the end, -1 on an error
 * (errno set). */
typedef ssize_t (*mc_csv_read_fn)(void *ctx, char *buf, size_t n);

typedef struct mc_csv mc_csv_t;

/* What mc_csv_next found. */
enum {
  MC_CSV_END = 0,      /* no more records */
  MC_CSV_RECORD = 1,   /* a record: see mc_csv_field */
  MC_CSV_BAD = -1,     /* a malformed record, skipped: e, mc_csv_error_line/_column say
                          what and where; the next call goes on after it */
  MC_CSV_IO = -2,      /* the source failed (e says how); the reader is at its end */
};

/* A reader over read(ctx, ...), which stays the caller's. limits may be
 * NULL. NULL when out of memory. */
mc_csv_t *mc_csv_new(mc_csv_read_fn read, void *ctx, const mc_csv_limits_t *limits);

/* A reader over the file at path, which it closes when freed. NULL with
 * e set ("PATH: reason") and *err (the errno) when it cannot be opened. */
mc_csv_t *mc_csv_open(const char *path, const mc_csv_limits_t *limits, mc_error_t *e, int *err);

void mc_csv_free(mc_csv_t *r);

/* The next record: MC_CSV_RECORD, MC_CSV_END, MC_CSV_BAD or MC_CSV_IO. */
int mc_csv_next(mc_csv_t *r, mc_error_t *e);

/* The record mc_csv_next last gave (at least one field): its fields, one
 * after the other in one block, each followed by a NUL (a field may hold
 * NULs of its own: use *len); valid until the next call. */
size_t mc_csv_nfields(const mc_csv_t *r);
const char *mc_csv_field(const mc_csv_t *r, size_t i, size_t *len);

/* The line (from 1) where the last record starts. */
unsigned long mc_csv_line(const mc_csv_t *r);

/* Where the last MC_CSV_BAD went wrong: the line and the byte column (from
 * 1) in it; for a quoted field that runs too far, where its quote opened. */
unsigned long mc_csv_error_line(const mc_csv_t *r);
unsigned long mc_csv_error_column(const mc_csv_t *r);

#endif
