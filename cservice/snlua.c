/*
 * snlua - hosts one Lua service.
 *
 * init creates the Lua state (with a per-service allocator that accounts
 * for and limits memory) and waits for the first message, SYSTEM "START"
 * (optionally followed by a NUL and serialized arguments). On START the
 * service file is loaded from the `luaservice` path and run; it calls
 * shoal.start(). From then on every message goes through one protected
 * call into the scheduler (lualib/src/lua-sched.c).
 *
 * Files are compiled once per process and kept as bytecode (see
 * lua-shoal.c), so starting the ten-thousandth service costs no parsing.
 */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua-shoal.h"
#include "serial.h"

SHOAL_API void *snlua_create(void);
SHOAL_API int snlua_init(struct snlua *l, struct shoal_context *ctx, const char *args);
SHOAL_API void snlua_release(struct snlua *l);
SHOAL_API void snlua_signal(struct snlua *l, int signal);

#define DEFAULT_WARN_MARK (32u * 1024u * 1024u)

/* The Lua allocator: counts every byte, refuses to grow past the limit
 * (Lua then raises "not enough memory" in the code that allocated, which
 * fails that message, not the node), and warns when crossing marks. */
static void *lalloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  struct snlua *l = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    l->mem -= old;
    return NULL;
  }
  if (nsize > old && l->mem_limit && l->mem + (nsize - old) > l->mem_limit) {
    l->mem_refused++;
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (p == NULL) return NULL;
  l->mem = l->mem + nsize - old;
  if (l->mem > l->mem_warn) {
    size_t mark = l->mem_warn;
    l->mem_warn = l->mem_limit && mark < l->mem_limit ? l->mem_limit : mark * 2;
    shoal_log(l->ctx, SHOAL_LOG_WARN, "Lua memory %.1f MB passed the warning mark of %.1f MB%s",
              (double)l->mem / 1048576.0, (double)mark / 1048576.0,
              l->mem_limit ? " (close to the service's memlimit)" : "");
  }
  return p;
}

/* ---- interrupts ----
 *
 * The monitor (and shoal.interrupt) asks from another thread to interrupt
 * the message a service is running. That thread must not call lua_sethook
 * on the service's Lua state: lua_sethook walks the call frames of the
 * coroutine, which the running thread changes under it, and the coroutine
 * may have finished and been collected in between (a write into freed
 * memory). Lua allows lua_sethook in a signal handler on the thread that
 * runs the state (lua.c does it on SIGINT): snlua_signal records the
 * request and sends INTERRUPT_SIGNAL to the worker running the service;
 * the handler, on that worker, hooks the coroutine running there and then.
 *
 * Under ThreadSanitizer a signal is held until the thread enters the
 * runtime, which a loop in (uninstrumented) Lua code never does; there the
 * service carries a count hook instead that polls the request every
 * POLL_EVERY instructions. Both ways, only the service's own thread touches
 * its Lua state. */
#if defined(__SANITIZE_THREAD__)
#define INTERRUPT_BY_POLLING 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define INTERRUPT_BY_POLLING 1
#endif
#endif
#define INTERRUPT_SIGNAL SIGURG /* ignored by default; sockets send it only with F_SETOWN */
#define POLL_EVERY 1000

/* The service whose message this thread runs now, for the signal handler.
 * initial-exec: no lazy TLS allocation (malloc) inside a signal handler. */
static _Thread_local struct snlua *volatile running_here __attribute__((tls_model("initial-exec")));

/* Raises the interrupt inside the running Lua code (on the service's thread). */
static void interrupt_now(lua_State *L, struct snlua *l) {
  /* The request may come just after the slow message ended; do not fail a
   * fresh message for it. */
  if (l->stuck_ms && shoal_now() - l->msg_started < l->stuck_ms / 2) return;
  /* First an error the code can see. If the message is still stuck at the
   * next report (the error was caught and the loop went on), suspend the
   * coroutine for good: lresume then fails the request (see lua-shoal.c). */
  if (atomic_fetch_add(&l->interrupts, 1) >= 1 && lua_isyieldable(L)) {
    l->killing = 1;
    lua_yield(L, 0);
    return;
  }
  luaL_error(L, "interrupted: the service was stuck in one message");
}

