/*
 * lua-shoal.c - shoal.core, the C side of lualib/shoal.lua, plus the
 * process-wide bytecode cache used to load Lua files.
 *
 * Every function finds the service's struct snlua in the state's extra space.
 * Conventions: functions that can fail for reasons the caller should test
 * (dead service, unknown name) return false/nil plus an error string;
 * programmer errors (bad argument types) raise.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "lua-shoal.h"
#include "lua-sched.h"
#include "serial.h"


/* ---- bytecode cache ---- */

/* FNV-1a: caches compare this first and strcmp only on a match, since
 * every service start looks up its file and its modules. */
static uint64_t hash_str(uint64_t h, const char *s) {
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211u;
  return h;
}
#define HASH_SEED 14695981039346656037u

struct cached_file {
  uint64_t hash; /* hash_str of path */
  char *path;   /* file path, owned */
  char *code;   /* bytecode (with debug info), owned */
  size_t size;  /* bytecode bytes */
};

static struct {
  pthread_mutex_t lock;
  struct cached_file *files;
  int n;
  int cap;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct dump_buf {
  char *p;
  size_t n;
  size_t cap;
};

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  struct dump_buf *b = ud;
  if (b->n + sz > b->cap) {
    size_t ncap = b->cap ? b->cap * 2 : 4096;
    while (ncap < b->n + sz) ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np) return 1;
    b->p = np;
    b->cap = ncap;
  }
  memcpy(b->p + b->n, p, sz);
  b->n += sz;
  return 0;
}

int shoal_lua_loadfile(lua_State *L, const char *path, int strip) {
  char chunkname[1100];
  snprintf(chunkname, sizeof(chunkname), "@%s", path);
  uint64_t h = hash_str(HASH_SEED, path);
  pthread_mutex_lock(&cache.lock);
  for (int i = 0; i < cache.n; i++) {
    if (cache.files[i].hash == h && strcmp(cache.files[i].path, path) == 0) {
      /* Loading under the lock keeps the bytes alive; it is short. */
      int r = luaL_loadbufferx(L, cache.files[i].code, cache.files[i].size, chunkname, "b");
      pthread_mutex_unlock(&cache.lock);
      return r;
    }
  }
  pthread_mutex_unlock(&cache.lock);
  int r = luaL_loadfilex(L, path, "t");
  if (r != LUA_OK) return r;
  struct dump_buf b = {NULL, 0, 0};
  if (lua_dump(L, dump_writer, &b, strip) != 0 || b.n == 0) {
    free(b.p);
    return LUA_OK; /* the chunk loaded; it just is not cached */
  }
  pthread_mutex_lock(&cache.lock);
  if (cache.n == cache.cap) {
    cache.cap = cache.cap ? cache.cap * 2 : 32;
    cache.files = realloc(cache.files, sizeof(struct cached_file) * (size_t)cache.cap);
    if (!cache.files) abort();
  }
  cache.files[cache.n].hash = h;
  cache.files[cache.n].path = strdup(path);
  cache.files[cache.n].code = b.p;
  cache.files[cache.n].size = b.n;
  cache.n++;
  pthread_mutex_unlock(&cache.lock);
  return LUA_OK;
}

void shoal_lua_cache_clear(const char *path) {
  pthread_mutex_lock(&cache.lock);
  int j = 0;
  for (int i = 0; i < cache.n; i++) {
    if (path == NULL || strcmp(cache.files[i].path, path) == 0) {
      free(cache.files[i].path);
      free(cache.files[i].code);
    } else {
      cache.files[j++] = cache.files[i];
    }
  }
  cache.n = j;
  pthread_mutex_unlock(&cache.lock);
}

/* ---- settings and file lookups, once per process ---- */

static struct shoal_lua_config config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static void load_config(void) {
  config.memlimit = (size_t)shoal_config_int("memlimit");
  config.stuck_ms = (uint64_t)shoal_config_int("monitor_stuck_ms");
  config.call_timeout = (uint32_t)shoal_config_int("call_timeout");
  config.call_slow_ms = (uint32_t)shoal_config_int("call_slow_ms");
  config.lualib_debuginfo = shoal_config_bool("lualib_debuginfo");
  config.lualib = shoal_config_string("lualib");
  config.lua_cpath = shoal_config_string("lua_cpath");
  config.luaservice = shoal_config_string("luaservice");
}

