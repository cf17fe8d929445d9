/*
 * lua-shoal.h - what the snlua host and the Lua binding (shoal.core) share:
 * the per-service state. One per Lua service; reached from Lua functions
 * through the state's extra space (lua_getextraspace), never a C global.
 */
#ifndef SHOAL_LUA_SHOAL_H
#define SHOAL_LUA_SHOAL_H

#include <lua.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lua-sched.h"
#include "shoal.h"

struct snlua {
  lua_State *L;                   /* the service's main state */
  struct shoal_context *ctx;      /* the service's context */
  char *args;                     /* launch arguments: "name arg..." */
  size_t mem;                     /* bytes allocated by the Lua state */
  size_t mem_limit;               /* 0: unlimited; over it allocations fail */
  size_t mem_warn;                /* next warning mark */
  int mem_refused;                /* allocations refused so far */
  _Atomic(lua_State *) active;    /* coroutine running now (for interrupts) */
  uint32_t start_source;          /* who sent START (0: the node) */
  int start_session;              /* session to answer when started */
  /* the message being dispatched, read by the protected dispatcher */
  int msg_type;
  int msg_session;
  uint32_t msg_source;
  const void *msg_data;
  size_t msg_size;
  uint64_t msg_started;           /* node time the current message began */
  uint64_t stuck_ms;              /* the monitor's threshold (config) */
  atomic_int interrupts;          /* interrupts delivered to this message */
  atomic_int interrupt_request;   /* an interrupt asked for (any thread), taken on the service's */
  _Atomic(pthread_t) worker;      /* thread running the current message, signalled to interrupt it */
  int killing;                    /* the interrupt hook suspended a coroutine for good */
  struct sched sched;             /* the coroutine scheduler (lua-sched.c) */
};

/* Settings every Lua service reads at start, read from the env once. */
struct shoal_lua_config {
  size_t memlimit;          /* memlimit */
  uint64_t stuck_ms;        /* monitor_stuck_ms */
  uint32_t call_timeout;    /* call_timeout (ms) */
  uint32_t call_slow_ms;    /* call_slow_ms (ms, 0: off) */
  int lualib_debuginfo;     /* keep line info in cached library bytecode */
  const char *lualib;       /* package.path */
  const char *lua_cpath;    /* package.cpath (may be NULL) */
  const char *luaservice;   /* where service files are found */
};
const struct shoal_lua_config *shoal_lua_config(void);
/* Resolves name on a ';'-separated '?' path list, remembering the answer
 * (service files and modules are looked up once per process, not once per
 * service start). Returns 1 and writes the file name to out, or 0. */
int shoal_lua_findfile(const char *pathlist, const char *name, char *out, size_t outlen);

/* The service is kept in the state's extra space (copied into every
 * coroutine), so the C functions are light functions: registering them
 * costs no allocation in each of the thousands of Lua states. */
#define SERVICE(L) (*(struct snlua **)lua_getextraspace(L))

/* A handle (integer) or a name (string) at idx -> handle; 0 when the name
 * is unknown. Raises on other values. */
uint32_t shoal_lua_check_dest(lua_State *L, int idx);
/* Pushes why a send to dest failed with r: the error text, naming the
 * node when it is another node that cannot be reached. */
void shoal_lua_push_send_error(lua_State *L, uint32_t dest, int r);
/* Message handler for lua_pcall: adds a traceback to string errors and
 * passes other error values through. */
int shoal_lua_traceback(lua_State *L);
/* The string at idx (raises if it is not one) copied into a buffer of the
 * runtime's allocator (shoal_malloc; at least 1 byte), for a message or a
 * socket write to own; its length goes to *sz. */
void *shoal_lua_copystring(lua_State *L, int idx, size_t *sz);

/* shoal.socketdriver (lua-socket.c). */
int luaopen_shoal_socketdriver(lua_State *L);
/* shoal.crypto (lua-crypto.c, docs/crypto.md). */
int luaopen_shoal_crypto(lua_State *L);
/* shoal.aoi (lua-aoi.c, docs/aoi.md). */
int luaopen_shoal_aoi(lua_State *L);
int luaopen_shoal_proc(lua_State *L);

/* Stores l in L's extra space; registers shoal.core in package.preload. */
void shoal_lua_open(lua_State *L, struct snlua *l);
/* Loads a Lua file through the process-wide bytecode cache (strip: drop
 * debug info when first caching it). Pushes the chunk and returns LUA_OK,
 * or pushes an error message. */
int shoal_lua_loadfile(lua_State *L, const char *path, int strip);
/* Drops a file (or every file when path is NULL) from the cache. */
void shoal_lua_cache_clear(const char *path);

#endif