#ifdef INTERRUPT_BY_POLLING
static void poll_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  struct snlua *l = SERVICE(L);
  if (l && atomic_exchange_explicit(&l->interrupt_request, 0, memory_order_relaxed)) interrupt_now(L, l);
}
#else
/* Set by the signal handler: fires at the next instruction, once. */
static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  struct snlua *l = SERVICE(L);
  if (l) interrupt_now(L, l);
}

/* Async-signal-safe: a thread-local read, atomics and lua_sethook. */
static void on_interrupt_signal(int sig) {
  (void)sig;
  int saved = errno;
  struct snlua *l = running_here;
  if (l && atomic_exchange_explicit(&l->interrupt_request, 0, memory_order_relaxed)) {
    lua_State *co = atomic_load_explicit(&l->active, memory_order_relaxed);
    lua_sethook(co ? co : l->L, interrupt_hook, LUA_MASKCOUNT, 1);
  }
  errno = saved;
}

static void install_interrupt_signal(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_interrupt_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(INTERRUPT_SIGNAL, &sa, NULL) != 0) abort(); /* cannot fail for a valid signal */
}
#endif

/* Marks l as running a message on this thread (clears stale requests). */
static void message_begins(struct snlua *l) {
  atomic_store_explicit(&l->interrupts, 0, memory_order_relaxed);
  atomic_store_explicit(&l->interrupt_request, 0, memory_order_relaxed);
  atomic_store_explicit(&l->worker, pthread_self(), memory_order_relaxed);
  running_here = l;
}

static void message_ends(void) { running_here = NULL; }

/* May run on any thread (the monitor's, another service's). */
void snlua_signal(struct snlua *l, int signal) {
  if (signal == SHOAL_SIGNAL_INTERRUPT && l->L) {
    atomic_store_explicit(&l->interrupt_request, 1, memory_order_relaxed);
#ifndef INTERRUPT_BY_POLLING
    /* A stale thread (the message ended, the service moved) finds another
     * service or none running there and does nothing; the monitor asks
     * again at its next report if the service is still stuck. */
    pthread_t worker = atomic_load_explicit(&l->worker, memory_order_relaxed);
    if (worker) pthread_kill(worker, INTERRUPT_SIGNAL);
#endif
  } else if (signal == SHOAL_SIGNAL_STATS) {
    shoal_log(l->ctx, SHOAL_LOG_INFO, "snlua stats: lua memory %zu bytes, limit %zu, refused %d", l->mem,
              l->mem_limit, l->mem_refused);
  }
}

/* For the deserializer: decoding in a service stays under its memlimit. */
static size_t lalloc_memlimit(void *ud) { return ((struct snlua *)ud)->mem_limit; }

void *snlua_create(void) {
  /* Idempotent; here rather than in a constructor so that nothing runs at
   * dlopen time. */
  shoal_serial_set_memlimit_fn(lalloc, lalloc_memlimit);
#ifndef INTERRUPT_BY_POLLING
  static pthread_once_t signal_once = PTHREAD_ONCE_INIT;
  pthread_once(&signal_once, install_interrupt_signal);
#endif
  struct snlua *l = calloc(1, sizeof(*l));
  if (!l) abort();
  const struct shoal_lua_config *cfg = shoal_lua_config();
  l->mem_limit = cfg->memlimit;
  /* Warn at 80% of the limit, or at 32 MB (doubling) without one. */
  l->mem_warn = l->mem_limit ? l->mem_limit / 10 * 8 : DEFAULT_WARN_MARK;
  l->stuck_ms = cfg->stuck_ms;
  atomic_init(&l->active, NULL);
  atomic_init(&l->interrupts, 0);
  atomic_init(&l->interrupt_request, 0);
  atomic_init(&l->worker, (pthread_t)0);
  return l;
}

void snlua_release(struct snlua *l) {
  if (l->L) {
    lua_State *L = l->L;
    /* Fail the callers still waiting on this service. */
    if (l->sched.started || l->sched.nfifo) {
      lua_pushcfunction(L, shoal_sched_release);
      if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
        shoal_log(l->ctx, SHOAL_LOG_ERROR, "release: %s", lua_tostring(L, -1));
        lua_pop(L, 1);
      }
    }
    lua_close(L);
    shoal_sched_free(l);
  }
  free(l->args);
  free(l);
}

/* Why a service name would leave the luaservice path's directories (NULL
 * when it stays inside): an absolute path, or a '.', '..' or empty part
 * between slashes. The console's parser refuses the same names early
 * (lualib/shoal/console.lua); this is the check every caller goes through. */
