/* The accounting log's file: JSON lines, one flat record each, kept in
 * a buffer and appended with one write(2) at every flush. The workers
 * of a run (--workers) open the same file: each flush is whole lines
 * in one write on a descriptor opened O_APPEND, so a line of one is
 * never cut into by another's.
 *
 * A record is built with mc_acctlog_begin, the field functions and
 * mc_acctlog_end. Only ended records are written: one left unfinished
 * (its builder raised, or memory ran out) is dropped by the next begin
 * or flush, never written in part. */
#ifndef MC_ACCTLOG_H
#define MC_ACCTLOG_H

#include <stddef.h>

#include "error.h"

typedef struct mc_acctlog mc_acctlog_t;

/* Opens path for appending (created with mode 0666 less the umask, as
 * fopen's "a" does). NULL with e ("PATH: reason") and *err (errno) set
 * on failure. The caller owns the log and frees it with mc_acctlog_close. */
mc_acctlog_t *mc_acctlog_open(const char *path, mc_error_t *e, int *err);

/* Writes the records ended so far in one write (whole, across partial
 * writes and EINTR) and empties the buffer, written or not: a log that
 * cannot be written does not grow without end. 0, or -1 with e and *err. */
int mc_acctlog_flush(mc_acctlog_t *log, mc_error_t *e, int *err);

/* Flushes, closes the file and frees log (NULL is fine): log is gone
 * even when it returns -1 (e and *err tell why the flush or close failed). */
int mc_acctlog_close(mc_acctlog_t *log, mc_error_t *e, int *err);

/* Starts a record: {"time":"2026-11-29T04:05:06.789Z","type":TYPE with
 * the wall clock's time to the millisecond. */
void mc_acctlog_begin(mc_acctlog_t *log, const char *type);

/* A field's name as the record writes it after the fields before it:
 * ,"name": made once, at compile time, from a name of plain ASCII
 * letters, digits and '_':
 *   static const mc_acctlog_key_t status = MC_ACCTLOG_KEY("status"); */
typedef struct {
  const char *text;
  size_t len;
} mc_acctlog_key_t;

#define MC_ACCTLOG_KEY(name) {",\"" name "\":", sizeof(",\"" name "\":") - 1}

/* "key":value after the fields so far; s is any bytes (escaped, and
 * what is not UTF-8 read as Latin-1: see mc_json_string), numbers as
 * mc_json_integer and mc_json_double write them. */
void mc_acctlog_string(mc_acctlog_t *log, mc_acctlog_key_t key, const char *s, size_t n);
void mc_acctlog_integer(mc_acctlog_t *log, mc_acctlog_key_t key, long long v);
void mc_acctlog_double(mc_acctlog_t *log, mc_acctlog_key_t key, double v);
void mc_acctlog_bool(mc_acctlog_t *log, mc_acctlog_key_t key, int v);

/* Ends the record with "}\n": 0, or -1 when memory ran out while it was
 * built (the record is dropped, the log stays usable). */
int mc_acctlog_end(mc_acctlog_t *log);

/* Bytes buffered, ended records and not: for the tests of the log. */
size_t mc_acctlog_pending(const mc_acctlog_t *log);

/* A piece of a string: ptr and len (ptr NULL: none). */
typedef struct {
  const char *ptr;
  size_t len;
} mc_span_t;

/* "mx.example.com [192.0.2.1]" as a session names its server: when s
 * ends in ']', the name is what comes before the first '[' (less the
 * white space before it; empty is none) and the address what lies
 * between that '[' and the last ']'. Otherwise all of s is the name.
 * (The Lua pattern "^(.-)%s*%[(.-)%]$" that it replaces, exactly.) */
void mc_acctlog_split_server(const char *s, size_t n, mc_span_t *mx, mc_span_t *ip);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384": the version (up to the first white
 * space) and the cipher (after the white space; empty is none). A
 * string that starts with white space (or is empty) has neither. */
void mc_acctlog_split_tls(const char *s, size_t n, mc_span_t *version, mc_span_t *cipher);

#endif
