/*
 * config.c - config file loading and validation (see config.h).
 */
#include "config.h"
#include "config_keys.h"

#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "env.h"
#include "log.h"

#ifndef SHOAL_SOURCE_DIR
#define SHOAL_SOURCE_DIR "."
#endif
#ifndef SHOAL_BINARY_DIR
#define SHOAL_BINARY_DIR "./build"
#endif

/* ---- the schema (config_keys.h) ---- */

struct config_key {
  const char *name;
  enum shoal_config_type type;
  const char *def; /* "$root/" and "$build/" expanded by default_value */
  int64_t min, max;
  const char *doc;
};

static const struct config_key keys[] = {
#define CONFIG_KEY(name, type, def, min, max, doc) {#name, SHOAL_CONFIG_##type, def, min, max, doc},
    SHOAL_CONFIG_KEYS(CONFIG_KEY)
#undef CONFIG_KEY
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct config_key *find_key(const char *name) {
  for (size_t i = 0; i < NKEYS; i++)
    if (strcmp(keys[i].name, name) == 0) return &keys[i];
  return NULL;
}

/* A key's default with "$root/" or "$build/" replaced by the tree's path;
 * the string is made once and kept (the env holds it too). */
static const char *default_value(const struct config_key *k, char *buf, size_t len) {
  if (strncmp(k->def, "$root/", 6) == 0) snprintf(buf, len, "%s/%s", SHOAL_SOURCE_DIR, k->def + 6);
  else if (strncmp(k->def, "$build/", 7) == 0) snprintf(buf, len, "%s/%s", SHOAL_BINARY_DIR, k->def + 7);
  else return k->def;
  return buf;
}

/* The value of a schema key: the config's, else the default. Unknown keys
 * are a programmer error (a typo in a reader), so they abort loudly. */
static const char *key_value(const char *name, enum shoal_config_type want) {
  const struct config_key *k = find_key(name);
  if (k == NULL || k->type != want) {
    fprintf(stderr, "shoal: internal error: config key '%s' is %s\n", name,
            k == NULL ? "not in the schema (core/config_keys.h)" : "read with the wrong type");
    abort();
  }
  const char *v = shoal_env_get(name);
  if (v != NULL) return v;
  char buf[1024];
  const char *d = default_value(k, buf, sizeof(buf));
  if (d == buf) {
    shoal_env_set(name, buf); /* the env keeps a copy alive until exit */
    return shoal_env_get(name);
  }
  return d;
}

int64_t shoal_config_int(const char *name) { return strtoll(key_value(name, SHOAL_CONFIG_INT), NULL, 10); }

int shoal_config_bool(const char *name) { return strcmp(key_value(name, SHOAL_CONFIG_BOOL), "true") == 0; }

const char *shoal_config_string(const char *name) { return key_value(name, SHOAL_CONFIG_STRING); }

/* A raw setting: the config's text, else a schema key's default. */
const char *shoal_getenv(const char *name) {
  const char *v = shoal_env_get(name);
  if (v != NULL) return v;
  const struct config_key *k = find_key(name);
  return k ? key_value(name, k->type) : NULL;
}

int shoal_config_type(const char *name) {
  const struct config_key *k = find_key(name);
  return k ? (int)k->type : -1;
}

/* Appends string.format("%q", value at idx) to b: lua_pushfstring knows no
 * %q (it raised an unprotected error, and the node aborted on a table). */
static void add_quoted(lua_State *L, luaL_Buffer *b, int idx) {
  idx = lua_absindex(L, idx);
  lua_getglobal(L, "string");
  lua_getfield(L, -1, "format");
  lua_pushliteral(L, "%q");
  lua_pushvalue(L, idx);
  lua_call(L, 2, 1);
  lua_remove(L, -2);
  luaL_addvalue(b);
}

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
        add_quoted(L, b, -2);
        luaL_addstring(b, "]=");
        if (vt == LUA_TTABLE) table_to_source(L, -1, b, depth + 1);
        else add_quoted(L, b, -1);
        luaL_addchar(b, ',');
      }
      lua_pop(L, 1);
    }
  }
  luaL_addchar(b, '}');
}

/* Edit distance of two short names (for "did you mean"). */
static size_t distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return 64;
  size_t row[64];
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* Warnings found while loading, logged once the logger runs. */
static char *warnings; /* lines, each ending in '\n'; NULL when none */
static size_t warnings_len;

