/* SMTP replies (RFC 5321 4.2): one or more lines "DDD-text" ... "DDD text",
 * with the RFC 3463 enhanced status code split out. The parser is fed
 * whole lines and bounds what it keeps, so a hostile server can only
 * make it fail, never make it grow without end. */
#ifndef MC_SMTP_REPLY_H
#define MC_SMTP_REPLY_H

#include "buf.h"
#include "error.h"

#define MC_REPLY_MAX_LINE 2048     /* RFC 5321 4.5.3.1.5 says 512; be lenient */
#define MC_REPLY_MAX_LINES 100
#define MC_REPLY_MAX_BYTES 65536

typedef struct {
  int code;              /* 200..599 */
  char enhanced[16];     /* "4.2.2", or "" when the server gave none */
  mc_buf_t text;         /* the lines' texts joined by "\n", codes removed;
                            NUL-terminated once the first line is in */
} mc_reply_t;

typedef struct {
  mc_reply_t cur;        /* the reply being read */
  size_t lines;
} mc_reply_parser_t;

/* Feeds one line without its CRLF. Returns 1 when it completed a reply
 * (moved into *out, which the caller frees with mc_reply_free), 0 when
 * more lines are needed, -1 when the line is not SMTP (e says why). */
int mc_reply_feed(mc_reply_parser_t *p, const char *line, size_t n,
                  mc_reply_t *out, mc_error_t *e);

/* Clears the parser for a new reply (after an error, or to reuse it). */
void mc_reply_parser_reset(mc_reply_parser_t *p);

void mc_reply_free(mc_reply_t *r);

/* The reply's class: 2, 3, 4 or 5. */
static inline int mc_reply_class(const mc_reply_t *r) { return r->code / 100; }

#endif
