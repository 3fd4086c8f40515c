/* fuzz_dkim: DKIM on arbitrary messages. The verifier parses every
 * DKIM-Signature of the input (the tag-list parser, the canonicalisation,
 * the header selection) and checks each with fixed keys; the input as a
 * key record goes through the record parser; the canonical body is
 * idempotent, no longer with a limit than the limit, and a prefix of the
 * whole, and relaxed it has no tab, no two spaces, no space at a line
 * end; and a message the signer accepts verifies with the signature it
 * made, in both canonicalisations. A violation aborts so libFuzzer
 * reports it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/dkim.h"
#include "core/dkim_canon.h"
#include "core/dkim_key.h"
#include "core/dkim_tags.h"
#include "core/dkim_verify.h"

/* Fixed test keys, made for this target only. */
static const char ED_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIEW+rhZpE+sDL9XTX24Eh2hOs/exFB8cehRja37UinQv\n"
    "-----END PRIVATE KEY-----\n";

static const char RSA_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBANX6pibM/Lu7plF9\n"
    "YodPsBLIJ8Fx5LBsgRJ4reEqcV9rVCC7sFVaTIun150tagQZVTy8LpyLoncd/saY\n"
    "L5H9FTvU88ExTJQkQOm05tp9ZZ6E0AgZ1uXUFaPytWko55yYMBnvEhzVKbD6Oqad\n"
    "cRLPEQ6GhFPDCCfmcOgkQjuko0mLAgMBAAECgYBBlmqHSh3NjV8Va1FgGFTn7OIC\n"
    "sV5flWKavtLNSa0mikdnISCTiPIdfHzieKEeUIWH8EZ5RXOu/0qwpMUwAlsXRCzT\n"
    "LDoD7FJGCxhjhDhwfzJ7lr87fM0PocWh3taC33ZkeYAUIoySRubgiOrj/BV30eBk\n"
    "7Nl5Kp+vP2dWZ0r2AQJBAPYyFsit4BH+49fCQy6FMi+tUQNpCOpE5RgSLFZdRINk\n"
    "5xmQrGf09PAV+PGON4RbBRKf6to1D9R8j1qcuGofhCsCQQDegB6Elyg3FdkJ62n7\n"
    "okZPLzg+j+Lgh+VN+sR2eTHF+BvldDcyx2GQgCLQ8+wGYpdGhWgG67CJiFs/Arlh\n"
    "2cAhAkAPVZtZsIrOVCP44l6w3Rb9JTxwi/BENzpVv3wHfROxY22JiBtU9krzUUsK\n"
    "MKOAmPK98Dv+j2OHBqMfL7fE1GW1AkEA2nM/gz5FJZA1vx96tqvkC+p4djQetAO4\n"
    "ho8mRItI6u1ltiob56cJiy3DARP7L2mszHg+Yk0UznMp4vtxtzhrAQJBAJbSZRPu\n"
    "FIQA0HALfq0MGNXARJnG9vdD249sx89Ch0ggpDuKN5bS4mQSV/JujyVMnQLBE12u\n"
    "vXpt4IWMirbORmE=\n"
    "-----END PRIVATE KEY-----\n";

static mc_dkim_key_t *ed_key, *rsa_key;


static void fail(const char *what, const uint8_t *data, size_t n) {
  fprintf(stderr, "fuzz_dkim: %s\ninput (%zu bytes): %.*s\n", what, n, (int)(n > 2000 ? 2000 : n),
          (const char *)data);
  abort();
}


static mc_dkim_key_t *load(const char *pem) {
  mc_error_t e;
  mc_dkim_key_t *k = mc_dkim_key_private(pem, strlen(pem), &e);
  if (k == NULL) {
    fprintf(stderr, "fuzz_dkim: %s\n", e.msg);
    abort();
  }
  return k;
}


int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  ed_key = load(ED_PEM);
  rsa_key = load(RSA_PEM);
  return 0;
}


static void to_buf(void *ctx, const void *p, size_t n) {
  mc_buf_add(ctx, p, n);
}