static void add_warning(const char *line) {
  size_t n = strlen(line);
  warnings = shoal_realloc(warnings, warnings_len + n + 2);
  memcpy(warnings + warnings_len, line, n);
  warnings_len += n;
  warnings[warnings_len++] = '\n';
  warnings[warnings_len] = '\0';
}

void shoal_config_log_warnings(void) {
  if (warnings == NULL) return;
  for (char *line = warnings, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
    *nl = '\0';
    shoal_log(NULL, SHOAL_LOG_WARN, "%s", line);
  }
  shoal_free(warnings);
  warnings = NULL;
  warnings_len = 0;
}

/* A key the schema does not know: a typo, or the game's own setting (read
 * with shoal.getenv). Kept as text like before, with a warning. */
static void set_unknown(lua_State *L, const char *key, const char *path) {
  const char *closest = keys[0].name;
  size_t best = distance(key, closest);
  for (size_t i = 1; i < NKEYS; i++) {
    size_t d = distance(key, keys[i].name);
    if (d < best) best = d, closest = keys[i].name;
  }
  char line[256];
  snprintf(line, sizeof(line), "config '%s': unknown key '%s' (the closest known key is '%s'); it is kept for "
           "shoal.getenv", path, key, closest);
  add_warning(line);
  switch (lua_type(L, -1)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
      lua_pushvalue(L, -1);
      shoal_env_set(key, lua_tostring(L, -1));
      lua_pop(L, 1);
      break;
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
}

/* Shows the value at the top of the stack in an error line. */
static void show_value(lua_State *L, char *out, size_t len) {
  int t = lua_type(L, -1);
  if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    lua_pushvalue(L, -1);
    snprintf(out, len, "'%.100s'", lua_tostring(L, -1));
    lua_pop(L, 1);
  } else if (t == LUA_TBOOLEAN) {
    snprintf(out, len, "%s", lua_toboolean(L, -1) ? "true" : "false");
  } else {
    snprintf(out, len, "a %s", lua_typename(L, t));
  }
}

/* Integer value at the top of the stack: an integral number, or a string
 * that is one (os.getenv gives strings). 0 or -1. */
static int to_integer(lua_State *L, int64_t *out) {
  int t = lua_type(L, -1);
  if (t == LUA_TNUMBER) {
    int exact = 0;
    lua_Integer n = lua_tointegerx(L, -1, &exact); /* 1e6 is fine, 1.5 is not */
    *out = (int64_t)n;
    return exact ? 0 : -1;
  }
  if (t != LUA_TSTRING) return -1;
  const char *v = lua_tostring(L, -1);
  char *end = NULL;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (end == v || *end != '\0' || errno != 0 || (*v != '-' && (*v < '0' || *v > '9'))) return -1;
  *out = (int64_t)n;
  return 0;
}

/* Checks a schema key's value (its type and range) and stores it in the
 * canonical text form the getters read. 0, or -1 with err set. */
static int set_known(lua_State *L, const struct config_key *k, const char *path, char *err, size_t errlen) {
  char shown[128], text[32];
  show_value(L, shown, sizeof(shown));
  int t = lua_type(L, -1);
  switch (k->type) {
    case SHOAL_CONFIG_INT: {
      int64_t n;
      if (to_integer(L, &n) != 0 || n < k->min || n > k->max) {
        snprintf(err, errlen, "config '%s': %s must be an integer in %lld..%lld, got %s", path, k->name,
                 (long long)k->min, (long long)k->max, shown);
        return -1;
      }
      snprintf(text, sizeof(text), "%lld", (long long)n);
      shoal_env_set(k->name, text);
      return 0;
    }
    case SHOAL_CONFIG_BOOL: {
      const char *v = t == LUA_TSTRING ? lua_tostring(L, -1) : "";
      int b;
      if (t == LUA_TBOOLEAN) b = lua_toboolean(L, -1);
      else if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) b = 1;
      else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) b = 0;
      else {
        snprintf(err, errlen, "config '%s': %s must be true or false, got %s", path, k->name, shown);
        return -1;
      }
      shoal_env_set(k->name, b ? "true" : "false");
      return 0;
    }
    case SHOAL_CONFIG_STRING:
      if (t != LUA_TSTRING && t != LUA_TNUMBER) {
        snprintf(err, errlen, "config '%s': %s must be a string, got %s", path, k->name, shown);
        return -1;
      }
      lua_pushvalue(L, -1);
      shoal_env_set(k->name, lua_tostring(L, -1));
      lua_pop(L, 1);
      return 0;
  }
  return -1;
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
  shoal_env_set("root", SHOAL_SOURCE_DIR);
  shoal_env_set("build", SHOAL_BINARY_DIR);
  shoal_env_set("config", path);
  int failed = 0;
  lua_pushnil(L);
  while (!failed && lua_next(L, -2)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *key = lua_tostring(L, -2);
      const struct config_key *k = find_key(key);
      if (k) failed = set_known(L, k, path, err, errlen);
      else if (strcmp(key, "root") != 0 && strcmp(key, "build") != 0) set_unknown(L, key, path);
    }
    lua_pop(L, 1);
  }
  lua_close(L);
  return failed ? -1 : 0;
}

