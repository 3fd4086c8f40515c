#include "charset.h"

#include <errno.h>
#include <iconv.h>


int mc_charset_utf8(mc_buf_t *out, const char *charset, const char *s, size_t n, int lenient) {
  iconv_t cd = iconv_open("UTF-8", charset);
  if (cd == (iconv_t)-1) return 1;
  size_t mark = out->len;
  char *in = (char *)s;
  size_t left = n;
  int rc = 0;
  while (left > 0) {
    size_t room = left * 4 + 16, before = room;
    char *dst = mc_buf_tail(out, room);
    if (dst == NULL) { rc = -1; break; }
    size_t r = iconv(cd, &in, &left, &dst, &room);
    out->len += before - room;
    if (r != (size_t)-1 || errno == E2BIG) continue;
    if (!lenient) { rc = -1; break; }
    if (errno == EINVAL) break;   /* a sequence cut off at the end */
    mc_buf_addc(out, '?');        /* EILSEQ: one bad byte */
    in++;
    left--;
    iconv(cd, NULL, NULL, NULL, NULL);
  }
  iconv_close(cd);
  if (out->failed) rc = -1;
  if (rc != 0 && !out->failed) out->len = mark;
  return rc;
}
