/* The data of a transaction as it goes on the wire: CRLF line breaks
 * throughout, ending with one, and for DATA (not BDAT) a dot doubled at
 * the start of a line (RFC 5321 4.5.2). */
#ifndef MC_SMTP_DATA_H
#define MC_SMTP_DATA_H

#include "error.h"
#include "smtp_session.h"

struct evbuffer;

/* Appends the data of t (its built message, or its raw bytes with bare
 * CR and LF made CRLF) to out, dots stuffed when dots is set: 0, or -1
 * with e when the message cannot be written (a file gone). */
int mc_smtp_write_data(const mc_txn_t *t, struct evbuffer *out, int dots, mc_error_t *e);

#endif
