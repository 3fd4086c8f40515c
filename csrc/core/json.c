#include "json.h"

#include "utf8.h"

static const char hex[] = "0123456789abcdef";


/* Printable ASCII other than '"' and '\\': copied as it is. */
static int plain(unsigned char c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; }


/* A byte that is not part of valid UTF-8 is taken as Latin-1, so a
 * server's reply of any bytes still makes a valid line. */
void mc_json_string(mc_buf_t *b, const char *s, size_t n) {
  mc_buf_addc(b, '"');
  size_t i = 0;
  while (i < n) {
    /* Most of a log line is plain: it goes in runs, not byte by byte. */
    size_t run = i;
    while (run < n && plain((unsigned char)s[run])) run++;
    if (run > i) {
      mc_buf_add(b, s + i, run - i);
      i = run;
      if (i == n) break;
    }
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x80) {
      size_t len = mc_utf8_charlen(s + i, n - i), bad;
      if (len > 1 && mc_utf8_valid(s + i, len, &bad)) {
        mc_buf_add(b, s + i, len);
        i += len;
      } else {
        char latin1[2] = {(char)(0xC0 | c >> 6), (char)(0x80 | (c & 0x3F))};
        mc_buf_add(b, latin1, 2);
        i++;
      }
      continue;
    }
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      mc_buf_add(b, e, 2);
    } else if (c == '\n') {
      mc_buf_add(b, "\\n", 2);
    } else if (c == '\r') {
      mc_buf_add(b, "\\r", 2);
    } else if (c == '\t') {
      mc_buf_add(b, "\\t", 2);
    } else if (c == '\b') {
      mc_buf_add(b, "\\b", 2);
    } else if (c == '\f') {
      mc_buf_add(b, "\\f", 2);
    } else if (c < 0x20 || c == 0x7F) {
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      mc_buf_add(b, u, 6);
    } else {
      mc_buf_addc(b, (char)c);
    }
    i++;
  }
  mc_buf_addc(b, '"');
}
