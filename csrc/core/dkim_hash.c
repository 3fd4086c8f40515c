#include "dkim_hash.h"

#include <stdlib.h>
#include <threads.h>

#include <openssl/evp.h>

static EVP_MD *fetched;
static once_flag fetch_once = ONCE_FLAG_INIT;


static void fetch_sha256(void) {
  fetched = EVP_MD_fetch(NULL, "SHA256", NULL);   /* kept for the process's life */
}


/* SHA-256 fetched once: naming EVP_sha256() fetches it again on every
 * use, a lock and a look-up that cost a fifth of hashing a header. */
static const EVP_MD *sha256(void) {
  call_once(&fetch_once, fetch_sha256);
  return fetched ? fetched : EVP_sha256();
}


static void digest_update(void *ctx, const void *p, size_t n) {
  EVP_DigestUpdate(ctx, p, n);
}


int mc_dkim_body_hash(const mc_dkim_msg_t *m, mc_dkim_canon_t c, uint64_t limit,
                      unsigned char out[MC_DKIM_HASH_LEN], uint64_t *len) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx && EVP_DigestInit_ex(ctx, sha256(), NULL) == 1;
  if (ok) {
    *len = mc_dkim_canon_body(m->body, m->body_len, c, limit, digest_update, ctx);
    ok = EVP_DigestFinal_ex(ctx, out, NULL) == 1;
  }
  EVP_MD_CTX_free(ctx);
  return ok ? 0 : -1;
}


int mc_dkim_header_hash(const mc_dkim_msg_t *m, const mc_dkim_str_t *names, size_t n,
                        mc_dkim_canon_t c, const char *sig, size_t sig_len, size_t sig_name_len,
                        unsigned char out[MC_DKIM_HASH_LEN]) {
  unsigned char *used = calloc(m->count ? m->count : 1, 1);
  if (used == NULL) return -1;
  mc_buf_t text = MC_BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = m->count; j-- > 0;) {
      const mc_dkim_field_t *f = &m->fields[j];
      if (used[j] || !mc_dkim_field_is(f, names[i].p, names[i].n)) continue;
      used[j] = 1;
      mc_dkim_canon_header(&text, f->start, f->len, f->name_len, c);
      mc_buf_add(&text, "\r\n", 2);
      break;
    }
  }
  mc_dkim_canon_header(&text, sig, sig_len, sig_name_len, c);
  free(used);
  int ok = !text.failed &&
           EVP_Digest(text.data ? text.data : "", text.len, out, NULL, sha256(), NULL) == 1;
  mc_buf_free(&text);
  return ok ? 0 : -1;
}
