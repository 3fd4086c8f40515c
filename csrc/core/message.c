#include "message.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "b64.h"
#include "hdr.h"
#include "rand.h"
#include "utf8.h"

#define BOUNDARY_RANDOM 24   /* 120 random bits */
#define FILE_CHUNK (MC_B64_LINE_IN * 1024)

/* A piece of the message: own bytes (offset into own), a shared part's
 * head or body, or a streamed file. */
typedef struct {
  enum { SEG_OWN, SEG_EXTERNAL, SEG_FILE } kind;
  size_t off, len;
  const char *ext;
  const mc_part_t *part;
} seg_t;

struct mc_msg {
  mc_buf_t own;
  seg_t *segs;
  size_t nsegs, cap;
  size_t own_mark;      /* start of own bytes not yet in a segment */
  mc_part_t **parts;    /* references held */
  size_t nparts;
  char id[300];
  int failed;
};


static void push(mc_msg_t *m, seg_t s) {
  if (m->nsegs == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    seg_t *p = realloc(m->segs, cap * sizeof *p);
    if (p == NULL) { m->failed = 1; return; }
    m->segs = p;
    m->cap = cap;
  }
  m->segs[m->nsegs++] = s;
}


/* Closes the run of own bytes written since the last segment. */
static void flush_own(mc_msg_t *m) {
  if (m->own.len > m->own_mark) {
    push(m, (seg_t){SEG_OWN, m->own_mark, m->own.len - m->own_mark, NULL, NULL});
    m->own_mark = m->own.len;
  }
}


static void add_part(mc_msg_t *m, const mc_part_t *p) {
  flush_own(m);
  push(m, (seg_t){SEG_EXTERNAL, 0, p->head.len, p->head.data, p});
  mc_buf_add(&m->own, "\r\n", 2);
  flush_own(m);
  if (p->path) {
    push(m, (seg_t){SEG_FILE, 0, mc_b64_encoded_len(p->file_size, 1), NULL, p});
  } else if (p->pieces) {
    for (size_t i = 0; i < p->npieces; i++) {
      const mc_piece_t *q = &p->pieces[i];
      push(m, (seg_t){SEG_EXTERNAL, 0, q->len, q->ext ? q->ext : p->body.data + q->off, p});
    }
  } else if (p->body.len) {
    push(m, (seg_t){SEG_EXTERNAL, 0, p->body.len, p->body.data, p});
  }
}


/* An open multipart: its boundary and how many parts it has so far. */
typedef struct {
  char boundary[8 + BOUNDARY_RANDOM];
  size_t parts;
} multipart_t;


/* Writes the Content-Type of a new multipart and its blank line. */
static int open_multipart(mc_msg_t *m, multipart_t *mp, const char *subtype, mc_error_t *e) {
  memcpy(mp->boundary, "=_mc", 4);
  /* "=_" cannot occur in base64 or quoted-printable output, and parts
   * sent as they are were checked for it, so no content can hold it. */
  if (mc_rand_token(mp->boundary + 4, BOUNDARY_RANDOM) != 0) {
    mc_error_set(e, "no random bytes for a boundary");
    return -1;
  }
  mp->parts = 0;
  mc_buf_addstr(&m->own, "Content-Type: multipart/");
  mc_buf_addstr(&m->own, subtype);
  mc_buf_addstr(&m->own, ";\r\n boundary=\"");
  mc_buf_addstr(&m->own, mp->boundary);
  mc_buf_addstr(&m->own, "\"\r\n\r\n");
  return 0;
}


/* The delimiter before the next part; the CRLF before it belongs to it. */
static void next_part(mc_msg_t *m, multipart_t *mp) {
  mc_buf_addstr(&m->own, mp->parts++ ? "\r\n--" : "--");
  mc_buf_addstr(&m->own, mp->boundary);
  mc_buf_addstr(&m->own, "\r\n");
}


static void close_multipart(mc_msg_t *m, const multipart_t *mp) {
  mc_buf_addstr(&m->own, "\r\n--");
  mc_buf_addstr(&m->own, mp->boundary);
  mc_buf_addstr(&m->own, "--\r\n");
}


