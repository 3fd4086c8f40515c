/* DKIM signing rates of the C core, for bench/dkim: full signatures
 * (mc_dkim_sign: canonicalisation, body hash, header hash, signing,
 * folding) and the signing step alone (mc_dkim_key_sign of a digest, what
 * `openssl speed` times), each checked before it is timed.
 *
 *   dkim KEY.pem MESSAGE SECONDS
 *
 * Prints "full RATE" and "step RATE" in signatures per CPU second, the
 * clock `openssl speed` uses; one round a run (bench/dkim runs it every
 * round, interleaved with openssl speed and the Lua rows). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/dkim.h"
#include "core/dkim_verify.h"

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) { perror(path); exit(2); }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *data = malloc((size_t)len + 1);
  if (data == NULL || fread(data, 1, (size_t)len, f) != (size_t)len) { perror(path); exit(2); }
  fclose(f);
  data[len] = '\0';
  *n = (size_t)len;
  return data;
}


typedef struct {
  mc_dkim_key_t *key;
  mc_dkim_sign_opts_t opts;
  const char *msg;
  size_t len;
} job_t;


static void die(const char *what, const mc_error_t *e) {
  fprintf(stderr, "bench/dkim.c: %s: %s\n", what, e ? e->msg : "");
  exit(1);
}


static void full(job_t *j) {
  mc_buf_t out = MC_BUF_INIT;
  mc_error_t e;
  if (mc_dkim_sign(j->key, &j->opts, j->msg, j->len, &out, &e) != 0) die("mc_dkim_sign", &e);
  mc_buf_free(&out);
}


static void step(job_t *j) {
  static unsigned char digest[32] = {1, 2, 3};
  unsigned char sig[MC_DKIM_SIG_MAX];
  size_t n;
  mc_error_t e;
  if (mc_dkim_key_sign(j->key, digest, sig, &n, &e) != 0) die("mc_dkim_key_sign", &e);
  digest[0]++;   /* a new digest each time, as every message has */
}


/* The rate of one round of at least seconds, after one call: the
 * bench runs this once a round, between openssl's and Lua's rounds. */
static double rate(void (*fn)(job_t *), job_t *j, double seconds) {
  long count = 0;
  fn(j);
  double start = cpu_now(), elapsed;
  do {
    for (int k = 0; k < 16; k++) fn(j);
    count += 16;
    elapsed = cpu_now() - start;
  } while (elapsed < seconds);
  return count / elapsed;
}


/* The signature must verify before its rate means anything. */
static void check(job_t *j) {
  mc_buf_t out = MC_BUF_INIT;
  mc_error_t e;
  if (mc_dkim_sign(j->key, &j->opts, j->msg, j->len, &out, &e) != 0) die("mc_dkim_sign", &e);
  mc_buf_add(&out, j->msg, j->len);
  mc_dkim_verify_t v;
  if (out.failed || mc_dkim_verify_begin(&v, out.data, out.len, 1, &e) != 0) die("verify", &e);
  if (v.count != 1) die("verify: no signature", NULL);
  mc_dkim_verify_check(&v, 0, j->key, (int64_t)time(NULL));
  if (v.results[0].status != MC_DKIM_PASS) {
    mc_error_t r;
    snprintf(r.msg, sizeof r.msg, "%s", v.results[0].reason);
    die("the signature does not verify", &r);
  }
  mc_dkim_verify_end(&v);
  mc_buf_free(&out);
}


int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s KEY.pem MESSAGE SECONDS\n", argv[0]);
    return 2;
  }
  mc_error_t e;
  job_t j;
  memset(&j, 0, sizeof j);
  j.key = mc_dkim_key_private_file(argv[1], &e);
  if (j.key == NULL) die("key", &e);
  j.msg = read_file(argv[2], &j.len);
  j.opts = (mc_dkim_sign_opts_t){.domain = "example.com", .selector = "bench",
                                 .header_canon = MC_DKIM_RELAXED, .body_canon = MC_DKIM_RELAXED,
                                 .timestamp = 1, .time = (int64_t)time(NULL)};
  check(&j);
  double seconds = atof(argv[3]);
  printf("full %.1f\n", rate(full, &j, seconds));
  printf("step %.1f\n", rate(step, &j, seconds));
  mc_dkim_key_free(j.key);
  free((void *)j.msg);
  return 0;
}
