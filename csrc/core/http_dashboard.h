/* mailcast serve's /dashboard: who may see it, and its pages.
 *
 * Never open by default: without a token every /dashboard path answers
 * 404 and says how to turn it on. With one, a request shows it as a
 * bearer token (Authorization: Bearer T), as the password of HTTP Basic
 * (any user name), or once as ?token=T, which sets a cookie (a hash of
 * the token, HttpOnly, SameSite=Strict) and redirects to the same page
 * without it. Tokens are compared through their SHA-256 in constant
 * time; a missing or wrong one gets 401.
 *
 * A page is made by a program of its own (page_child.h: the report's SQL
 * must not hold up the tracking endpoints on the loop), given the
 * request's path as its last argument; it writes "STATUS TYPE\n" and
 * then the body. One program runs at a time; requests for a page being
 * made wait for it, and a page is kept for `cache` seconds. */
#ifndef MC_HTTP_DASHBOARD_H
#define MC_HTTP_DASHBOARD_H

#include <stddef.h>

#include "error.h"

struct event_base;
struct evhttp_request;

typedef struct {
  const char *token;       /* NULL or "": the dashboard is off */
  size_t token_len;
  const char *const *argv; /* the page program and its first arguments (NULL-ended); copied */
  double cache;            /* seconds a page is kept (default 2) */
  double timeout;          /* seconds a page may take to make (default 30) */
  size_t max_page;         /* bytes (default 32 MB) */
  int quiet;               /* no log lines on stderr */
} mc_dash_opts_t;

typedef struct mc_dash mc_dash_t;

mc_dash_t *mc_dash_new(struct event_base *base, const mc_dash_opts_t *o, mc_error_t *e);

/* Whether the dashboard is on (a token was given). */
int mc_dash_enabled(const mc_dash_t *d);

/* Answers req, whose path is /dashboard or under it; d may be NULL
 * (off). */
void mc_dash_handle(mc_dash_t *d, struct evhttp_request *req, const char *path);

/* Pages made so far, and those that failed. */
unsigned long long mc_dash_built(const mc_dash_t *d);
unsigned long long mc_dash_failed(const mc_dash_t *d);

/* Kills a page program still running and frees d. Requests still waiting
 * are not answered: evhttp_free, before or after, frees them. */
void mc_dash_free(mc_dash_t *d);

#endif