/* The HTML with its inline images: related(html, images...). */
static int write_html(mc_msg_t *m, const mc_msg_spec_t *s, mc_error_t *e) {
  if (s->ninline == 0) {
    add_part(m, s->html);
    return 0;
  }
  multipart_t related;
  if (open_multipart(m, &related, "related", e) != 0) return -1;
  next_part(m, &related);
  add_part(m, s->html);
  for (size_t i = 0; i < s->ninline; i++) {
    next_part(m, &related);
    add_part(m, s->inline_parts[i]);
  }
  close_multipart(m, &related);
  return 0;
}


/* alternative(text, related(html, images...)) inside mixed(..., files):
 * text-only readers then never see the images as attachments. */
static int write_body(mc_msg_t *m, const mc_msg_spec_t *s, const mc_part_t *text,
                      mc_error_t *e) {
  multipart_t mixed, alt;
  if (s->nattachments) {
    if (open_multipart(m, &mixed, "mixed", e) != 0) return -1;
    next_part(m, &mixed);
  }
  if (s->html && text) {
    if (open_multipart(m, &alt, "alternative", e) != 0) return -1;
    next_part(m, &alt);
    add_part(m, text);
    next_part(m, &alt);
    if (write_html(m, s, e) != 0) return -1;
    close_multipart(m, &alt);
  } else if (s->html) {
    if (write_html(m, s, e) != 0) return -1;
  } else {
    add_part(m, text);
  }
  if (s->nattachments) {
    for (size_t i = 0; i < s->nattachments; i++) {
      next_part(m, &mixed);
      add_part(m, s->attachments[i]);
    }
    close_multipart(m, &mixed);
  }
  return 0;
}


/* Fields the builder writes itself: setting them as extra fields would
 * make a second, conflicting copy. */
static const char *const reserved[] = {
  "from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id",
  "mime-version", "content-type", "content-transfer-encoding",
  "content-disposition", "content-id",
};


static int check_field_name(const char *name, mc_error_t *e) {
  size_t n = strlen(name);
  if (n == 0 || n > 76) {
    mc_error_set(e, "header name '%.80s' must be 1 to 76 characters", name);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || (c == '-' && i > 0);
    if (!ok) {
      mc_error_set(e, "header name '%.80s' may hold only letters, digits and '-'", name);
      return -1;
    }
  }
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
    if (strcasecmp(name, reserved[i]) == 0) {
      mc_error_set(e, "header '%s' is set by its own field, not in headers", name);
      return -1;
    }
  }
  return 0;
}


static void address_field(mc_buf_t *out, const char *name, const mc_addrlist_t *l) {
  if (l->count == 0) return;
  mc_hdr_t h;
  mc_hdr_begin(&h, out, name);
  for (size_t i = 0; i < l->count; i++) {
    const mc_addr_t *a = &l->items[i];
    const char *comma = i + 1 < l->count ? "," : "";
    char spec[MC_ADDR_MAX + 4];
    size_t len = 0, n = strlen(a->addr);
    if (n > MC_ADDR_MAX) n = MC_ADDR_MAX;
    if (a->name) {
      mc_hdr_phrase(&h, a->name, strlen(a->name));
      spec[len++] = '<';
    }
    memcpy(spec + len, a->addr, n);
    len += n;
    if (a->name) spec[len++] = '>';
    if (*comma) spec[len++] = ',';
    mc_hdr_put(&h, " ", 1, spec, len);
  }
  mc_hdr_end(&h);
}


/* Appends what fits of p[0, n) to the fixed buffer b (never grown). */
static void id_put(mc_buf_t *b, const char *p, size_t n) {
  if (n > b->cap - b->len) n = b->cap - b->len;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}


