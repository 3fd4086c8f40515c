#include "hdr.h"

#include "utf8.h"

#define EW_MAX 75          /* RFC 2047 2: an encoded-word's length */
#define EW_PREFIX "=?UTF-8?"
#define EW_OVERHEAD 12     /* "=?UTF-8?Q?" + "?=" */
#define LONGEST_WORD 900   /* beyond this a plain word could pass 998 */
#define PARAM_CHUNK 60     /* RFC 2231 continuation segment length */

static const char hex[] = "0123456789ABCDEF";


void mc_hdr_begin(mc_hdr_t *h, mc_buf_t *out, const char *name) {
  h->out = out;
  mc_buf_addstr(out, name);
  mc_buf_addc(out, ':');
  h->col = strlen(name) + 1;
  h->items = 0;
}


void mc_hdr_put(mc_hdr_t *h, const char *ws, size_t wsn, const char *s, size_t n) {
  /* Not before the first piece, unless a long field name leaves it no
   * room: "Name:" alone on a line is legal, an endless line is not. */
  if (wsn > 0 && h->col + wsn + n > MC_HDR_FOLD && (h->items > 0 || h->col > MC_HDR_FOLD / 2)) {
    mc_buf_add(h->out, "\r\n", 2);
    h->col = 0;
  }
  mc_buf_add(h->out, ws, wsn);
  mc_buf_add(h->out, s, n);
  h->col += wsn + n;
  h->items++;
}


void mc_hdr_end(mc_hdr_t *h) {
  mc_buf_add(h->out, "\r\n", 2);
  h->col = 0;
}


static int is_wsp(char c) { return c == ' ' || c == '\t'; }


int mc_hdr_check_value(const char *what, const char *s, size_t n, mc_error_t *e) {
  size_t bad;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\r' || s[i] == '\n') {
      mc_error_set(e, "%s contains CR or LF (header injection refused)", what);
      return -1;
    }
    if (s[i] == '\0') {
      mc_error_set(e, "%s contains NUL", what);
      return -1;
    }
  }
  if (!mc_utf8_valid(s, n, &bad)) {
    mc_error_set(e, "%s is not valid UTF-8 (byte %zu)", what, bad + 1);
    return -1;
  }
  return 0;
}


int mc_hdr_is_plain(const char *s, size_t n) {
  size_t run = 0;       /* a word with the white space before it: what a fold keeps together */
  int in_space = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    int space = c == '\t' || c == ' ';
    if (space && !in_space) run = 0;
    in_space = space;
    if (!space && (c < 33 || c > 126)) return 0;
    if (c == '=' && i + 1 < n && s[i + 1] == '?') return 0;
    if (++run > LONGEST_WORD) return 0;
  }
  return 1;
}


/* RFC 2047 5(3): the characters an encoded-word may carry as they are,
 * wherever it stands (the strictest rule, that of a phrase). */
static int q_plain(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '!' || c == '*' || c == '+' ||
         c == '-' || c == '/';
}


static size_t q_width(unsigned char c) { return q_plain(c) || c == ' ' ? 1 : 3; }


/* Encoded-words for s, Q or B whichever is shorter, each at most EW_MAX
 * long and never splitting a character. The white space between
 * adjacent encoded-words is not part of the text (RFC 2047 6.2). */
