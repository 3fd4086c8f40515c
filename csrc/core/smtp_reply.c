#include "smtp_reply.h"

#include <ctype.h>
#include <stdio.h>


void mc_reply_free(mc_reply_t *r) {
  mc_buf_free(&r->text);
  r->code = 0;
  r->enhanced[0] = '\0';
}


void mc_reply_parser_reset(mc_reply_parser_t *p) {
  mc_reply_free(&p->cur);
  p->lines = 0;
}


/* Length of an RFC 3463 code "c.sss.ddd" at s (class 2, 4 or 5, subject
 * and detail of 1-3 digits) followed by a space or the end; 0 if none. */
static size_t enhanced_len(const char *s, size_t n, int reply_class) {
  if (n < 5 || s[0] - '0' != reply_class || s[1] != '.') return 0;
  size_t i = 2;
  for (int part = 0; part < 2; part++) {
    size_t start = i;
    while (i < n && i - start < 3 && isdigit((unsigned char)s[i])) i++;
    if (i == start) return 0;
    if (part == 0) {
      if (i >= n || s[i] != '.') return 0;
      i++;
    }
  }
  return i == n || s[i] == ' ' ? i : 0;
}


static void printable(char *out, size_t size, const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 5 < size; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 32 && c < 127) out[k++] = (char)c;
    else k += (size_t)snprintf(out + k, size - k, "\\x%02x", c);
  }
  out[k] = '\0';
}


int mc_reply_feed(mc_reply_parser_t *p, const char *line, size_t n,
                  mc_reply_t *out, mc_error_t *e) {
  char shown[64];
  if (n > MC_REPLY_MAX_LINE) {
    mc_error_set(e, "smtp: reply line longer than %d bytes", MC_REPLY_MAX_LINE);
    return -1;
  }
  int valid = n >= 3 && line[0] >= '2' && line[0] <= '5' && isdigit((unsigned char)line[1]) &&
              isdigit((unsigned char)line[2]) && (n == 3 || line[3] == ' ' || line[3] == '-');
  if (!valid) {
    printable(shown, sizeof shown, line, n < 40 ? n : 40);
    mc_error_set(e, "smtp: not an SMTP reply: \"%s\"", shown);
    return -1;
  }
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (p->lines > 0 && code != p->cur.code) {
    mc_error_set(e, "smtp: reply lines with different codes (%d then %d)", p->cur.code, code);
    return -1;
  }
  if (++p->lines > MC_REPLY_MAX_LINES || p->cur.text.len + n > MC_REPLY_MAX_BYTES) {
    mc_error_set(e, "smtp: reply longer than %d lines or %d bytes", MC_REPLY_MAX_LINES,
                 MC_REPLY_MAX_BYTES);
    return -1;
  }
  p->cur.code = code;
  const char *text = n > 4 ? line + 4 : "";
  size_t tn = n > 4 ? n - 4 : 0;
  size_t el = enhanced_len(text, tn, code / 100);
  if (el && el < sizeof p->cur.enhanced) {
    if (p->lines == 1) {
      memcpy(p->cur.enhanced, text, el);
      p->cur.enhanced[el] = '\0';
    }
    text += el;
    tn -= el;
    if (tn > 0 && *text == ' ') { text++; tn--; }
  }
  if (p->lines > 1) mc_buf_addc(&p->cur.text, '\n');
  mc_buf_add(&p->cur.text, text, tn);
  if (mc_buf_reserve(&p->cur.text, 1) == 0) p->cur.text.data[p->cur.text.len] = '\0';
  if (p->cur.text.failed) {
    mc_error_set(e, "out of memory");
    return -1;
  }
  if (n > 3 && line[3] == '-') return 0;
  *out = p->cur;
  memset(&p->cur, 0, sizeof p->cur);
  p->lines = 0;
  return 1;
}
