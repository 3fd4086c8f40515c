/* A leaf MIME part: its header fields and its encoded body, made once and
 * shared (by reference count) by every message that carries it, so an
 * attachment sent to a whole list is encoded one time. */
#ifndef MC_PART_H
#define MC_PART_H

#include <stddef.h>

#include "buf.h"
#include "error.h"

typedef enum {
  MC_ENC_AUTO,    /* chosen from the content */
  MC_ENC_7BIT,
  MC_ENC_8BIT,
  MC_ENC_QP,
  MC_ENC_BASE64
} mc_encoding_t;

typedef struct {
  const char *content_type;  /* "type/subtype"; NULL: from the filename */
  const char *charset;       /* text types only; NULL: none (utf-8 for bodies) */
  const char *filename;      /* UTF-8; NULL: none */
  const char *disposition;   /* "inline", "attachment" or NULL */
  const char *content_id;    /* without angle brackets; NULL: none */
  mc_encoding_t encoding;
  int body;                  /* a message body: UTF-8 checked, line breaks made CRLF */
  int allow_8bit;            /* MC_ENC_AUTO may pick 8bit for text */
} mc_part_opts_t;

/* A stretch of a body given in pieces: ext's bytes, or (ext NULL) the
 * part's own body bytes at off. */
typedef struct {
  const char *ext;
  size_t off, len;
} mc_piece_t;

typedef struct {
  int refs;
  mc_buf_t head;        /* header fields, each ended by CRLF, no blank line */
  mc_buf_t body;        /* encoded body (empty for a streamed file) */
  char *path;           /* streamed file, base64-encoded as it is written */
  size_t file_size;
  mc_encoding_t encoding;
  /* A body made from a template (core/textpart.h) is pieces: its own
   * bytes in body, between stretches encoded once for every message and
   * kept alive by keep (released with the part). NULL: body is whole.
   * The pieces are allocated with the part (freed with it). */
  mc_piece_t *pieces;
  size_t npieces;
  void *keep;
  void (*release)(void *keep);
  const char *body_type; /* "text/plain" or "text/html" for such a body */
} mc_part_t;

/* A part from bytes in memory; the bytes are not kept. Refs start at 1. */
mc_part_t *mc_part_new(const mc_part_opts_t *o, const char *data, size_t n,
                       mc_error_t *e);

/* The most a file read into memory for a part may have (64 MiB): more
 * than any mail server takes in one message. */
#define MC_PART_FILE_MAX (64 << 20)

/* A part from a file, which must be a regular file. stream: keep only
 * the path and encode while writing (for attachments too big to hold);
 * otherwise read (at most MC_PART_FILE_MAX bytes) and encode now. */
mc_part_t *mc_part_from_file(const mc_part_opts_t *o, const char *path,
                             int stream, mc_error_t *e);

/* Bytes the part takes in a message: head, blank line, body. */
size_t mc_part_size(const mc_part_t *p);

/* Whether the encoded body (in memory, whole or in pieces) ends with CRLF. */
int mc_part_ends_crlf(const mc_part_t *p);

void mc_part_ref(mc_part_t *p);
void mc_part_unref(mc_part_t *p);

const char *mc_encoding_name(mc_encoding_t enc);
int mc_encoding_parse(const char *name, mc_encoding_t *enc);

#endif