const struct shoal_lua_config *shoal_lua_config(void) {
  pthread_once(&config_once, load_config);
  return &config;
}

struct found_file {
  uint64_t hash; /* of pathlist + '\n' + name */
  char *key;     /* pathlist + '\n' + name */
  char *file;    /* resolved file */
};

static struct {
  pthread_mutex_t lock;
  struct found_file *items;
  int n;
  int cap;
} found = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int search_path(const char *pathlist, const char *name, char *out, size_t outlen) {
  for (const char *p = pathlist; (p = shoal_path_next(p, name, out, outlen)) != NULL;) {
    FILE *f = fopen(out, "r");
    if (f) {
      fclose(f);
      return 1;
    }
  }
  return 0;
}

/* Does key equal pathlist + '\n' + name? */
static int key_matches(const char *key, const char *pathlist, const char *name) {
  size_t n = strlen(pathlist);
  return strncmp(key, pathlist, n) == 0 && key[n] == '\n' && strcmp(key + n + 1, name) == 0;
}

int shoal_lua_findfile(const char *pathlist, const char *name, char *out, size_t outlen) {
  uint64_t h = hash_str(hash_str(hash_str(HASH_SEED, pathlist), "\n"), name);
  pthread_mutex_lock(&found.lock);
  for (int i = 0; i < found.n; i++) {
    if (found.items[i].hash == h && key_matches(found.items[i].key, pathlist, name)) {
      snprintf(out, outlen, "%s", found.items[i].file);
      pthread_mutex_unlock(&found.lock);
      return 1;
    }
  }
  pthread_mutex_unlock(&found.lock);
  size_t klen = strlen(pathlist) + strlen(name) + 2;
  char *key = malloc(klen);
  if (!key) return 0;
  snprintf(key, klen, "%s\n%s", pathlist, name);
  if (!search_path(pathlist, name, out, outlen)) {
    free(key); /* not remembered: the file may appear later */
    return 0;
  }
  pthread_mutex_lock(&found.lock);
  if (found.n == found.cap) {
    found.cap = found.cap ? found.cap * 2 : 32;
    found.items = realloc(found.items, sizeof(*found.items) * (size_t)found.cap);
    if (!found.items) abort();
  }
  found.items[found.n].hash = h;
  found.items[found.n].key = key;
  found.items[found.n].file = strdup(out);
  found.n++;
  pthread_mutex_unlock(&found.lock);
  return 1;
}

/* package.searchers replacement for Lua files: same path rules, cached. */
static int lsearcher(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  const char *path = lua_tostring(L, -1);
  char modname[256], file[1024];
  snprintf(modname, sizeof(modname), "%s", name);
  for (char *c = modname; *c; c++)
    if (*c == '.') *c = '/';
  if (path == NULL || !shoal_lua_findfile(path, modname, file, sizeof(file))) {
    lua_pushfstring(L, "no file for module '%s' in package.path '%s'", name, path ? path : "");
    return 1;
  }
  lua_pushstring(L, file);
  /* Library code is shared by every service: keep one compact copy of it
   * per state (no line info; errors still point at the caller's line). */
  int strip = !shoal_lua_config()->lualib_debuginfo;
  if (shoal_lua_loadfile(L, file, strip) != LUA_OK)
    return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file, lua_tostring(L, -1));
  lua_pushstring(L, file);
  return 2;
}

/* ---- messaging ---- */

uint32_t shoal_lua_check_dest(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TSTRING) return shoal_query(lua_tostring(L, idx));
  lua_Integer h = luaL_checkinteger(L, idx);
  if (h < 0 || h > 0xffffffffLL) luaL_argerror(L, idx, "handle out of range");
  return (uint32_t)h;
}

void *shoal_lua_copystring(lua_State *L, int idx, size_t *sz) {
  const char *s = luaL_checklstring(L, idx, sz);
  void *data = shoal_malloc(*sz ? *sz : 1);
  memcpy(data, s, *sz);
  return data;
}

void shoal_lua_push_send_error(lua_State *L, uint32_t dest, int r) {
  if (r == SHOAL_ENODEDOWN) lua_pushfstring(L, "node %d is unreachable", shoal_handle_node_of(dest));
  else lua_pushstring(L, shoal_strerror(r));
}

