/* A bounce's text part in UTF-8, whatever charset it was written in, so
 * that the rules' phrases match as written. Leniently: mailers label
 * Windows code pages with the ISO names and leave stray bytes, and one
 * bad byte must not lose the whole notice. */
#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "bounce_internal.h"

/* Names mailers write for charsets that iconv knows better under a
 * superset's name (the Windows and vendor extensions they really use). */
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


int mc_bounce_to_utf8(mc_buf_t *out, const char *charset, const char *s, size_t n) {
  iconv_t cd = iconv_open("UTF-8", iconv_name(charset));
  if (cd == (iconv_t)-1) cd = iconv_open("UTF-8", charset);
  if (cd == (iconv_t)-1) return 1;
  char *in = (char *)s;
  size_t left = n;
  while (left > 0 && !out->failed) {
    size_t room = left * 4 + 16;
    char *dst = mc_buf_tail(out, room);
    if (dst == NULL) break;
    size_t before = room;
    size_t r = iconv(cd, &in, &left, &dst, &room);
    out->len += before - room;
    if (r != (size_t)-1 || errno == E2BIG) continue;
    if (errno == EINVAL) break;        /* a sequence cut off at the end */
    mc_buf_addc(out, '?');             /* EILSEQ: one bad byte, not the notice */
    in++;
    left--;
    iconv(cd, NULL, NULL, NULL, NULL);
  }
  iconv_close(cd);
  return out->failed ? -1 : 0;
}