/* The canonical body's properties, in both forms. */
static void check_body(const uint8_t *data, size_t n) {
  for (int c = 0; c < 2; c++) {
    mc_buf_t once = MC_BUF_INIT, twice = MC_BUF_INIT, part = MC_BUF_INIT;
    uint64_t len = mc_dkim_canon_body((const char *)data, n, c, UINT64_MAX, to_buf, &once);
    if (once.failed) abort();
    if (len != once.len) fail("the canonical length is not what was fed", data, n);
    if (len && (once.len < 2 || memcmp(once.data + once.len - 2, "\r\n", 2) != 0))
      fail("a canonical body does not end with CRLF", data, n);
    if (c == MC_DKIM_RELAXED && once.len &&
        (memchr(once.data, '\t', once.len) || memmem(once.data, once.len, "  ", 2) ||
         memmem(once.data, once.len, " \r\n", 3)))
      fail("a relaxed body keeps a tab, two spaces or a space at a line end", data, n);
    mc_dkim_canon_body(once.data ? once.data : "", once.len, c, UINT64_MAX, to_buf, &twice);
    if (twice.len != once.len || (once.len && memcmp(once.data, twice.data, once.len) != 0))
      fail("canonicalising twice changes the body", data, n);
    uint64_t limit = len / 2;
    uint64_t whole = mc_dkim_canon_body((const char *)data, n, c, limit, to_buf, &part);
    if (whole != len || part.len != limit || (limit && memcmp(part.data, once.data, limit) != 0))
      fail("l= does not give a prefix of the canonical body", data, n);
    mc_buf_free(&once);
    mc_buf_free(&twice);
    mc_buf_free(&part);
  }
}


/* Every signature in the input against both keys: nothing may pass. */
static void check_verify(const uint8_t *data, size_t n) {
  mc_dkim_verify_t v;
  mc_error_t e;
  if (mc_dkim_verify_begin(&v, (const char *)data, n, 8, &e) != 0) abort();
  for (size_t i = 0; i < v.count; i++) {
    mc_dkim_verify_check(&v, i, i % 2 ? rsa_key : ed_key, 0);
    if (v.results[i].status == MC_DKIM_PASS) fail("a signature nobody made passes", data, n);
    if (v.results[i].status == MC_DKIM_NONE) fail("a signature left unchecked", data, n);
  }
  mc_dkim_verify_end(&v);
}


/* The input as a key record (or PEM): parsed and freed. */
static void check_record(const uint8_t *data, size_t n) {
  mc_error_t e;
  mc_dkim_key_t *k = mc_dkim_key_public((const char *)data, n > 4096 ? 4096 : n, &e);
  mc_dkim_key_free(k);
  mc_dkim_tags_t tags;
  const char *why;
  if (mc_dkim_tags_parse(&tags, (const char *)data, n, &why) == 0) {
    for (size_t i = 0; i < tags.count; i++) {
      const mc_dkim_tag_t *t = &tags.tags[i];
      if (t->name < (const char *)data || t->value + t->value_len > (const char *)data + n)
        fail("a tag outside the text", data, n);
    }
  }
}


/* Signs the input, prepends the signature, and verifies: it must pass.
 * An input starting with white space is left out: its first line would
 * fold into the signature field once prepended. */
static void check_round_trip(const uint8_t *data, size_t n, int c) {
  if (n && (data[0] == ' ' || data[0] == '\t')) return;
  mc_dkim_sign_opts_t o = {.domain = "example.com", .selector = "fuzz", .header_canon = c,
                           .body_canon = c, .body_length = c, .timestamp = 1, .time = 1700000000};
  mc_buf_t out = MC_BUF_INIT;
  mc_error_t e;
  mc_dkim_key_t *key = c ? ed_key : rsa_key;
  if (mc_dkim_sign(key, &o, (const char *)data, n, &out, &e) == 0) {
    mc_buf_add(&out, data, n);
    if (out.failed) abort();
    mc_dkim_verify_t v;
    if (mc_dkim_verify_begin(&v, out.data, out.len, 1, &e) != 0) abort();
    if (v.count != 1) fail("the signature made is not found", data, n);
    mc_dkim_verify_check(&v, 0, key, 1700000000);
    if (v.results[0].status != MC_DKIM_PASS) {
      fprintf(stderr, "reason: %s\nsigned: %.*s\n", v.results[0].reason, (int)out.len, out.data);
      fail("a signature made does not verify", data, n);
    }
    mc_dkim_verify_end(&v);
  }
  mc_buf_free(&out);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  check_body(data, n);
  check_verify(data, n);
  check_record(data, n);
  check_round_trip(data, n, MC_DKIM_RELAXED);
  check_round_trip(data, n, MC_DKIM_SIMPLE);
  return 0;
}