static int send_result(lua_State *L, uint32_t dest, int r) {
  if (r >= 0) {
    lua_pushinteger(L, r);
    return 1;
  }
  lua_pushboolean(L, 0);
  shoal_lua_push_send_error(L, dest, r);
  return 2;
}

/* A session: -1 (SHOAL_SESSION_ALLOC) allocates one; negative values
 * below it are caller-chosen (a gate's -conn), 0 is none. */
static int session_arg(lua_State *L, int idx) {
  lua_Integer s = luaL_checkinteger(L, idx);
  if (s < INT32_MIN || s > INT32_MAX) luaL_argerror(L, idx, "session out of range");
  return (int)s;
}

/* send(dest, type, session, ...) -> session | false, err
 * The values are serialized. session -1 allocates a new one. */
/* sendraw(dest, type, session, string | lightuserdata, size) -> session | false, err */
static int lsendraw(lua_State *L) {
  struct snlua *l = SERVICE(L);
  uint32_t dest = shoal_lua_check_dest(L, 1);
  int type = (int)luaL_checkinteger(L, 2);
  int session = session_arg(L, 3);
  void *data = NULL;
  size_t sz = 0;
  if (lua_type(L, 4) == LUA_TLIGHTUSERDATA) {
    data = lua_touserdata(L, 4);
    sz = (size_t)luaL_checkinteger(L, 5);
  } else if (!lua_isnoneornil(L, 4)) {
    data = shoal_lua_copystring(L, 4, &sz);
  }
  if (dest == 0) {
    shoal_free(data);
    return send_result(L, dest, SHOAL_ENOSERVICE);
  }
  return send_result(L, dest, shoal_send(l->ctx, 0, dest, type, session, data, sz));
}

/* sendstart(dest, session, ...) -> session: the START message of a new service */
static int lsendstart(lua_State *L) {
  struct snlua *l = SERVICE(L);
  uint32_t dest = shoal_lua_check_dest(L, 1);
  int session = session_arg(L, 2);
  size_t sz = 0;
  char *packed = shoal_serial_pack(L, 3, &sz);
  const size_t cmd = sizeof(SHOAL_SYSTEM_START); /* the word and its NUL */
  char *data = shoal_malloc(sz + cmd);
  memcpy(data, SHOAL_SYSTEM_START, cmd);
  memcpy(data + cmd, packed, sz);
  shoal_free(packed);
  return send_result(L, dest, shoal_send(l->ctx, 0, dest, SHOAL_PTYPE_SYSTEM, session, data, sz + cmd));
}

/* callback(dispatch, release) installs the dispatcher and the release hook. */
/* resume(co, ...) -> true, ... | false, err. Like coroutine.resume, but
 * records the running coroutine so the monitor can interrupt it. */
static int lresume(lua_State *L) {
  struct snlua *l = SERVICE(L);
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  int status = lua_status(co);
  if (status != LUA_YIELD && (status != LUA_OK || lua_gettop(co) == 0)) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "cannot resume dead coroutine");
    return 2;
  }
  int nargs = lua_gettop(L) - 1;
  if (!lua_checkstack(co, nargs)) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "too many arguments to resume");
    return 2;
  }
  int nres = 0;
  status = shoal_sched_resume(L, l, co, nargs, &nres);
  if (status == LUA_OK || status == LUA_YIELD) {
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      lua_pushboolean(L, 0);
      lua_pushliteral(L, "too many results to resume");
      return 2;
    }
    lua_pushboolean(L, 1);
    lua_xmove(co, L, nres);
    return nres + 1;
  }
  lua_pushboolean(L, 0);
  lua_xmove(co, L, 1);
  return 2;
}

/* The function returned by coroutine.wrap: resumes through lresume so the
 * monitor can interrupt loops inside user coroutines too. */
static int lwrap_call(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  int n = lresume(L);
  int top = lua_gettop(L);
  if (lua_toboolean(L, top - n + 1)) return n - 1;
  /* Propagate the error like Lua's own wrap, with position information. */
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  if (lua_status(co) != LUA_OK && lua_status(co) != LUA_YIELD) lua_resetthread(co);
  if (lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

static int lwrap(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_State *co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  lua_pushcclosure(L, lwrap_call, 1);
  return 1;
}

static int lself(lua_State *L) {
  lua_pushinteger(L, shoal_self(SERVICE(L)->ctx));
  return 1;
}

static int lnow(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)shoal_now());
  return 1;
}

