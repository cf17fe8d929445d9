/*
 * config.c - config file loading and validation (see config.h).
 */
#include "config.h"

#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env.h"
#include "log.h"

#ifndef SHOAL_SOURCE_DIR
#define SHOAL_SOURCE_DIR "."
#endif
#ifndef SHOAL_BINARY_DIR
#define SHOAL_BINARY_DIR "./build"
#endif

/* Defaults for keys the file does not set. */
static const char *defaults[][2] = {
    {"thread", "2"},
    {"node", "1"},
    {"cpath", SHOAL_BINARY_DIR "/cservice/?.so"},
    {"luaservice", SHOAL_SOURCE_DIR "/service/?.lua"},
    {"lualib", SHOAL_SOURCE_DIR "/lualib/?.lua"},
    {"lua_cpath", "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;/usr/local/lib/lua/5.4/?.so"},
    {"bootstrap", "bootstrap"},
    {"start", "main"},
    {"loglevel", "info"},
    {"call_timeout", "30000"},
    {"memlimit", "0"},
    {"monitor_stuck_ms", "5000"},
    {"monitor_interrupt", "0"},
    {"shutdown_timeout", "10000"},
    {"spin_us", "50"},
    {"socket_spin_us", "20"},
    {"heartbeat_ms", "1000"},
    {"heartbeat_misses", "3"},
    {"harbor_queue_kb", "16384"},
    {"harbor_max_message_kb", "65536"},
    {"cluster_secret_env", "SHOAL_CLUSTER_SECRET"},
};

/* Appends a Lua constructor for the table at idx (strings, numbers,
 * booleans and nested tables; other values are skipped). */
static void table_to_source(lua_State *L, int idx, luaL_Buffer *b, int depth) {
  idx = lua_absindex(L, idx);
  luaL_addchar(b, '{');
  if (depth < 16) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      int kt = lua_type(L, -2), vt = lua_type(L, -1);
      if ((kt == LUA_TSTRING || kt == LUA_TNUMBER) &&
          (vt == LUA_TSTRING || vt == LUA_TNUMBER || vt == LUA_TBOOLEAN || vt == LUA_TTABLE)) {
        luaL_addchar(b, '[');
        if (kt == LUA_TSTRING) {
          lua_pushfstring(L, "%q", lua_tostring(L, -2));
        } else {
          lua_getglobal(L, "string");
          lua_getfield(L, -1, "format");
          lua_pushliteral(L, "%q");
          lua_pushvalue(L, -5);
          lua_call(L, 2, 1);
          lua_remove(L, -2);
        }
        luaL_addvalue(b);
        luaL_addstring(b, "]=");
        if (vt == LUA_TTABLE) {
          table_to_source(L, -1, b, depth + 1);
        } else {
          lua_getglobal(L, "string");
          lua_getfield(L, -1, "format");
          lua_pushliteral(L, "%q");
          lua_pushvalue(L, -4);
          lua_call(L, 2, 1);
          lua_remove(L, -2);
          luaL_addvalue(b);
        }
        luaL_addchar(b, ',');
      }
      lua_pop(L, 1);
    }
  }
  luaL_addchar(b, '}');
}

int shoal_config_load(const char *path, char *err, size_t errlen) {
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    snprintf(err, errlen, "out of memory reading config");
    return -1;
  }
  luaL_openlibs(L);
  int r = luaL_loadfilex(L, path, "t");
  if (r != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (r == LUA_ERRFILE) snprintf(err, errlen, "cannot read config '%s': %s", path, strerror(errno));
    else if (msg && strstr(msg, "binary chunk"))
      snprintf(err, errlen, "config '%s' is not a text file (a precompiled chunk?)", path);
    else snprintf(err, errlen, "config error: %s", msg ? msg : "?");
    lua_close(L);
    return -1;
  }
  /* env = setmetatable({root=..., build=...}, {__index = _G}) */
  lua_newtable(L);
  lua_pushstring(L, SHOAL_SOURCE_DIR);
  lua_setfield(L, -2, "root");
  lua_pushstring(L, SHOAL_BINARY_DIR);
  lua_setfield(L, -2, "build");
  lua_newtable(L);
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setupvalue(L, -3, 1); /* _ENV of the chunk */
  lua_insert(L, -2);        /* env below the chunk */
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg) snprintf(err, errlen, "config error: %s", msg);
    else snprintf(err, errlen, "config error: '%s' raised a %s value", path, luaL_typename(L, -1));
    lua_close(L);
    return -1;
  }
  for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) shoal_env_set(defaults[i][0], defaults[i][1]);
  shoal_env_set("root", SHOAL_SOURCE_DIR);
  shoal_env_set("build", SHOAL_BINARY_DIR);
  shoal_env_set("config", path);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pop(L, 1);
      continue;
    }
    const char *key = lua_tostring(L, -2);
    switch (lua_type(L, -1)) {
      case LUA_TSTRING:
        shoal_env_set(key, lua_tostring(L, -1));
        break;
      case LUA_TNUMBER: {
        lua_pushvalue(L, -1);
        shoal_env_set(key, lua_tostring(L, -1));
        lua_pop(L, 1);
        break;
      }
      case LUA_TBOOLEAN:
        shoal_env_set(key, lua_toboolean(L, -1) ? "1" : "0");
        break;
      case LUA_TTABLE: {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        table_to_source(L, -2, &b, 0); /* -2: the buffer may sit on the stack */
        luaL_pushresult(&b);
        shoal_env_set(key, lua_tostring(L, -1));
        lua_pop(L, 1);
        break;
      }
      default:
        break; /* functions and the like are the config's own helpers */
    }
    lua_pop(L, 1);
  }
  lua_close(L);
  return 0;
}

