/* fuzz_acctlog: the accounting log's splits of a server's name and a
 * TLS string, and a record of hostile text, as a server may send them.
 * The splits must give pieces of the input in the shape the log
 * promises; the record must come out as one line of valid UTF-8 with no
 * raw control character, whatever the text held. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/acctlog.h"
#include "core/utf8.h"


static void fail(const char *why) {
  fprintf(stderr, "fuzz_acctlog: %s\n", why);
  abort();
}


static int space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}


static void inside(mc_span_t p, const char *s, size_t n) {
  if (p.ptr != NULL && (p.ptr < s || p.ptr + p.len > s + n)) fail("a piece outside the input");
}


static void check_server(const char *s, size_t n) {
  mc_span_t mx, ip;
  mc_acctlog_split_server(s, n, &mx, &ip);
  inside(mx, s, n);
  inside(ip, s, n);
  if (ip.ptr == NULL) {
    if (mx.ptr != s || mx.len != n) fail("no address, yet the name is not all of it");
    return;
  }
  if (n == 0 || s[n - 1] != ']' || ip.ptr + ip.len != s + n - 1) fail("the address does not end at the last ']'");
  if (ip.ptr[-1] != '[' || memchr(s, '[', (size_t)(ip.ptr - 1 - s)) != NULL) fail("the address is not after the first '['");
  if (mx.ptr != NULL && (mx.ptr != s || mx.len == 0 || space(s[mx.len - 1]))) fail("a name with white space at its end");
}


static void check_tls(const char *s, size_t n) {
  mc_span_t version, cipher;
  mc_acctlog_split_tls(s, n, &version, &cipher);
  inside(version, s, n);
  inside(cipher, s, n);
  if (version.ptr == NULL) {
    if (cipher.ptr != NULL || (n > 0 && !space(s[0]))) fail("no version, yet the string starts with one");
    return;
  }
  for (size_t i = 0; i < version.len; i++)
    if (space(version.ptr[i])) fail("white space in the version");
  if (cipher.ptr != NULL && (cipher.len == 0 || space(cipher.ptr[0]) || cipher.ptr + cipher.len != s + n))
    fail("a cipher that is not the rest after the white space");
}


/* The file the records go to, made once and emptied after each input. */
static char path[] = "/tmp/fuzz_acctlog.XXXXXX";
static int fd = -1;


static const mc_acctlog_key_t text = MC_ACCTLOG_KEY("text"), code = MC_ACCTLOG_KEY("code"),
  duration = MC_ACCTLOG_KEY("duration");


static void check_record(const char *s, size_t n) {
  if (fd < 0 && (fd = mkstemp(path)) < 0) fail("no temporary file");
  mc_error_t e;
  int err;
  mc_acctlog_t *log = mc_acctlog_open(path, &e, &err);
  if (log == NULL) fail(e.msg);
  mc_acctlog_begin(log, "outcome");
  mc_acctlog_string(log, text, s, n);
  mc_acctlog_integer(log, code, (long long)n - 1000);
  mc_acctlog_double(log, duration, (double)n / 7.0);
  if (mc_acctlog_end(log) != 0) fail("out of memory");
  if (mc_acctlog_close(log, &e, &err) != 0) fail(e.msg);
  off_t size = lseek(fd, 0, SEEK_END);
  char *out = malloc((size_t)size + 1);
  if (out == NULL || pread(fd, out, (size_t)size, 0) != size) fail("cannot read the record back");
  size_t bad;
  if (size < 2 || out[size - 1] != '\n' || out[size - 2] != '}') fail("not one line ended by '}'");
  if (!mc_utf8_valid(out, (size_t)size, &bad)) fail("not valid UTF-8");
  for (off_t i = 0; i < size - 1; i++)
    if ((unsigned char)out[i] < 0x20) fail("a raw control character");
  free(out);
  if (ftruncate(fd, 0) != 0) fail("cannot empty the file");
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  check_server(s, size);
  check_tls(s, size);
  check_record(s, size);
  return 0;
}
