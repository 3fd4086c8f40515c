/* Click and open tracking for an HTML part: which links are tracked by
 * default, and the document written again with new href values and an
 * open pixel, every other byte as it was. */
#ifndef MC_TRACK_H
#define MC_TRACK_H

#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "html_scan.h"

typedef struct {
  const char *base;          /* the tracking server, "https://t.example.com" */
  size_t base_len;
  const char *unsubscribe;   /* the campaign's unsubscribe URL, or NULL */
  size_t unsubscribe_len;
} mc_track_opts_t;

/* Why link l of scan s is left alone by default, or NULL when it is to
 * be tracked: "empty", "anchor" (#...), "notrack" (the attribute or the
 * #mc-notrack marker), "unsubscribe" (the campaign's unsubscribe URL or
 * {{unsubscribe_url}}), "tracked" (already points at the base), "mailto",
 * "tel", "sms", "javascript", or "not-http" (any other scheme, or a
 * relative URL, which means nothing in a mail). */
const char *mc_track_skip(const mc_html_scan_t *s, const mc_html_link_t *l,
                          const mc_track_opts_t *o);

/* Drops o's unsubscribe URL when no link of s can hold it: one search
 * through every link's URL at once rather than one per link in
 * mc_track_skip. */
void mc_track_prepare(mc_track_opts_t *o, const mc_html_scan_t *s);

/* Appends base "/" kind "/" token (kind: "c" click, "o" open, "u"
 * unsubscribe), dropping the trailing slashes of base. */
void mc_track_url(mc_buf_t *out, const char *base, size_t base_len, const char *kind,
                  const char *token, size_t token_len);

/* A new href for a link: href == NULL keeps the link as it is. */
typedef struct {
  const char *href;
  size_t len;
} mc_track_edit_t;

/* Appends html (n bytes, scanned into s) to out with link i's href value
 * replaced by edits[i] (s->count of them; escaped for its quotes, and
 * put between double quotes when it had none), and when pixel is not
 * NULL an invisible 1x1 image of that URL inserted just before the last
 * </body>, or at the end when there is none. Only out's allocation can
 * fail: -1, e set. */
int mc_track_rewrite(mc_buf_t *out, const char *html, size_t n, const mc_html_scan_t *s,
                     const mc_track_edit_t *edits, const char *pixel, size_t pixel_len,
                     mc_error_t *e);

#endif
