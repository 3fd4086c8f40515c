/* SQL functions the campaign report's queries group by, made known to
 * every connection of the store: a recipient's domain, the provider
 * group a domain belongs to, and what the bounce taxonomy says of a
 * reply (so a failure during the run and a bounce that came later are
 * counted under the same reasons). */
#include "addr.h"
#include "store_internal.h"

#include "bounce_class.h"

#include <ctype.h>
#include <string.h>

/* The provider groups, by the domains their mailboxes have. A domain
 * ending in ".*" stands for every top-level domain after that name
 * (yahoo.co.uk, hotmail.fr). AOL's mail is run by Yahoo. */
typedef struct {
  const char *group;
  const char *const *domains;
} provider_t;

static const char *const gmail[] = {"gmail.com", "googlemail.com", NULL};
static const char *const microsoft[] = {"outlook.*", "hotmail.*", "live.*", "msn.com", "windowslive.com",
                                        "passport.com", NULL};
static const char *const yahoo[] = {"yahoo.*", "ymail.com", "rocketmail.com", "aol.*", "aim.com", NULL};
static const char *const apple[] = {"icloud.com", "me.com", "mac.com", NULL};

static const provider_t providers[] = {
  {"gmail", gmail}, {"microsoft", microsoft}, {"yahoo", yahoo}, {"apple", apple}, {NULL, NULL},
};


/* Whether domain (lower case) is pattern: equal, or for "name.*" the
 * name followed by a dot and anything (yahoo.co.uk for "yahoo.*"). */
static int domain_is(const char *domain, const char *pattern) {
  size_t n = strlen(pattern);
  if (n > 2 && strcmp(pattern + n - 2, ".*") == 0)
    return strncmp(domain, pattern, n - 1) == 0 && domain[n - 1] != '\0';
  return strcmp(domain, pattern) == 0;
}


const char *mc_store_provider(const char *domain) {
  for (const provider_t *p = providers; p->group; p++)
    for (const char *const *d = p->domains; *d; d++)
      if (domain_is(domain, *d)) return p->group;
  return "other";
}


/* mc_domain(address): what follows the last '@', in lower case ("" when
 * there is no '@'). */
static void domain_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *a = (const char *)sqlite3_value_text(argv[0]);
  if (a == NULL) { sqlite3_result_text(ctx, "", 0, SQLITE_STATIC); return; }
  const char *d = strchr(a, '@') ? mc_addr_domain(a) : "";
  size_t n = strlen(d);
  char *out = sqlite3_malloc64(n + 1);
  if (out == NULL) { sqlite3_result_error_nomem(ctx); return; }
  for (size_t i = 0; i < n; i++) out[i] = (char)tolower((unsigned char)d[i]);
  out[n] = '\0';
  sqlite3_result_text(ctx, out, (int)n, sqlite3_free);
}


/* mc_provider(domain): "gmail", "microsoft", "yahoo", "apple" or "other". */
static void provider_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *d = (const char *)sqlite3_value_text(argv[0]);
  sqlite3_result_text(ctx, mc_store_provider(d ? d : ""), -1, SQLITE_STATIC);
}


/* mc_class(code, enhanced, text, what): the taxonomy's "reason",
 * "category" or "hard" (1 or 0) for a reply. */
static void class_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  int code = sqlite3_value_int(argv[0]);
  const char *enhanced = (const char *)sqlite3_value_text(argv[1]);
  const char *text = (const char *)sqlite3_value_text(argv[2]);
  int len = sqlite3_value_bytes(argv[2]);
  const char *what = (const char *)sqlite3_value_text(argv[3]);
  mc_class_t c;
  /* A reply without a code is a failure of ours (a connection refused,
   * a time-out): taken as temporary unless its text says otherwise. */
  mc_classify(code, enhanced, text ? text : "", text ? (size_t)len : 0, 0, &c);
  const mc_reason_info_t *info = mc_reason_info(c.reason);
  if (what && strcmp(what, "hard") == 0) sqlite3_result_int(ctx, c.hard);
  else if (what && strcmp(what, "category") == 0) sqlite3_result_text(ctx, info->category, -1, SQLITE_STATIC);
  else sqlite3_result_text(ctx, info->name, -1, SQLITE_STATIC);
}


int mc_store_report_functions(mc_store_t *s) {
  static const struct {
    const char *name;
    int nargs;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
  } fns[] = {{"mc_domain", 1, domain_fn}, {"mc_provider", 1, provider_fn}, {"mc_class", 4, class_fn}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (sqlite3_create_function_v2(s->db, fns[i].name, fns[i].nargs, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                   NULL, fns[i].fn, NULL, NULL, NULL) != SQLITE_OK)
      return -1;
  return 0;
}
