/* Assembling a message: the header, then the MIME structure chosen from
 * the parts given. The result is a list of segments: bytes of its own
 * (headers, boundaries) and references to shared parts, so a cached
 * attachment is never copied until the message is written out. */
#ifndef MC_MESSAGE_H
#define MC_MESSAGE_H

#include <stddef.h>
#include <time.h>

#include "addr.h"
#include "error.h"
#include "part.h"

#define MC_MSG_MAX_PARTS 62   /* inline images, and attachments, per message */

typedef struct {
  const char *name;
  const char *value;
  size_t len;
} mc_field_t;

typedef struct {
  mc_addrlist_t from, to, cc, reply_to;
  const char *subject;       /* UTF-8; NULL: no Subject field */
  size_t subject_len;
  const char *message_id;    /* NULL: made from the sender's domain */
  const char *date;          /* NULL: date_time formatted */
  time_t date_time;
  const mc_field_t *fields;  /* extra header fields, in order */
  size_t nfields;
  mc_part_t *text, *html;    /* either may be NULL */
  mc_part_t *const *inline_parts;
  size_t ninline;
  mc_part_t *const *attachments;
  size_t nattachments;
} mc_msg_spec_t;

typedef struct mc_msg mc_msg_t;

/* Called with successive pieces of the message; returns 0, or -1 to stop
 * (and then sets the error it wants reported). */
typedef int (*mc_write_fn)(void *ctx, const char *p, size_t n, mc_error_t *e);

/* Builds the message; takes references to the parts it uses. */
mc_msg_t *mc_msg_build(const mc_msg_spec_t *spec, mc_error_t *e);

/* The exact size mc_msg_write will produce. */
size_t mc_msg_size(const mc_msg_t *m);

/* The Message-ID chosen (with its angle brackets). */
const char *mc_msg_id(const mc_msg_t *m);

/* What it writes is CRLF lines (no CR or LF alone) ending with a CRLF,
 * which SMTP relies on (fuzz_message checks it). */
int mc_msg_write(const mc_msg_t *m, mc_write_fn write, void *ctx, mc_error_t *e);

void mc_msg_free(mc_msg_t *m);

#endif
