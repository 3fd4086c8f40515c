/* Child processes for `mailcast run --workers N`: fork, wait, signal and
 * leave. A worker is put in its own process group, so a Ctrl-C at the
 * terminal reaches only the parent, which passes each one on (the
 * workers count interrupts exactly as the parent does); and a worker
 * whose parent dies is interrupted, so it pauses instead of sending on
 * unattended. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "binding.h"


/* fork() -> pid in the parent, 0 in the child | fail, message */
static int l_fork(lua_State *L) {
  fflush(NULL);   /* nothing buffered is written twice */
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "fork: %s", strerror(errno));
    return 2;
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGINT);
    if (getppid() != parent) raise(SIGINT);   /* the parent died before prctl */
  }
  lua_pushinteger(L, pid);
  return 1;
}


/* wait(pid [, nohang]) -> nil while it runs (nohang); else its exit code,
 * or 128 + the signal that ended it */
static int l_wait(lua_State *L) {
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  int status;
  pid_t r;
  do r = waitpid(pid, &status, lua_toboolean(L, 2) ? WNOHANG : 0);
  while (r < 0 && errno == EINTR);
  if (r == 0) return 0;
  if (r < 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "wait: %s", strerror(errno));
    return 2;
  }
  lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return 1;
}


/* kill(pid, "INT" | "TERM" | "KILL") */
static int l_kill(lua_State *L) {
  static const char *const names[] = {"INT", "TERM", "KILL", NULL};
  static const int sigs[] = {SIGINT, SIGTERM, SIGKILL};
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  luaL_argcheck(L, pid > 0, 1, "a process id");
  kill(pid, sigs[luaL_checkoption(L, 2, NULL, names)]);
  return 0;
}


/* exit_now(code): ends a worker without closing what it inherited from
 * its parent (the parent's objects are the parent's to close). */
static int l_exit_now(lua_State *L) {
  int code = (int)luaL_optinteger(L, 1, 0);
  fflush(NULL);
  _exit(code);
  return 0;
}


void mc_l_open_proc(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"fork", l_fork}, {"wait", l_wait}, {"kill", l_kill}, {"exit_now", l_exit_now}, {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
}
