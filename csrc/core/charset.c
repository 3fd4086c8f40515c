#include "charset.h"

#include <errno.h>
#include <iconv.h>
#include <strings.h>


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


/* Names mail and web pages write for charsets that iconv knows better
 * under a superset's name (the Windows and vendor extensions they
 * really use). */
static const struct {
  const char *name, *use;
} aliases[] = {
  {"shift_jis", "CP932"}, {"shift-jis", "CP932"}, {"x-sjis", "CP932"}, {"sjis", "CP932"},
  {"windows-31j", "CP932"}, {"euc-jp", "EUC-JP-MS"}, {"x-euc-jp", "EUC-JP-MS"},
  {"gb2312", "GB18030"}, {"gbk", "GB18030"}, {"x-gbk", "GB18030"}, {"gb_2312-80", "GB18030"},
  {"ks_c_5601-1987", "CP949"}, {"euc-kr", "CP949"}, {"iso-8859-1", "CP1252"},
  {"us-ascii", "CP1252"}, {"ascii", "CP1252"}, {"latin1", "CP1252"},
};


static const char *iconv_name(const char *cs) {
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (strcasecmp(cs, aliases[i].name) == 0) return aliases[i].use;
  return cs;
}


int mc_charset_label_utf8(mc_buf_t *out, const char *label, const char *s, size_t n) {
  const char *name = iconv_name(label);
  int rc = mc_charset_utf8(out, name, s, n, 1);
  if (rc == 1 && name != label) rc = mc_charset_utf8(out, label, s, n, 1);
  return rc;
}
