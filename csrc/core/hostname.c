#include "hostname.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>


int mc_host_is_fqdn(const char *name) {
  size_t n = strlen(name), label = 0, dots = 0;
  if (n == 0 || n > 253) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (c == '.') {
      if (label == 0 || name[i - 1] == '-') return 0;
      label = 0;
      dots++;
      continue;
    }
    int ldh = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ldh || (label == 0 && c == '-') || ++label > 63) return 0;
  }
  if (label == 0 || name[n - 1] == '-' || dots == 0) return 0;
  /* A top-level label is never all digits: "192.0.2.1" is an address. */
  size_t tld = n - label;
  while (tld < n && name[tld] >= '0' && name[tld] <= '9') tld++;
  if (tld == n) return 0;
  /* "localhost.localdomain" and the like name no machine to the world. */
  return strncasecmp(name, "localhost.", 10) != 0;
}


/* A trailing dot (the root) is dropped: EHLO wants the name without it. */
static int keep(char *out, size_t size, const char *name) {
  size_t n = strlen(name);
  if (n > 0 && name[n - 1] == '.') n--;
  if (n == 0 || n >= size) return 0;
  memcpy(out, name, n);
  out[n] = '\0';
  return mc_host_is_fqdn(out);
}


const char *mc_host_fqdn(void) {
  static char name[256];
  static int looked, found;
  if (looked) return found ? name : NULL;
  looked = 1;
  char host[256];
  if (gethostname(host, sizeof host) != 0) return NULL;
  host[sizeof host - 1] = '\0';
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_flags = AI_CANONNAME;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, NULL, &hints, &ai) == 0) {
    if (ai && ai->ai_canonname) found = keep(name, sizeof name, ai->ai_canonname);
    freeaddrinfo(ai);
  }
  if (!found) found = keep(name, sizeof name, host);   /* a dotted name the resolver does not know */
  return found ? name : NULL;
}


int mc_host_address_literal(const void *sa, char *out, size_t size) {
  char text[INET6_ADDRSTRLEN];
  int n = -1;
  const struct sockaddr *s = sa;
  if (s->sa_family == AF_INET &&
      inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof text))
    n = snprintf(out, size, "[%s]", text);
  else if (s->sa_family == AF_INET6 &&
           inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof text))
    n = snprintf(out, size, "[IPv6:%s]", text);
  return n > 0 && (size_t)n < size ? 0 : -1;
}