static int lstarttime(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)shoal_starttime());
  return 1;
}

static int lhpc(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushinteger(L, (lua_Integer)ts.tv_sec * 1000000000 + ts.tv_nsec);
  return 1;
}

/* launch(module, args) -> handle | nil, err */
static int llaunch(lua_State *L) {
  const char *mod = luaL_checkstring(L, 1);
  const char *args = luaL_optstring(L, 2, "");
  int64_t h = shoal_launch(SERVICE(L)->ctx, mod, args);
  if (h < 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "cannot launch %s %s: %s", mod, args, shoal_strerror((int)h));
    return 2;
  }
  lua_pushinteger(L, h);
  return 1;
}

static int lkill(lua_State *L) {
  uint32_t h = shoal_lua_check_dest(L, 1);
  int r = h ? shoal_kill(h) : SHOAL_ENOSERVICE;
  if (r != 0) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, shoal_strerror(r));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int labort(lua_State *L) {
  shoal_abort((int)luaL_optinteger(L, 1, 1));
  return 0;
}

/* name(".name" [, handle]) binds a local name (default: this service); raises on failure. */
static int lname(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  uint32_t h = lua_isnoneornil(L, 2) ? shoal_self(SERVICE(L)->ctx) : shoal_lua_check_dest(L, 2);
  int r = shoal_name(name, h);
  if (r != 0)
    return luaL_error(L, "shoal.name %s: %s", name,
                      r == SHOAL_EINVAL ? "a local name starts with '.' and has 1..62 more characters"
                                        : shoal_strerror(r));
  return 0;
}

static int lquery(lua_State *L) {
  uint32_t h = shoal_query(luaL_checkstring(L, 1));
  if (h == 0) lua_pushnil(L);
  else lua_pushinteger(L, h);
  return 1;
}

/* shoal.config(key): a setting of the schema with its type (integer,
 * boolean or string); a key the schema does not have is an error (the
 * game's own keys are read with shoal.getenv). */
static int lconfig(lua_State *L) {
  const char *key = luaL_checkstring(L, 1);
  switch (shoal_config_type(key)) {
    case SHOAL_CONFIG_INT:
      lua_pushinteger(L, (lua_Integer)shoal_config_int(key));
      return 1;
    case SHOAL_CONFIG_BOOL:
      lua_pushboolean(L, shoal_config_bool(key));
      return 1;
    case SHOAL_CONFIG_STRING:
      lua_pushstring(L, shoal_config_string(key));
      return 1;
  }
  return luaL_error(L, "shoal.config: '%s' is not a config key of the schema (core/config_keys.h); "
                    "the game's own keys are read with shoal.getenv", key);
}

static int lgetenv(lua_State *L) {
  const char *v = shoal_getenv(luaL_checkstring(L, 1));
  if (v == NULL) lua_pushnil(L);
  else lua_pushstring(L, v);
  return 1;
}

/* Logs its arguments like print: tostring each, separated by spaces. */
static int log_args(lua_State *L, int level) {
  if (!shoal_log_enabled(level)) return 0;
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, ' ');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  shoal_log_text(SERVICE(L)->ctx, level, s, len); /* all of it: "%.*s" stopped at a NUL */
  return 0;
}

static int lprint(lua_State *L) { return log_args(L, SHOAL_LOG_INFO); }
static int ldebug(lua_State *L) { return log_args(L, SHOAL_LOG_DEBUG); }
static int lwarn(lua_State *L) { return log_args(L, SHOAL_LOG_WARN); }
static int lerror(lua_State *L) { return log_args(L, SHOAL_LOG_ERROR); }

/* loglevel([name]) -> current level name; sets it when a name is given
 * ("debug", "info", "warn", "error"); raises on an unknown name. */