static const char *path_escapes(const char *name) {
  if (name[0] == '/') return "an absolute path is not allowed";
  for (const char *part = name;;) {
    const char *slash = strchr(part, '/');
    size_t n = slash ? (size_t)(slash - part) : strlen(part);
    if (n == 0) return "an empty part between slashes";
    if ((n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.')) return "no '.' or '..' parts";
    if (slash == NULL) return NULL;
    part = slash + 1;
  }
}

static int lua_cb(struct shoal_context *ctx, void *ud, int type, int session, uint32_t source,
                  const void *msg, size_t sz) {
  struct snlua *l = ud;
  lua_State *L = l->L;
  l->msg_type = type;
  l->msg_session = session;
  l->msg_source = source;
  l->msg_data = msg;
  l->msg_size = sz;
  l->msg_started = shoal_now();
  message_begins(l);
  lua_pushcfunction(L, shoal_lua_traceback);
  lua_pushcfunction(L, shoal_sched_dispatch);
  int r = lua_pcall(L, 0, 0, -2);
  message_ends();
  if (r != LUA_OK) {
    const char *err = luaL_tolstring(L, -1, NULL);
    shoal_log(ctx, SHOAL_LOG_ERROR, "message from :%08x (type %d, session %d) failed: %s", source, type,
              session, err);
    /* The dispatcher never answered: do it here so the caller does not
     * wait. It failed on the message itself (a payload that does not
     * unpack) or for want of memory; the service lives on. */
    int code = r == LUA_ERRMEM ? SHOAL_ENOMEM : SHOAL_EINVAL;
    if (shoal_is_request(type, session)) shoal_reply_error(ctx, source, session, code, err, strlen(err));
  }
  lua_settop(L, 0);
  shoal_set_memory(ctx, l->mem);
  return 0;
}

/* The libraries every service needs are opened now; io, os, utf8, math
 * and debug are opened on first use of their global name (or by require).
 * An idle service then does not pay ~5 KB for functions it never calls. */
static const luaL_Reg eager_libs[] = {
    {LUA_GNAME, luaopen_base},        {LUA_LOADLIBNAME, luaopen_package},
    {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
    {LUA_STRLIBNAME, luaopen_string}, {NULL, NULL},
};
static const luaL_Reg lazy_libs[] = {
    {LUA_IOLIBNAME, luaopen_io},     {LUA_OSLIBNAME, luaopen_os},
    {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_DBLIBNAME, luaopen_debug},
    {LUA_MATHLIBNAME, luaopen_math}, {NULL, NULL},
};

/* __index of _G: opens a lazy library the first time its name is read. */
static int lazy_global(lua_State *L) {
  const char *name = lua_tostring(L, 2);
  for (const luaL_Reg *lib = lazy_libs; name && lib->name; lib++) {
    if (strcmp(lib->name, name) == 0) {
      luaL_requiref(L, lib->name, lib->func, 1);
      return 1;
    }
  }
  return 0;
}

static void open_libs(lua_State *L) {
  for (const luaL_Reg *lib = eager_libs; lib->name; lib++) {
    luaL_requiref(L, lib->name, lib->func, 1);
    lua_pop(L, 1);
  }
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const luaL_Reg *lib = lazy_libs; lib->name; lib++) {
    lua_pushcfunction(L, lib->func);
    lua_setfield(L, -2, lib->name);
  }
  lua_pop(L, 1);
  lua_pushglobaltable(L);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, lazy_global);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}

/* Sets package paths, opens the libraries, loads and runs the service file.
 * Runs protected; arguments come from the START message. */
static int start_protected(lua_State *L) {
  struct snlua *l = lua_touserdata(L, 1);
  lua_settop(L, 0);
  open_libs(L);
  shoal_lua_open(L, l);
  lua_getglobal(L, "package");
  const struct shoal_lua_config *cfg = shoal_lua_config();
  lua_pushstring(L, cfg->lualib);
  lua_setfield(L, -2, "path");
  if (cfg->lua_cpath) {
    lua_pushstring(L, cfg->lua_cpath);
    lua_setfield(L, -2, "cpath");
  }
  lua_pop(L, 1);

  /* args: "name rest..." */
  char name[128];
  const char *sp = strchr(l->args, ' ');
  size_t nlen = sp ? (size_t)(sp - l->args) : strlen(l->args);
  if (nlen == 0 || nlen >= sizeof(name)) return luaL_error(L, "bad service name '%s'", l->args);
  memcpy(name, l->args, nlen);
  name[nlen] = '\0';
  const char *why = path_escapes(name);
  if (why) return luaL_error(L, "bad service name '%s': %s (a service is found on the luaservice path)", name, why);
  lua_pushstring(L, name);
  lua_setglobal(L, "SERVICE_NAME");
  char file[1024];
  const char *path = cfg->luaservice;
  if (!shoal_lua_findfile(path, name, file, sizeof(file)))
    return luaL_error(L, "service '%s' not found in luaservice path '%s'", name, path);
  lua_pushstring(L, file);
  lua_setglobal(L, "SERVICE_PATH");
  if (shoal_lua_loadfile(L, file, 0) != LUA_OK) return lua_error(L);
  int nargs = 0;
  if (sp && sp[1]) {
    lua_pushstring(L, sp + 1);
    nargs++;
  }
  const size_t cmd = sizeof(SHOAL_SYSTEM_START); /* the word and its NUL, then the arguments */
  if (l->msg_size > cmd) nargs += shoal_serial_unpack(L, (const char *)l->msg_data + cmd, l->msg_size - cmd);
  lua_call(L, nargs, 0);
  if (!l->sched.started) return luaL_error(L, "service '%s' did not call shoal.start", name);
  return 0;
}

static int first_cb(struct shoal_context *ctx, void *ud, int type, int session, uint32_t source,
                    const void *msg, size_t sz) {
  struct snlua *l = ud;
  if (type == SHOAL_PTYPE_SYSTEM && shoal_system_is(msg, sz, SHOAL_SYSTEM_EXIT)) {
    /* Shutdown reached a service that was not started yet: nothing to run,
     * just go (its START request is answered with an error). */
    shoal_exit(ctx);
    return 0;
  }
  if (type != SHOAL_PTYPE_SYSTEM || !shoal_system_is(msg, sz, SHOAL_SYSTEM_START)) {
    shoal_log(ctx, SHOAL_LOG_WARN, "message type %d from :%08x before START: dropped", type, source);
    static const char why[] = "service is not started yet";
    if (shoal_is_request(type, session)) shoal_reply_error(ctx, source, session, SHOAL_EINIT, why, sizeof(why) - 1);
    return 0;
  }
  lua_State *L = l->L;
  l->start_source = source;
  l->start_session = session;
  l->msg_data = msg;
  l->msg_size = sz;
  l->msg_started = shoal_now();
  shoal_callback(ctx, l, lua_cb); /* before the file runs: it may call shoal.start */
  lua_pushcfunction(L, shoal_lua_traceback);
  lua_pushcfunction(L, start_protected);
  lua_pushlightuserdata(L, l);
  message_begins(l);
  int r = lua_pcall(L, 1, 0, -3);
  message_ends();
  if (r != LUA_OK) {
    const char *err = luaL_tolstring(L, -1, NULL);
    shoal_log(ctx, SHOAL_LOG_ERROR, "service '%s' failed to start: %s", l->args, err);
    if (session > 0 && source) {
      shoal_reply_error(ctx, source, session, SHOAL_EINIT, err, strlen(err));
    } else if (source == 0) {
      shoal_abort(1); /* the node's own start service failed */
    }
    shoal_exit(ctx);
  }
  lua_settop(L, 0);
  /* Loading leaves garbage behind (temporary strings, the loader's
   * buffers); one young collection now keeps idle services small. */
  lua_gc(L, LUA_GCSTEP, 0);
  shoal_set_memory(ctx, l->mem);
  return 0;
}

int snlua_init(struct snlua *l, struct shoal_context *ctx, const char *args) {
  l->ctx = ctx;
  l->args = strdup(args && args[0] ? args : "main");
  shoal_set_label(ctx, l->args);
  l->L = lua_newstate(lalloc, l);
  if (l->L == NULL) return SHOAL_ENOMEM;
  SERVICE(l->L) = l; /* the hooks read it; shoal_lua_open sets it again */
#ifdef INTERRUPT_BY_POLLING
  lua_sethook(l->L, poll_hook, LUA_MASKCOUNT, POLL_EVERY); /* coroutines inherit it */
#endif
  /* Generational GC suits services: most garbage is per-message and young. */
  lua_gc(l->L, LUA_GCGEN, 0, 0);
  shoal_callback(ctx, l, first_cb);
  return 0;
}