static int make_id(mc_msg_t *m, const mc_msg_spec_t *s, mc_error_t *e) {
  if (s->message_id) {
    size_t n = strlen(s->message_id);
    if (mc_hdr_check_value("message_id", s->message_id, n, e) != 0) return -1;
    const char *at = strchr(s->message_id, '@');
    int bracketed = n >= 2 && s->message_id[0] == '<' && s->message_id[n - 1] == '>';
    if (at == NULL || strpbrk(s->message_id, " \t") || n + 3 > sizeof m->id ||
        (!bracketed && strpbrk(s->message_id, "<>"))) {
      mc_error_set(e, "message_id '%.80s' is not of the form <left@right>", s->message_id);
      return -1;
    }
    snprintf(m->id, sizeof m->id, bracketed ? "%s" : "<%s>", s->message_id);
    return 0;
  }
  char token[21];
  if (mc_rand_token(token, 20) != 0) {
    mc_error_set(e, "no random bytes for a Message-ID");
    return -1;
  }
  const char *domain = s->from.count ? mc_addr_domain(s->from.items[0].addr) : "localhost";
  /* "<%llx.%s@%s>", cut to fit as snprintf would: one is made per message. */
  char hex[20], *h = hex + sizeof hex;
  unsigned long long t = (unsigned long long)s->date_time;
  do { *--h = "0123456789abcdef"[t & 15]; t >>= 4; } while (t);
  mc_buf_t id = {m->id, 0, sizeof m->id - 1, 0};
  id_put(&id, "<", 1);
  id_put(&id, h, (size_t)(hex + sizeof hex - h));
  id_put(&id, ".", 1);
  id_put(&id, token, strlen(token));
  id_put(&id, "@", 1);
  id_put(&id, domain, strlen(domain));
  id_put(&id, ">", 1);
  m->id[id.len] = '\0';
  return 0;
}