static void encoded_words(mc_hdr_t *h, const char *s, size_t n) {
  size_t qlen = 0;
  for (size_t i = 0; i < n; i++) qlen += q_width((unsigned char)s[i]);
  int use_q = qlen <= (n + 2) / 3 * 4;
  size_t i = 0;
  char word[EW_MAX + 1];
  while (i < n) {
    /* Fill what is left of the line when that is worth a word, so the
     * first word shares the line with the field name. */
    size_t left = MC_HDR_FOLD > h->col + 1 ? MC_HDR_FOLD - h->col - 1 : 0;
    if (left > EW_MAX || left < EW_OVERHEAD + 12) left = EW_MAX;
    size_t room = left - EW_OVERHEAD;
    size_t len = 0, take = 0;
    while (i + take < n) {
      size_t cl = mc_utf8_charlen(s + i + take, n - i - take);
      size_t w = 0;
      if (use_q) {
        for (size_t k = 0; k < cl; k++) w += q_width((unsigned char)s[i + take + k]);
        if (len + w > room) break;
        len += w;
      } else if ((take + cl + 2) / 3 * 4 > room) {
        break;
      }
      take += cl;
    }
    if (take == 0) take = 1;  /* unreachable for valid UTF-8; never loop */
    size_t p = 0;
    memcpy(word, EW_PREFIX, 8);
    p = 8;
    word[p++] = use_q ? 'Q' : 'B';
    word[p++] = '?';
    if (use_q) {
      for (size_t k = 0; k < take; k++) {
        unsigned char c = (unsigned char)s[i + k];
        if (c == ' ') word[p++] = '_';
        else if (q_plain(c)) word[p++] = (char)c;
        else { word[p++] = '='; word[p++] = hex[c >> 4]; word[p++] = hex[c & 15]; }
      }
    } else {
      static const char b64[] =
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      const unsigned char *u = (const unsigned char *)s + i;
      for (size_t k = 0; k < take; k += 3) {
        unsigned v = (unsigned)u[k] << 16 | (k + 1 < take ? (unsigned)u[k + 1] << 8 : 0) |
                     (k + 2 < take ? u[k + 2] : 0);
        word[p++] = b64[v >> 18];
        word[p++] = b64[(v >> 12) & 63];
        word[p++] = k + 1 < take ? b64[(v >> 6) & 63] : '=';
        word[p++] = k + 2 < take ? b64[v & 63] : '=';
      }
    }
    word[p++] = '?';
    word[p++] = '=';
    mc_hdr_put(h, " ", 1, word, p);
    i += take;
  }
}


static void trim(const char **s, size_t *n) {
  while (*n > 0 && is_wsp(**s)) { (*s)++; (*n)--; }
  while (*n > 0 && is_wsp((*s)[*n - 1])) (*n)--;
}


void mc_hdr_unstructured(mc_hdr_t *h, const char *s, size_t n) {
  trim(&s, &n);
  if (!mc_hdr_is_plain(s, n)) {
    encoded_words(h, s, n);
    return;
  }
  /* Words with the white space before them, so that folding only ever
   * adds a CRLF in front of existing white space. */
  size_t i = 0;
  int first = 1;
  while (i < n) {
    size_t ws = i;
    while (i < n && is_wsp(s[i])) i++;
    size_t w = i;
    while (i < n && !is_wsp(s[i])) i++;
    if (first) mc_hdr_put(h, " ", 1, s + w, i - w);
    else mc_hdr_put(h, s + ws, w - ws, s + w, i - w);
    first = 0;
  }
  if (first) mc_hdr_put(h, "", 0, " ", 1);  /* empty value: "Name: " */
}


/* RFC 5322 atext. */
static int atext(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}


void mc_hdr_phrase(mc_hdr_t *h, const char *s, size_t n) {
  trim(&s, &n);
  /* Encoded-words also for a name too long to stay on one line quoted
   * (each '"' and '\\' doubles there). */
  size_t quoted = n + 2;
  for (size_t i = 0; i < n; i++) quoted += s[i] == '"' || s[i] == '\\';
  if (!mc_is_ascii(s, n) || (n > 1 && memmem(s, n, "=?", 2)) || quoted > LONGEST_WORD) {
    encoded_words(h, s, n);
    return;
  }
  int atoms = n > 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 32 || c > 126) { encoded_words(h, s, n); return; }
    if (!atext(c) && c != ' ') atoms = 0;
    if (c == ' ' && i > 0 && s[i - 1] == ' ') atoms = 0;  /* keep runs */
  }
  if (atoms) {
    mc_hdr_unstructured(h, s, n);
    return;
  }
  mc_buf_t q = MC_BUF_INIT;
  mc_buf_addc(&q, '"');
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"' || s[i] == '\\') mc_buf_addc(&q, '\\');
    mc_buf_addc(&q, s[i]);
  }
  mc_buf_addc(&q, '"');
  if (q.failed) h->out->failed = 1;
  else mc_hdr_put(h, " ", 1, q.data, q.len);
  mc_buf_free(&q);
}


