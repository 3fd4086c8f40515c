#include "page_child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "smtp_session.h"   /* mc_timeval */

extern char **environ;

struct mc_page_child {
  pid_t pid;         /* 0 once reaped */
  int fd;            /* the pipe's end we read; -1 once closed */
  size_t max;
  struct event *readable, *deadline;
  mc_buf_t out;
  mc_page_child_cb cb;
  void *arg;
};


/* Kills and reaps the program when it still runs. */
static void reap(mc_page_child_t *c, int kill_it) {
  if (c->pid <= 0) return;
  if (kill_it) kill(c->pid, SIGKILL);
  int status;
  pid_t r;
  do r = waitpid(c->pid, &status, 0);
  while (r < 0 && errno == EINTR);
  c->pid = 0;
}


static void stop_reading(mc_page_child_t *c) {
  if (c->readable) event_del(c->readable);
  if (c->deadline) event_del(c->deadline);
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}


/* Ends the run and tells the owner, which may free c in its callback. */
static void finish(mc_page_child_t *c, int ok, const char *why) {
  stop_reading(c);
  reap(c, !ok);
  mc_page_child_cb cb = c->cb;
  c->cb = NULL;
  if (cb) cb(c->arg, ok, c->out.data ? c->out.data : "", c->out.len, why);
}


/* The program closes its end when it exits: EOF means it has (or is
 * about to), and waitpid says how. */
static void on_readable(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  mc_page_child_t *c = arg;
  for (;;) {
    char *tail = mc_buf_tail(&c->out, 65536);
    if (tail == NULL) { finish(c, 0, "out of memory"); return; }
    ssize_t n = read(fd, tail, 65536);
    if (n > 0) {
      c->out.len += (size_t)n;
      if (c->out.len > c->max) { finish(c, 0, "the page is too large"); return; }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    break;   /* EOF, or an error reading: either way the program is done with us */
  }
  stop_reading(c);
  int status = 0;
  pid_t r;
  do r = waitpid(c->pid, &status, 0);
  while (r < 0 && errno == EINTR);
  c->pid = 0;
  int ok = r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  finish(c, ok, ok ? NULL : "the page program failed");
}


static void on_deadline(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  finish(arg, 0, "the page took too long");
}


mc_page_child_t *mc_page_child_run(struct event_base *base, char *const argv[], double timeout,
                                   size_t max, mc_page_child_cb cb, void *arg, mc_error_t *e) {
  mc_page_child_t *c = calloc(1, sizeof *c);
  if (c == NULL) { mc_error_set(e, "out of memory"); return NULL; }
  c->fd = -1;
  c->max = max;
  c->cb = cb;
  c->arg = arg;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) { mc_error_set(e, "pipe: %s", strerror(errno)); free(c); return NULL; }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  /* The listener, the store and the connections are the server's: a
   * program that outlives its deadline must not hold them. */
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  /* serve ignores SIGINT and SIGTERM and SIGPIPE, and an exec keeps what
   * is ignored: the program gets the defaults back. */
  sigset_t defaults, none;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGPIPE);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  int rc = posix_spawn(&c->pid, argv[0], &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(p[1]);
  c->fd = p[0];
  if (rc != 0) {
    mc_error_set(e, "cannot start %s: %s", argv[0], strerror(rc));
    c->pid = 0;
    mc_page_child_free(c);
    return NULL;
  }
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  c->readable = event_new(base, c->fd, EV_READ | EV_PERSIST, on_readable, c);
  c->deadline = evtimer_new(base, on_deadline, c);
  if (c->readable == NULL || c->deadline == NULL) {
    mc_error_set(e, "cannot watch the page program");
    mc_page_child_free(c);
    return NULL;
  }
  struct timeval tv = mc_timeval(timeout);
  event_add(c->readable, NULL);
  event_add(c->deadline, &tv);
  return c;
}


void mc_page_child_free(mc_page_child_t *c) {
  if (c == NULL) return;
  stop_reading(c);
  reap(c, 1);
  if (c->readable) event_free(c->readable);
  if (c->deadline) event_free(c->deadline);
  mc_buf_free(&c->out);
  free(c);
}
