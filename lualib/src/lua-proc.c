/*
 * lua-proc.c - shoal.proc: child processes for the dsagent
 * (lualib/ds/agent.lua, docs/dsagent.md). Nothing here blocks.
 *
 *   proc.spawn(path, argv, env) -> pid, ctl_id, ds_id | nil, err
 *       starts path (the keeper, ds/dskeep.c) with argv (argv[1] is its
 *       name) and exactly the environment env ({"K=V", ...}); its fd 3 and
 *       fd 4 are the far ends of two AF_UNIX socketpairs whose near ends
 *       are adopted into the socket server (paused: socket.start them)
 *   proc.kill(pid, sig) -> true | false, err    pid < -1: the group -pid; sig: a number, "TERM", "KILL"
 *   proc.reap(pid) -> nil (running) | "exit", code | "signal", sig | false, err
 *   proc.executable(path) -> true | nil, why    (a regular file we may execute)
 *   proc.stat(pid) -> cpu_ms, rss_bytes | nil  (from /proc/PID/stat)
 *   proc.pid() -> this process's pid
 *   proc.mkdir(path) -> true | nil, err         (one level; an existing one is fine)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <lua.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lua-shoal.h"
#include "shoal.h"

#define MAX_ARGS 256

static int fail_errno(lua_State *L, const char *what) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", what, strerror(errno));
  return 2;
}

/* A NULL-terminated array of the strings of table idx (at most MAX_ARGS). */
static const char **strings(lua_State *L, int idx, const char **out, const char *what) {
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_Integer n = luaL_len(L, idx);
  if (n > MAX_ARGS) luaL_error(L, "%s: more than %d entries", what, MAX_ARGS);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, idx, i);
    out[i - 1] = lua_tostring(L, -1);
    if (out[i - 1] == NULL) luaL_error(L, "%s[%d] is not a string", what, (int)i);
    lua_pop(L, 1); /* the table keeps the string alive */
  }
  out[n] = NULL;
  return out;
}

static int lspawn(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *argv[MAX_ARGS + 1], *envp[MAX_ARGS + 1];
  strings(L, 2, argv, "argv");
  strings(L, 3, envp, "env");
  if (argv[0] == NULL) return luaL_error(L, "argv is empty");
  int ctl[2], ds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0) return fail_errno(L, "socketpair");
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ds) != 0) {
    close(ctl[0]);
    close(ctl[1]);
    return fail_errno(L, "socketpair");
  }
  /* The child's ends above fd 4, so the dup2s to 3 and 4 cannot clobber each other. */
  int c3 = fcntl(ctl[1], F_DUPFD_CLOEXEC, 10), c4 = fcntl(ds[1], F_DUPFD_CLOEXEC, 10);
  close(ctl[1]);
  close(ds[1]);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawn_file_actions_adddup2(&fa, c3, 3);
  posix_spawn_file_actions_adddup2(&fa, c4, 4);
  sigset_t none, def;
  sigemptyset(&none);
  sigemptyset(&def);
  int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2, SIGQUIT};
  for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) sigaddset(&def, sigs[i]);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &def);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int r = (c3 < 0 || c4 < 0) ? EMFILE : posix_spawn(&pid, path, &fa, &at, (char **)argv, (char **)envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (c3 >= 0) close(c3);
  if (c4 >= 0) close(c4);
  if (r != 0) {
    close(ctl[0]);
    close(ds[0]);
    errno = r;
    return fail_errno(L, path);
  }
  struct shoal_context *ctx = SERVICE(L)->ctx;
  int cid = shoal_socket_adopt(ctx, ctl[0], "keeper");
  int did = shoal_socket_adopt(ctx, ds[0], "ds");
  if (cid < 0 || did < 0) { /* the keeper sees EOF and ends its tree */
    if (cid >= 0) shoal_socket_close(ctx, cid);
    if (did >= 0) shoal_socket_close(ctx, did);
    kill(pid, SIGKILL);
    lua_pushnil(L);
    lua_pushstring(L, shoal_strerror(cid < 0 ? cid : did));
    return 2;
  }
  lua_pushinteger(L, pid);
  lua_pushinteger(L, cid);
  lua_pushinteger(L, did);
  return 3;
}

static int lkill(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  int sig;
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *s = lua_tostring(L, 2);
    sig = strcmp(s, "TERM") == 0 ? SIGTERM : strcmp(s, "KILL") == 0 ? SIGKILL : strcmp(s, "STOP") == 0 ? SIGSTOP
          : strcmp(s, "CONT") == 0 ? SIGCONT : -1;
    if (sig < 0) return luaL_argerror(L, 2, "signal must be TERM, KILL, STOP, CONT or a number");
  } else {
    sig = (int)luaL_checkinteger(L, 2);
  }
  if (pid >= -1 && pid <= 1) return luaL_argerror(L, 1, "pid must be > 1 (a process) or < -1 (a group)");
  if (kill((pid_t)pid, sig) != 0) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int lreap(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  if (pid <= 1) return luaL_argerror(L, 1, "pid must be > 1");
  int st;
  pid_t p = waitpid((pid_t)pid, &st, WNOHANG);
  if (p == 0) return 0;
  if (p < 0) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  if (WIFEXITED(st)) {
    lua_pushliteral(L, "exit");
    lua_pushinteger(L, WEXITSTATUS(st));
  } else {
    lua_pushliteral(L, "signal");
    lua_pushinteger(L, WTERMSIG(st));
  }
  return 2;
}

static int lexecutable(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  const char *why = NULL;
  if (path[0] != '/') why = "is not an absolute path";
  else if (stat(path, &st) != 0) why = errno == ENOENT ? "does not exist" : strerror(errno);
  else if (!S_ISREG(st.st_mode)) why = "is not a regular file";
  else if (access(path, X_OK) != 0) why = "is not executable";
  if (why) {
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int lstat_(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  unsigned long ut = 0, stime = 0;
  long rss = 0;
  /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
   * cutime cstime priority nice threads itrealvalue starttime vsize rss(24) */
  if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %*u %*u %ld",
                          &ut, &stime, &rss) != 3)
    return 0;
  /* per call, not cached in statics: two dsagents may ask at once on two workers */
  long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  lua_pushinteger(L, (lua_Integer)((ut + stime) * 1000 / (unsigned long)tck));
  lua_pushinteger(L, (lua_Integer)rss * page);
  return 2;
}

static int lpid(lua_State *L) {
  lua_pushinteger(L, getpid());
  return 1;
}

static int lmkdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (mkdir(path, 0755) != 0 && errno != EEXIST) return fail_errno(L, path);
  lua_pushboolean(L, 1);
  return 1;
}

int luaopen_shoal_proc(lua_State *L) {
  static const luaL_Reg funcs[] = {{"spawn", lspawn}, {"kill", lkill}, {"reap", lreap},
                                   {"executable", lexecutable}, {"stat", lstat_}, {"mkdir", lmkdir}, {"pid", lpid}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