/* RFC 2231 attribute-char: what stays unescaped in an extended value. */
static int attr_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c && strchr("!#$&+-.^_`|~", c));
}


/* Short printable ASCII goes quoted as it is; not "=?", which readers
 * would decode as an encoded-word and show as another name. */
static int plain_param(const char *s, size_t n) {
  if (n > PARAM_CHUNK || (n > 1 && memmem(s, n, "=?", 2))) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 32 || c > 126) return 0;
  }
  return 1;
}


void mc_hdr_param(mc_hdr_t *h, const char *name, const char *s, size_t n) {
  mc_buf_t v = MC_BUF_INIT;
  mc_hdr_put(h, "", 0, ";", 1);
  if (plain_param(s, n)) {
    mc_buf_printf(&v, "%s=\"", name);
    for (size_t i = 0; i < n; i++) {
      if (s[i] == '"' || s[i] == '\\') mc_buf_addc(&v, '\\');
      mc_buf_addc(&v, s[i]);
    }
    mc_buf_addc(&v, '"');
    if (!v.failed) mc_hdr_put(h, " ", 1, v.data, v.len);
    if (v.failed) h->out->failed = 1;
    mc_buf_free(&v);
    return;
  }
  /* name*0*=utf-8''...; name*1*=... ; one segment when it fits. */
  size_t i = 0;
  int seg = 0;
  while (i < n) {
    v.len = 0;
    size_t start = i, width = 0;
    while (i < n) {
      size_t cl = mc_utf8_charlen(s + i, n - i);
      size_t w = 0;
      for (size_t k = 0; k < cl; k++) w += attr_char((unsigned char)s[i + k]) ? 1 : 3;
      if (width > 0 && width + w > PARAM_CHUNK) break;
      width += w;
      i += cl;
    }
    int only = seg == 0 && i == n;
    if (only) mc_buf_printf(&v, "%s*=utf-8''", name);
    else if (seg == 0) mc_buf_printf(&v, "%s*0*=utf-8''", name);
    else mc_buf_printf(&v, "%s*%d*=", name, seg);
    for (size_t k = start; k < i; k++) {
      unsigned char c = (unsigned char)s[k];
      if (attr_char(c)) mc_buf_addc(&v, (char)c);
      else { char e[3] = {'%', hex[c >> 4], hex[c & 15]}; mc_buf_add(&v, e, 3); }
    }
    if (i < n) mc_buf_addc(&v, ';');
    if (!v.failed) mc_hdr_put(h, " ", 1, v.data, v.len);
    seg++;
  }
  if (v.failed) h->out->failed = 1;
  mc_buf_free(&v);
}


void mc_hdr_param_ew(mc_hdr_t *h, const char *name, const char *s, size_t n) {
  if (plain_param(s, n)) {
    mc_hdr_param(h, name, s, n);
    return;
  }
  /* Encoded-words go into a scratch field so they can be quoted as one. */
  mc_buf_t scratch = MC_BUF_INIT, v = MC_BUF_INIT;
  mc_hdr_t tmp = {&scratch, 0, 0};
  encoded_words(&tmp, s, n);
  mc_hdr_put(h, "", 0, ";", 1);
  mc_buf_printf(&v, "%s=\"", name);
  /* encoded_words separated words with " " and maybe CRLF: keep it one
   * line inside the quotes, which decoders read as one phrase. */
  for (size_t i = 0; i < scratch.len; i++) {
    if (scratch.data[i] == '\r' || scratch.data[i] == '\n') continue;
    if (i == 0 && scratch.data[i] == ' ') continue;
    mc_buf_addc(&v, scratch.data[i]);
  }
  mc_buf_addc(&v, '"');
  if (scratch.failed || v.failed) h->out->failed = 1;
  else mc_hdr_put(h, " ", 1, v.data, v.len);
  mc_buf_free(&scratch);
  mc_buf_free(&v);
}
