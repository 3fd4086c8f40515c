/* A bounce's text part in UTF-8, whatever charset it was written in, so
 * that the rules' phrases match as written. Leniently: mailers label
 * Windows code pages with the ISO names and leave stray bytes, and one
 * bad byte must not lose the whole notice. */
#include <strings.h>

#include "bounce_internal.h"
#include "charset.h"

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
  const char *name = iconv_name(charset);
  int rc = mc_charset_utf8(out, name, s, n, 1);
  if (rc == 1 && name != charset) rc = mc_charset_utf8(out, charset, s, n, 1);
  return rc;
}