static int lsetloglevel(lua_State *L) {
  static const char *names[] = {
#define LOGLEVEL_NAME(name, value, text) [value] = text,
      SHOAL_LOGLEVEL_LIST(LOGLEVEL_NAME)
#undef LOGLEVEL_NAME
      NULL,
  };
  if (!lua_isnoneornil(L, 1)) shoal_log_setlevel(luaL_checkoption(L, 1, NULL, names));
  int level = shoal_log_getlevel();
  int nlevels = (int)(sizeof(names) / sizeof(names[0])) - 1;
  lua_pushstring(L, level >= 0 && level < nlevels ? names[level] : "?");
  return 1;
}

static int lloglevel(lua_State *L) {
  lua_pushboolean(L, shoal_log_enabled((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* unpack(lightuserdata | string, size) -> values */
static int lunpack(lua_State *L) {
  if (lua_type(L, 1) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    return shoal_serial_unpack(L, s, n);
  }
  if (lua_isnoneornil(L, 1)) return 0;
  void *p = lua_touserdata(L, 1);
  lua_Integer sz = luaL_checkinteger(L, 2);
  return shoal_serial_unpack(L, p, (size_t)sz);
}

static int lpackstring(lua_State *L) {
  size_t sz = 0;
  void *p = shoal_serial_pack(L, 1, &sz);
  lua_pushlstring(L, p, sz);
  shoal_free(p);
  return 1;
}

/* tostring(lightuserdata, size) -> string */
static int ltostring(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (lua_type(L, 1) == LUA_TSTRING) {
    lua_settop(L, 1);
    return 1;
  }
  const char *p = lua_touserdata(L, 1);
  lua_Integer sz = luaL_checkinteger(L, 2);
  lua_pushlstring(L, p ? p : "", (size_t)sz);
  return 1;
}

/* stat(handle?) -> {messages, cpu (s), mqlen, mqpeak, mem, module, label} | nil */
static int lstat(lua_State *L) {
  uint32_t h = lua_isnoneornil(L, 1) ? shoal_self(SERVICE(L)->ctx) : shoal_lua_check_dest(L, 1);
  struct shoal_service_stat st;
  if (h == 0 || shoal_stat(h, &st) != 0) return 0;
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, (lua_Integer)st.messages);
  lua_setfield(L, -2, "messages");
  lua_pushnumber(L, (double)st.cpu_ns / 1e9);
  lua_setfield(L, -2, "cpu");
  lua_pushinteger(L, (lua_Integer)st.mqlen);
  lua_setfield(L, -2, "mqlen");
  lua_pushinteger(L, (lua_Integer)st.mqpeak);
  lua_setfield(L, -2, "mqpeak");
  lua_pushinteger(L, (lua_Integer)st.mem);
  lua_setfield(L, -2, "mem");
  lua_pushstring(L, st.module);
  lua_setfield(L, -2, "module");
  lua_pushstring(L, st.label);
  lua_setfield(L, -2, "label");
  return 1;
}

/* memory() -> bytes used by this Lua state, limit (0: none) */
static int lmemory(lua_State *L) {
  struct snlua *l = SERVICE(L);
  lua_pushinteger(L, (lua_Integer)l->mem);
  lua_pushinteger(L, (lua_Integer)l->mem_limit);
  return 2;
}

static int lsetmemlimit(lua_State *L) {
  struct snlua *l = SERVICE(L);
  lua_Integer n = luaL_checkinteger(L, 1);
  l->mem_limit = n > 0 ? (size_t)n : 0;
  l->mem_warn = l->mem_limit ? l->mem_limit / 10 * 8 : l->mem_warn;
  return 0;
}

/* list() -> array of live handles */
static int llist(lua_State *L) {
  int cap = 1024, n;
  uint32_t *buf = NULL;
  for (;;) {
    buf = shoal_realloc(buf, sizeof(uint32_t) * (size_t)cap);
    n = shoal_list(buf, cap);
    if (n < cap) break;
    cap *= 2; /* services started meanwhile: try a bigger buffer */
  }
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_pushinteger(L, buf[i]);
    lua_rawseti(L, -2, i + 1);
  }
  shoal_free(buf);
  return 1;
}

static int linterrupt(lua_State *L) {
  uint32_t h = shoal_lua_check_dest(L, 1);
  int r = h ? shoal_interrupt(h) : SHOAL_ENOSERVICE;
  lua_pushboolean(L, r == 0);
  return 1;
}

int shoal_lua_traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL && !lua_isnoneornil(L, 1)) {
    lua_settop(L, 1);
    return 1; /* non-string error objects pass through */
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int lcacheclear(lua_State *L) {
  shoal_lua_cache_clear(luaL_optstring(L, 1, NULL));
  return 0;
}

/* ---- errors and handles: the numbers of shoal.h, pushed from C ---- */

/* errname(code) -> "NOSERVICE" for shoal.errors.NOSERVICE, nil for a code
 * that is not a SHOAL_E*. */
static int lerrname(lua_State *L) {
  lua_Integer code = luaL_checkinteger(L, 1);
  switch (code) {
#define ERRNO_NAME(name, value, text) \
  case value: lua_pushliteral(L, #name); return 1;
    SHOAL_ERRNO_LIST(ERRNO_NAME)
#undef ERRNO_NAME
    default: return 0;
  }
}

/* strerror(code) -> "no such service" (shoal_strerror). */
static int lstrerror(lua_State *L) {
  lua_Integer code = luaL_checkinteger(L, 1);
  lua_pushstring(L, code >= INT32_MIN && code <= INT32_MAX ? shoal_strerror((int)code) : "unknown error");
  return 1;
}

static uint32_t check_handle(lua_State *L, int idx) {
  lua_Integer h = luaL_checkinteger(L, idx);
  luaL_argcheck(L, h >= 0 && h <= 0xffffffffLL, idx, "handle out of range");
  return (uint32_t)h;
}

static int check_node(lua_State *L, int idx) {
  lua_Integer n = luaL_checkinteger(L, idx);
  luaL_argcheck(L, n >= 0 && n <= SHOAL_HANDLE_NODE_MAX, idx, "node id out of range");
  return (int)n;
}

/* nodeof(handle) -> the node id the handle lives on */
static int lnodeof(lua_State *L) {
  lua_pushinteger(L, shoal_handle_node_of(check_handle(L, 1)));
  return 1;
}

/* localof(handle) -> its local id on its node */
static int llocalof(lua_State *L) {
  lua_pushinteger(L, shoal_handle_local_of(check_handle(L, 1)));
  return 1;
}

/* makehandle(node, local) -> the handle of local id `local` on node */
static int lmakehandle(lua_State *L) {
  int node = check_node(L, 1);
  lua_Integer local = luaL_checkinteger(L, 2);
  luaL_argcheck(L, local >= 0 && local <= SHOAL_HANDLE_LOCAL_MASK, 2, "local id out of range");
  lua_pushinteger(L, shoal_handle_make(node, (uint32_t)local));
  return 1;
}

/* harbor_of(node) -> the handle of node's harbor (local id 0) */
static int lharbor_of(lua_State *L) {
  lua_pushinteger(L, shoal_handle_make(check_node(L, 1), 0));
  return 1;
}

static void push_constants(lua_State *L) {
#define PUSH_PTYPE(name, value)      \
  lua_pushinteger(L, value);         \
  lua_setfield(L, -2, "PTYPE_" #name);
  SHOAL_PTYPE_LIST(PUSH_PTYPE)
#undef PUSH_PTYPE
#define PUSH_LOGLEVEL(name, value, text) \
  lua_pushinteger(L, value);             \
  lua_setfield(L, -2, "LOG_" #name);
  SHOAL_LOGLEVEL_LIST(PUSH_LOGLEVEL)
#undef PUSH_LOGLEVEL
#define PUSH_SIGNAL(name, value) \
  lua_pushinteger(L, value);     \
  lua_setfield(L, -2, "SIGNAL_" #name);
  SHOAL_SIGNAL_LIST(PUSH_SIGNAL)
#undef PUSH_SIGNAL
  lua_pushliteral(L, SHOAL_SYSTEM_START);
  lua_setfield(L, -2, "SYSTEM_START");
  lua_pushliteral(L, SHOAL_SYSTEM_EXIT);
  lua_setfield(L, -2, "SYSTEM_EXIT");
  lua_pushinteger(L, SHOAL_HANDLE_NODE_SHIFT);
  lua_setfield(L, -2, "HANDLE_NODE_SHIFT");
  lua_pushinteger(L, SHOAL_HANDLE_LOCAL_MASK);
  lua_setfield(L, -2, "HANDLE_LOCAL_MASK");
  lua_pushinteger(L, SHOAL_HANDLE_NODE_MAX);
  lua_setfield(L, -2, "HANDLE_NODE_MAX");
  /* shoal.errors.NOSERVICE == -1 ...: what trycall's code is compared to. */
  lua_createtable(L, 0, 16);
#define PUSH_ERRNO(name, value, text) \
  lua_pushinteger(L, value);          \
  lua_setfield(L, -2, #name);
  SHOAL_ERRNO_LIST(PUSH_ERRNO)
#undef PUSH_ERRNO
  lua_setfield(L, -2, "errors");
}

/* shoal.core: what every service needs to start and to exchange messages.
 * Registering a function costs each Lua state a table slot and its name
 * string, so the rest is in shoal.coreextra, which shoal.lua loads on the
 * first use of a name the table lacks. */
static int luaopen_shoal_core(lua_State *L) {
  luaL_Reg funcs[] = {
      {"sendraw", lsendraw}, {"sendstart", lsendstart}, {"self", lself},
      {"now", lnow},         {"launchservice", llaunch}, {"kill", lkill},
      {"abort", labort},     {"print", lprint},         {"name", lname},
      {"getenv", lgetenv},   {"config", lconfig},   {"unpack", lunpack},       {"traceback", shoal_lua_traceback},
      {NULL, NULL},
  };
  lua_createtable(L, 0, 32);
  luaL_setfuncs(L, funcs, 0);
  shoal_sched_register(L);
  lua_pushinteger(L, SHOAL_SESSION_ALLOC);
  lua_setfield(L, -2, "SESSION_ALLOC");
  return 1;
}

/* shoal.coreextra: the rest of the C API (stats, logging levels, names,
 * buffers, constants). */
static int luaopen_shoal_coreextra(lua_State *L) {
  luaL_Reg funcs[] = {
      {"starttime", lstarttime}, {"hpc", lhpc},           {"log", lprint},
      {"info", lprint},          {"debug", ldebug},       {"warn", lwarn},
      {"error", lerror},         {"query", lquery},       {"localname", lquery},
      {"logenabled", lloglevel}, {"loglevel", lsetloglevel}, {"packstring", lpackstring},
      {"tostring", ltostring},   {"stat", lstat},         {"memory", lmemory},
      {"setmemlimit", lsetmemlimit}, {"list", llist},     {"interrupt", linterrupt},
      {"cacheclear", lcacheclear}, {"errname", lerrname}, {"strerror", lstrerror},
      {"nodeof", lnodeof},       {"localof", llocalof},   {"makehandle", lmakehandle},
      {"harbor_of", lharbor_of}, {NULL, NULL},
  };
  luaL_newlib(L, funcs);
  shoal_sched_register_extra(L);
  push_constants(L);
  return 1;
}

void shoal_lua_open(lua_State *L, struct snlua *l) {
  *(struct snlua **)lua_getextraspace(L) = l;
  shoal_sched_init(L, l);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_shoal_core);
  lua_setfield(L, -2, "shoal.core");
  lua_pushcfunction(L, luaopen_shoal_coreextra);
  lua_setfield(L, -2, "shoal.coreextra");
  lua_pushcfunction(L, luaopen_shoal_serial);
  lua_setfield(L, -2, "shoal.serial");
  lua_pushcfunction(L, luaopen_shoal_socketdriver);
  lua_setfield(L, -2, "shoal.socketdriver");
  lua_pushcfunction(L, luaopen_shoal_crypto);
  lua_setfield(L, -2, "shoal.crypto");
  lua_pushcfunction(L, luaopen_shoal_aoi);
  lua_setfield(L, -2, "shoal.aoi");
  lua_pushcfunction(L, luaopen_shoal_proc);
  lua_setfield(L, -2, "shoal.proc");
  lua_pop(L, 1);
  /* coroutine.resume/wrap go through lresume (see lwrap_call). */
  lua_getglobal(L, "coroutine");
  lua_pushcfunction(L, lresume);
  lua_setfield(L, -2, "resume");
  lua_pushcfunction(L, lwrap);
  lua_setfield(L, -2, "wrap");
  lua_pop(L, 1);
  /* Replace the Lua-file searcher (index 2) with the cached one. */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  lua_pushcfunction(L, lsearcher);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
}