/* Returns 1 if a readable file for name exists on the search path. */
static int find_on_path(const char *pathlist, const char *name) {
  char file[1024];
  for (const char *p = pathlist; (p = shoal_path_next(p, name, file, sizeof(file))) != NULL;)
    if (access(file, R_OK) == 0) return 1;
  return 0;
}

int shoal_config_validate(const char *path, char *err, size_t errlen) {
  /* Types and ranges were checked as the file was read (set_known); what is
   * left needs several keys or the file system. */
  if (shoal_config_int("socket_warn_kb") > shoal_config_int("socket_limit_kb")) {
    snprintf(err, errlen, "config '%s': socket_warn_kb (%lld) must not exceed socket_limit_kb (%lld)", path,
             (long long)shoal_config_int("socket_warn_kb"), (long long)shoal_config_int("socket_limit_kb"));
    return -1;
  }
  /* A harbor link counts its socket's buffer against harbor_queue_kb: over
   * socket_limit_kb the socket would close a healthy link first. */
  int clustered = shoal_config_string("cluster")[0] != '\0' || shoal_config_string("harbor")[0] != '\0';
  if (clustered && shoal_config_int("harbor_queue_kb") > shoal_config_int("socket_limit_kb")) {
    snprintf(err, errlen, "config '%s': harbor_queue_kb (%lld) must not exceed socket_limit_kb (%lld)", path,
             (long long)shoal_config_int("harbor_queue_kb"), (long long)shoal_config_int("socket_limit_kb"));
    return -1;
  }
  const char *level = shoal_config_string("loglevel");
  if (shoal_log_parse_level(level) < 0) {
    snprintf(err, errlen, "config '%s': loglevel must be debug, info, warn or error, got '%s'", path, level);
    return -1;
  }
  const char *format = shoal_config_string("log_format");
  if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
    snprintf(err, errlen, "config '%s': log_format must be text or json, got '%s'", path, format);
    return -1;
  }
  const char *logfile = shoal_config_string("logfile");
  if (logfile && logfile[0]) {
    FILE *f = fopen(logfile, "a");
    if (f == NULL) {
      snprintf(err, errlen, "config '%s': cannot open logfile '%s': %s", path, logfile, strerror(errno));
      return -1;
    }
    fclose(f);
  }
  const char *cpath = shoal_config_string("cpath");
  if (!find_on_path(cpath, "snlua") || !find_on_path(cpath, "logger")) {
    snprintf(err, errlen, "config '%s': C services snlua/logger not found in cpath '%s'", path, cpath);
    return -1;
  }
  const char *luaservice = shoal_config_string("luaservice");
  const char *names[] = {"start", "bootstrap"};
  for (int i = 0; i < 2; i++) {
    const char *svc = shoal_config_string(names[i]);
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

void shoal_config_print_keys(FILE *out) {
  fprintf(out, "| key | type | default | range | meaning |\n| --- | --- | --- | --- | --- |\n");
  for (size_t i = 0; i < NKEYS; i++) {
    const struct config_key *k = &keys[i];
    const char *type = k->type == SHOAL_CONFIG_INT ? "integer" : k->type == SHOAL_CONFIG_BOOL ? "boolean" : "string";
    char range[64] = "";
    if (k->type == SHOAL_CONFIG_INT) snprintf(range, sizeof(range), "%lld..%lld", (long long)k->min, (long long)k->max);
    const char *def = k->def[0] == '$' ? k->def + 1 : k->def; /* "$root/x" shows as "root/x" */
    fprintf(out, "| `%s` | %s | %s%s%s | %s | %s |\n", k->name, type, def[0] ? "`" : "", def[0] ? def : "(empty)",
            def[0] ? "`" : "", range, k->doc);
  }
}