static int write_header(mc_msg_t *m, const mc_msg_spec_t *s, mc_error_t *e) {
  mc_buf_t *out = &m->own;
  if (s->date) {
    size_t n = strlen(s->date);
    if (mc_hdr_check_value("date", s->date, n, e) != 0) return -1;
    if (n == 0 || n > 128) {
      mc_error_set(e, "date must be 1 to 128 characters (RFC 5322 3.3 date-time)");
      return -1;
    }
    mc_buf_addstr(out, "Date: ");
    mc_buf_addstr(out, s->date);
  } else {
    /* A list is sent within a few seconds: each is formatted once. */
    static __thread time_t last = -1;
    static __thread char when[64];
    if (s->date_time != last) {
      struct tm tm;
      localtime_r(&s->date_time, &tm);
      /* RFC 5322 3.3 in English whatever the locale. */
      static const char *const day[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
      static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
      long off = tm.tm_gmtoff / 60;
      snprintf(when, sizeof when, "Date: %s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
               day[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900,
               tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
               labs(off) / 60, labs(off) % 60);
      last = s->date_time;
    }
    mc_buf_addstr(out, when);
  }
  mc_buf_addstr(out, "\r\n");
  address_field(out, "From", &s->from);
  address_field(out, "Reply-To", &s->reply_to);
  address_field(out, "To", &s->to);
  address_field(out, "Cc", &s->cc);
  if (s->subject) {
    if (mc_hdr_check_value("subject", s->subject, s->subject_len, e) != 0) return -1;
    mc_hdr_t h;
    mc_hdr_begin(&h, out, "Subject");
    mc_hdr_unstructured(&h, s->subject, s->subject_len);
    mc_hdr_end(&h);
  }
  mc_buf_addstr(out, "Message-ID: ");
  mc_buf_addstr(out, m->id);
  mc_buf_addstr(out, "\r\n");
  mc_buf_addstr(out, "MIME-Version: 1.0\r\n");
  for (size_t i = 0; i < s->nfields; i++) {
    const mc_field_t *f = &s->fields[i];
    if (check_field_name(f->name, e) != 0) return -1;
    char what[100];
    snprintf(what, sizeof what, "header '%s'", f->name);
    if (mc_hdr_check_value(what, f->value, f->len, e) != 0) return -1;
    mc_hdr_t h;
    mc_hdr_begin(&h, out, f->name);
    mc_hdr_unstructured(&h, f->value, f->len);
    mc_hdr_end(&h);
  }
  return 0;
}


/* Takes a reference to p; m->parts has room for every part of the spec. */
static void hold(mc_msg_t *m, mc_part_t *p) {
  if (p == NULL || m->failed) return;
  mc_part_ref(p);
  m->parts[m->nparts++] = p;
}


mc_msg_t *mc_msg_build(const mc_msg_spec_t *s, mc_error_t *e) {
  if (s->from.count == 0) { mc_error_set(e, "from: no sender given"); return NULL; }
  if (s->ninline > 0 && s->html == NULL) {
    mc_error_set(e, "inline: inline images need an html body to refer to them");
    return NULL;
  }
  if (s->ninline > MC_MSG_MAX_PARTS || s->nattachments > MC_MSG_MAX_PARTS) {
    mc_error_set(e, "too many parts (at most %d inline and %d attachments)",
                 MC_MSG_MAX_PARTS, MC_MSG_MAX_PARTS);
    return NULL;
  }
  mc_msg_t *m = calloc(1, sizeof *m);
  if (m == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  /* Room for the header and the boundaries of most messages at once, and
   * for the parts: a text, an html, the inline images, the files. */
  m->parts = malloc((2 + s->ninline + s->nattachments) * sizeof *m->parts);
  if (m->parts == NULL || mc_buf_reserve(&m->own, 1024) != 0) {
    mc_error_set(e, "out of memory");
    goto fail;
  }
  if (make_id(m, s, e) != 0 || write_header(m, s, e) != 0) goto fail;

  static const mc_part_opts_t empty_text = {.body = 1};
  mc_part_t *text = s->text;
  if (text == NULL && s->html == NULL) {
    text = mc_part_new(&empty_text, "", 0, e);
    if (text == NULL) goto fail;
    hold(m, text);
    mc_part_unref(text);  /* the message's reference keeps it */
  } else {
    hold(m, text);
  }
  hold(m, s->html);
  for (size_t i = 0; i < s->ninline; i++) hold(m, s->inline_parts[i]);
  for (size_t i = 0; i < s->nattachments; i++) hold(m, s->attachments[i]);
  if (m->failed) { mc_error_set(e, "out of memory"); goto fail; }

  if (write_body(m, s, text, e) != 0) goto fail;
  /* A single-part message ends its body with a line break, as SMTP needs. */
  const mc_part_t *single = s->nattachments || s->ninline || (s->html && text) ? NULL
                            : s->html ? s->html : text;
  if (single && !single->path && !mc_part_ends_crlf(single)) mc_buf_add(&m->own, "\r\n", 2);
  flush_own(m);
  if (m->failed || m->own.failed) { mc_error_set(e, "out of memory"); goto fail; }
  return m;
fail:
  mc_msg_free(m);
  return NULL;
}


size_t mc_msg_size(const mc_msg_t *m) {
  size_t total = 0;
  for (size_t i = 0; i < m->nsegs; i++) total += m->segs[i].len;
  return total;
}


const char *mc_msg_id(const mc_msg_t *m) { return m->id; }


static int write_file(const seg_t *s, mc_write_fn write, void *ctx, mc_error_t *e) {
  FILE *f = fopen(s->part->path, "rb");
  if (f == NULL) {
    mc_error_set(e, "cannot open '%s': %s", s->part->path, strerror(errno));
    return -1;
  }
  unsigned char *in = malloc(FILE_CHUNK);
  char *out = malloc(mc_b64_encoded_len(FILE_CHUNK, 1));
  int rc = -1;
  size_t total = 0, got;
  if (in == NULL || out == NULL) { mc_error_set(e, "out of memory"); goto done; }
  while ((got = fread(in, 1, FILE_CHUNK, f)) > 0) {
    total += got;
    if (total > s->part->file_size) break;
    size_t n = mc_b64_encode(out, in, got, 1);
    if (write(ctx, out, n, e) != 0) goto done;
  }
  if (ferror(f) || total != s->part->file_size) {
    mc_error_set(e, "'%s' changed size while the message was written", s->part->path);
    goto done;
  }
  rc = 0;
done:
  free(in);
  free(out);
  fclose(f);
  return rc;
}


int mc_msg_write(const mc_msg_t *m, mc_write_fn write, void *ctx, mc_error_t *e) {
  for (size_t i = 0; i < m->nsegs; i++) {
    const seg_t *s = &m->segs[i];
    int rc;
    if (s->kind == SEG_FILE) rc = write_file(s, write, ctx, e);
    else rc = write(ctx, s->kind == SEG_OWN ? m->own.data + s->off : s->ext, s->len, e);
    if (rc != 0) return -1;
  }
  return 0;
}


void mc_msg_free(mc_msg_t *m) {
  if (m == NULL) return;
  for (size_t i = 0; i < m->nparts; i++) mc_part_unref(m->parts[i]);
  free(m->parts);
  free(m->segs);
  mc_buf_free(&m->own);
  free(m);
}
