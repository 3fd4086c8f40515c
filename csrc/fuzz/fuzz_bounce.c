/* fuzz_bounce: mc_bounce_parse and mc_classify on arbitrary bytes (a
 * bounce address takes mail from anyone). Every string of the result is
 * read back so AddressSanitizer sees a missing terminator, and the
 * result must keep the promises bounce_parse.h and bounce_class.h make:
 * bounded lists and diagnostics, reasons in the taxonomy, hard only for
 * permanent failures of hard reasons. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bounce_class.h"
#include "core/bounce_parse.h"
#include "core/bounce_rules.h"

static volatile unsigned char sink;


static void fail(const char *why) {
  fprintf(stderr, "fuzz_bounce: %s\n", why);
  abort();
}


static size_t touch_str(const char *s) {
  if (s == NULL) return 0;
  size_t n = strlen(s);
  unsigned char acc = 0;
  for (size_t i = 0; i <= n; i++) acc ^= (unsigned char)s[i];
  sink ^= acc;
  return n;
}


static void check_class(const mc_class_t *c) {
  if ((int)c->reason < 0 || c->reason >= MC_REASON_COUNT) fail("reason out of the taxonomy");
  if (c->hard && !(c->permanent && mc_reason_info(c->reason)->hard)) fail("hard without cause");
  if (memchr(c->rule, '\0', sizeof c->rule) == NULL) fail("rule not terminated");
  touch_str(mc_reason_info(c->reason)->name);
}


static void check_bounce(const mc_bounce_t *b) {
  if (strcmp(mc_bounce_kind_name(b->kind), "none") == 0 && b->kind != MC_BOUNCE_NONE) fail("kind without a name");
  if (b->nrcpts > MC_BOUNCE_MAX_RCPTS) fail("too many recipients");
  if (b->nheaders > MC_BOUNCE_MAX_HEADERS) fail("too many headers");
  if (b->kind == MC_BOUNCE_NONE && b->nrcpts) fail("recipients of a message that is no bounce");
  for (size_t i = 0; i < b->nrcpts; i++) {
    const mc_bounce_rcpt_t *r = &b->rcpts[i];
    if (r->address == NULL) fail("recipient without an address");
    touch_str(r->address);
    touch_str(r->original);
    touch_str(r->action);
    touch_str(r->status);
    touch_str(r->remote_mta);
    if (touch_str(r->diagnostic) > MC_BOUNCE_MAX_DIAG) fail("diagnostic past its bound");
    if (r->code && (r->code < 400 || r->code > 599)) fail("reply code out of range");
    if (r->classified) check_class(&r->cls);
  }
  for (size_t i = 0; i < b->nheaders; i++) {
    touch_str(b->headers[i].name);
    touch_str(b->headers[i].value);
  }
  if (b->classified) check_class(&b->cls);
  if (touch_str(b->diagnostic) > MC_BOUNCE_MAX_DIAG) fail("notice diagnostic past its bound");
  if (b->verp && strchr(b->verp, '@')) fail("VERP tag with a domain");
  touch_str(b->message_id);
  touch_str(b->from);
  touch_str(b->subject);
  touch_str(b->reporting_mta);
  touch_str(b->feedback_type);
  touch_str(b->user_agent);
  touch_str(b->source_ip);
  touch_str(b->original_mail_from);
  touch_str(b->arrival_date);
}


/* The input as one reply: its first line's code and status, the rest
 * its text, into the classifier and the code scanner. */
static void check_reply(const char *s, size_t n) {
  int code;
  char status[16];
  mc_scan_codes(s, n, &code, status);
  if (code && (code < 400 || code > 599)) fail("scanned code out of range");
  if (status[0]) {
    char again[16];
    if (mc_enhanced_parse(status, strlen(status), again) != strlen(status)) fail("scanned status does not parse");
  }
  mc_class_t c;
  mc_classify(code, status, s, n, n & 1 ? -1 : 0, &c);
  check_class(&c);
  char norm[MC_RULES_MAX_TEXT];
  size_t len = mc_rules_normalize(s, n, norm, sizeof norm);
  if (len > sizeof norm) fail("normalized text past its buffer");
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  mc_bounce_t b;
  mc_error_t e;
  if (mc_bounce_parse(s, size, &b, &e) == 0) check_bounce(&b);
  mc_bounce_free(&b);
  check_reply(s, size < 8192 ? size : 8192);
  return 0;
}