static int check_int(const char *key, long lo, long hi, const char *path, char *err, size_t errlen) {
  const char *v = shoal_env_get(key);
  char *end = NULL;
  long n = v ? strtol(v, &end, 10) : 0;
  if (v == NULL || end == v || *end != '\0' || n < lo || n > hi || (*v != '-' && (*v < '0' || *v > '9'))) {
    snprintf(err, errlen, "config '%s': %s must be an integer in %ld..%ld, got '%s'", path, key, lo, hi,
             v ? v : "nil");
    return -1;
  }
  return 0;
}

/* Returns 1 if a readable file for name exists on the search path. */
static int find_on_path(const char *pathlist, const char *name) {
  char file[1024];
  for (const char *p = pathlist; (p = shoal_path_next(p, name, file, sizeof(file))) != NULL;)
    if (access(file, R_OK) == 0) return 1;
  return 0;
}

int shoal_config_validate(const char *path, char *err, size_t errlen) {
  if (check_int("thread", 1, 64, path, err, errlen) || check_int("node", 1, 255, path, err, errlen) ||
      check_int("call_timeout", 1, 86400000, path, err, errlen) ||
      check_int("memlimit", 0, (long)1 << 40, path, err, errlen) ||
      check_int("monitor_stuck_ms", 0, 86400000, path, err, errlen) ||
      check_int("shutdown_timeout", 0, 86400000, path, err, errlen) ||
      check_int("spin_us", 0, 100000, path, err, errlen) ||
      check_int("socket_spin_us", 0, 100000, path, err, errlen) ||
      check_int("heartbeat_ms", 10, 600000, path, err, errlen) ||
      check_int("heartbeat_misses", 1, 100, path, err, errlen) ||
      check_int("harbor_queue_kb", 1, 1L << 30, path, err, errlen) ||
      check_int("harbor_max_message_kb", 1, 4L << 20, path, err, errlen))
    return -1;
  const char *level = shoal_env_get("loglevel");
  if (shoal_log_parse_level(level) < 0) {
    snprintf(err, errlen, "config '%s': loglevel must be debug, info, warn or error, got '%s'", path, level);
    return -1;
  }
  const char *logfile = shoal_env_get("logfile");
  if (logfile && logfile[0]) {
    FILE *f = fopen(logfile, "a");
    if (f == NULL) {
      snprintf(err, errlen, "config '%s': cannot open logfile '%s': %s", path, logfile, strerror(errno));
      return -1;
    }
    fclose(f);
  }
  const char *cpath = shoal_env_get("cpath");
  if (!find_on_path(cpath, "snlua") || !find_on_path(cpath, "logger")) {
    snprintf(err, errlen, "config '%s': C services snlua/logger not found in cpath '%s'", path, cpath);
    return -1;
  }
  const char *luaservice = shoal_env_get("luaservice");
  const char *names[] = {"start", "bootstrap"};
  for (int i = 0; i < 2; i++) {
    const char *svc = shoal_env_get(names[i]);
    char first[256];
    snprintf(first, sizeof(first), "%s", svc);
    char *space = strchr(first, ' ');
    if (space) *space = '\0';
    if (first[0] == '\0' || !find_on_path(luaservice, first)) {
      snprintf(err, errlen, "config '%s': %s service '%s' not found in luaservice path '%s'", path, names[i],
               first, luaservice);
      return -1;
    }
  }
  return 0;
}
