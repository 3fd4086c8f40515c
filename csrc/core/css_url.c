#include "css_url.h"

#include <string.h>


static int css_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}


/* Part of a CSS name: "myurl(" is a function of another name. */
static int name_char(unsigned char c) {
  return c == '-' || c == '_' || c >= 0x80 || (c >= '0' && c <= '9') ||
         ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}


/* Past the string that starts with the quote at k (a backslash escapes
 * the next byte); n + 1 when it is not closed. */
static size_t skip_string(const char *s, size_t n, size_t k) {
  char q = s[k];
  for (k++; k < n; k++) {
    if (s[k] == '\\') k++;
    else if (s[k] == q) return k + 1;
  }
  return n + 1;
}


/* Past the comment whose content starts at k; n when it is not closed. */
static size_t comment_end(const char *s, size_t n, size_t k) {
  while (k < n) {
    const char *star = memchr(s + k, '*', n - k);
    if (star == NULL) return n;
    k = (size_t)(star - s) + 1;
    if (k < n && s[k] == '/') return k + 1;
  }
  return n;
}


/* Reads the argument of the url( whose '(' is just before k. */
static int argument(const char *s, size_t n, size_t k, size_t *from, mc_css_url_t *u) {
  while (k < n && css_space((unsigned char)s[k])) k++;
  if (k >= n) return 0;
  size_t start = k, end;
  if (s[k] == '"' || s[k] == '\'') {
    end = skip_string(s, n, k);
    if (end > n) return 0;   /* not closed */
    u->value = start + 1;
    u->value_len = end - start - 2;
  } else {
    const char *close = memchr(s + k, ')', n - k);
    if (close == NULL) return 0;
    end = (size_t)(close - s);
    while (end > start && css_space((unsigned char)s[end - 1])) end--;
    u->value = start;
    u->value_len = end - start;
  }
  u->at = start;
  u->len = end - start;
  size_t close = end;
  while (close < n && s[close] != ')') close++;
  if (close >= n) return 0;
  *from = close + 1;
  return 1;
}


/* Past the white space and comments from k. */
static size_t skip_blank(const char *s, size_t n, size_t k) {
  while (k < n) {
    if (css_space((unsigned char)s[k])) k++;
    else if (s[k] == '/' && k + 1 < n && s[k + 1] == '*') k = comment_end(s, n, k + 2);
    else break;
  }
  return k;
}


/* s[k, n) starts with word (lower case), in any case. */
static int starts_with(const char *s, size_t n, size_t k, const char *word) {
  size_t len = strlen(word);
  if (n - k < len) return 0;
  for (size_t i = 0; i < len; i++)
    if ((s[k + i] | 0x20) != word[i]) return 0;
  return 1;
}


/* The @import rule whose '@' is at: its stylesheet (a string or a
 * url(...)) and its media list, to the ';' that ends it outside strings,
 * comments and parentheses (or the end of s). */
static int import_rule(const char *s, size_t n, size_t at, size_t *from, mc_css_url_t *u) {
  size_t k = skip_blank(s, n, at + 7);
  if (k >= n) return 0;
  if (s[k] == '"' || s[k] == '\'') {
    size_t end = skip_string(s, n, k);
    if (end > n) return 0;
    u->value = k + 1;
    u->value_len = end - k - 2;
    k = end;
  } else if (starts_with(s, n, k, "url(")) {
    size_t after;
    if (!argument(s, n, k + 4, &after, u)) return 0;
    k = after;
  } else {
    return 0;
  }
  size_t media = skip_blank(s, n, k), end = media;
  int depth = 0;
  while (end < n && !(s[end] == ';' && depth == 0)) {
    unsigned char c = (unsigned char)s[end];
    if (c == '"' || c == '\'') { end = skip_string(s, n, end); continue; }
    if (c == '/' && end + 1 < n && s[end + 1] == '*') { end = comment_end(s, n, end + 2); continue; }
    if (c == '(') depth++;
    else if (c == ')' && depth > 0) depth--;
    end++;
  }
  if (end > n) end = n;   /* a string the end of s cut off */
  size_t media_end = end;
  while (media_end > media && css_space((unsigned char)s[media_end - 1])) media_end--;
  u->import = 1;
  u->media = media;
  u->media_len = media_end - media;
  u->at = at;
  u->len = (end < n ? end + 1 : n) - at;
  *from = at + u->len;
  return 1;
}


int mc_css_url_next(const char *s, size_t n, size_t *from, mc_css_url_t *u) {
  size_t k = *from;
  u->import = 0;
  u->media = u->media_len = 0;
  while (k < n) {
    unsigned char c = (unsigned char)s[k];
    if (c == '@' && starts_with(s, n, k + 1, "import") && (k + 7 >= n || !name_char((unsigned char)s[k + 7]))) {
      if (import_rule(s, n, k, from, u)) return 1;
      k += 7;
    } else if (c == '/' && k + 1 < n && s[k + 1] == '*') {
      k = comment_end(s, n, k + 2);
    } else if (c == '"' || c == '\'') {
      k = skip_string(s, n, k);
    } else if ((c | 0x20) == 'u' && k + 4 <= n && (s[k + 1] | 0x20) == 'r' && (s[k + 2] | 0x20) == 'l' &&
               s[k + 3] == '(' && (k == 0 || !name_char((unsigned char)s[k - 1]))) {
      if (argument(s, n, k + 4, from, u)) return 1;
      k += 4;
    } else {
      k++;
    }
  }
  *from = n;
  return 0;
}
