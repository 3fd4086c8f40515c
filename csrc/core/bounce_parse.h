/* Reading what comes back to a bounce address: delivery status
 * notifications (RFC 3464, RFC 6533), the plain-text bounces of MTAs and
 * mailbox providers that write none, feedback-loop complaints (ARF, RFC
 * 5965), auto-replies (RFC 3834), and everything else, which is left
 * alone. Built on mc_mime_parse: lenient with what senders get wrong,
 * bounded against what a hostile one could send. */
#ifndef MC_BOUNCE_PARSE_H
#define MC_BOUNCE_PARSE_H

#include <stddef.h>

#include "bounce_class.h"
#include "error.h"
#include "mimeparse.h"

/* Only the head of a larger message is read: everything a bounce says
 * comes before the returned message's body. */
#define MC_BOUNCE_MAX_INPUT (1024 * 1024)
#define MC_BOUNCE_MAX_RCPTS 1000
#define MC_BOUNCE_MAX_DIAG 2048     /* bytes of diagnostic kept per recipient */
#define MC_BOUNCE_MAX_HEADERS 64    /* X-Mailcast-* fields kept */

typedef enum {
  MC_BOUNCE_NONE = 0,    /* not a bounce: an ordinary message */
  MC_BOUNCE_DSN,         /* multipart/report; report-type=delivery-status */
  MC_BOUNCE_BOUNCE,      /* a non-standard bounce, read from its text */
  MC_BOUNCE_AUTOREPLY,   /* out of office, vacation, read receipts */
  MC_BOUNCE_COMPLAINT,   /* multipart/report; report-type=feedback-report */
} mc_bounce_kind_t;

typedef struct {
  char *address;     /* Final-Recipient, or the address found in the text */
  char *original;    /* Original-Recipient (ORCPT) */
  char *action;      /* "failed", "delayed", "delivered", "relayed", "expanded" */
  char *status;      /* "5.1.1" */
  int code;          /* the reply code in the diagnostic, 0 when none */
  char *diagnostic;  /* Diagnostic-Code without its type, or the bounce's text */
  char *remote_mta;  /* Remote-MTA without its type */
  int classified;    /* cls holds a result: the recipient failed or is delayed */
  mc_class_t cls;
} mc_bounce_rcpt_t;

typedef struct {
  mc_bounce_kind_t kind;
  mc_bounce_rcpt_t *rcpts;
  size_t nrcpts;
  /* The notice as a whole: its first failed recipient's class, or for a
   * bounce that names nobody, the class of its whole text. */
  int classified;
  mc_class_t cls;
  char *diagnostic;
  /* Finding the original recipient again. */
  char *verp;          /* "TOKEN" of bounces+TOKEN@domain, the first one seen */
  char *message_id;    /* the returned message's Message-ID; an auto-reply's In-Reply-To */
  mc_hfield_t *headers;  /* X-Mailcast-* fields of the returned message */
  size_t nheaders;
  /* About the notice. */
  char *from;            /* its From address */
  char *subject;         /* decoded */
  char *reporting_mta;
  /* Complaints (ARF). original_mail_from and arrival_date also come
   * from a DSN (X-Postfix-Sender, Arrival-Date). */
  char *feedback_type;
  char *user_agent;
  char *source_ip;
  char *original_mail_from;   /* the returned message's envelope sender */
  char *arrival_date;
} mc_bounce_t;

/* Reads the raw message s (n bytes) into *out, which the caller frees
 * with mc_bounce_free whatever this returns. -1 only when memory runs
 * out (e says so); malformed input is never an error. */
int mc_bounce_parse(const char *s, size_t n, mc_bounce_t *out, mc_error_t *e);

void mc_bounce_free(mc_bounce_t *b);

/* "dsn", "bounce", "autoreply", "complaint", "none" */
const char *mc_bounce_kind_name(mc_bounce_kind_t k);

#endif
