/*
 * serial_check.c - helpers shared by the serializer's unit tests.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "serial.h"

#include "serial.h"
#include "serial_check.h"

__attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "test_serial: FAIL: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

lua_State *serial_check_state(void) {
  lua_State *L = luaL_newstate();
  if (!L) fail("cannot create a Lua state");
  luaL_openlibs(L);
  luaL_requiref(L, "shoal.serial", luaopen_shoal_serial, 0);
  lua_setglobal(L, "serial");
  return L;
}

/* ---- helpers ---------------------------------------------------------- */

uint64_t rng_state;

/* xorshift64*: tiny, seeded, and the same sequence on every platform, so a
 * failure can be replayed. */
uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

unsigned rnd_below(unsigned n) { return (unsigned)(rnd() % n); }

int deep_equal(lua_State *L, int a, int b);

/* Tables are equal when they have the same number of pairs and every pair
 * of a has an equal pair in b. Table keys have a fresh identity after a
 * round trip, so they are matched by searching b for an equal key. */
static int tables_equal(lua_State *L, int a, int b) {
  if (!lua_checkstack(L, 8)) fail("deep_equal: Lua stack overflow");
  int count = 0;
  lua_pushnil(L);
  while (lua_next(L, a)) {
    int k = lua_gettop(L) - 1, v = k + 1;
    count++;
    int found = 0;
    if (lua_type(L, k) == LUA_TTABLE) {
      lua_pushnil(L);
      while (lua_next(L, b)) {
        if (lua_type(L, -2) == LUA_TTABLE && deep_equal(L, k, -2) && deep_equal(L, v, -1)) {
          found = 1;
          lua_pop(L, 2);
          break;
        }
        lua_pop(L, 1);
      }
    } else {
      lua_pushvalue(L, k);
      lua_rawget(L, b);
      found = deep_equal(L, v, -1);
      lua_pop(L, 1);
    }
    if (!found) {
      lua_pop(L, 2);
      return 0;
    }
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, b)) {
    count--;
    lua_pop(L, 1);
  }
  return count == 0;
}

/* Equality that also demands the same number subtype and the exact bits of
 * floats, so NaN equals NaN and -0.0 differs from 0.0. */
int deep_equal(lua_State *L, int a, int b) {
  a = lua_absindex(L, a);
  b = lua_absindex(L, b);
  int t = lua_type(L, a);
  if (t != lua_type(L, b)) return 0;
  switch (t) {
    case LUA_TNIL:
      return 1;
    case LUA_TBOOLEAN:
      return lua_toboolean(L, a) == lua_toboolean(L, b);
    case LUA_TNUMBER: {
      if (lua_isinteger(L, a) != lua_isinteger(L, b)) return 0;
      if (lua_isinteger(L, a)) return lua_tointeger(L, a) == lua_tointeger(L, b);
      lua_Number x = lua_tonumber(L, a), y = lua_tonumber(L, b);
      return memcmp(&x, &y, sizeof(x)) == 0;
    }
    case LUA_TSTRING: {
      size_t na, nb;
      const char *sa = lua_tolstring(L, a, &na), *sb = lua_tolstring(L, b, &nb);
      return na == nb && memcmp(sa, sb, na) == 0;
    }
    case LUA_TTABLE:
      return tables_equal(L, a, b);
    default:
      return lua_rawequal(L, a, b);
  }
}

int pack_thunk(lua_State *L) {
  size_t sz;
  void *p = shoal_serial_pack(L, 1, &sz);
  free(p);
  lua_pushinteger(L, (lua_Integer)sz);
  return 1;
}

static int unpack_thunk(lua_State *L) {
  const void *p = lua_touserdata(L, 1);
  size_t n = (size_t)lua_tointeger(L, 2);
  lua_settop(L, 0);
  return shoal_serial_unpack(L, p, n);
}

/* Unpacks buf in protected mode, dropping whatever it pushed. Returns the
 * number of values, or -1 with the message copied to err. */
int try_unpack(lua_State *L, const void *buf, size_t n, char *err, size_t errsz) {
  int base = lua_gettop(L);
  lua_pushcfunction(L, unpack_thunk);
  lua_pushlightuserdata(L, (void *)buf);
  lua_pushinteger(L, (lua_Integer)n);
  int rc = lua_pcall(L, 2, LUA_MULTRET, 0);
  int got = lua_gettop(L) - base;
  if (rc != LUA_OK) {
    if (err) snprintf(err, errsz, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    got = -1;
  }
  lua_settop(L, base);
  return got;
}

/* Unpacks a malloc'ed copy of exactly n bytes, so ASan sees any read past
 * the end. */
int try_unpack_copy(lua_State *L, const void *buf, size_t n, char *err, size_t errsz) {
  void *copy = malloc(n ? n : 1);
  if (!copy) fail("out of memory");
  if (n) memcpy(copy, buf, n);
  int r = try_unpack(L, n ? copy : NULL, n, err, errsz);
  free(copy);
  return r;
}

/* Packs the values from `first` to the top, unpacks them and compares;
 * the stack is restored. Returns the packed size. */
size_t roundtrip(lua_State *L, int first, const char *what) {
  int top = lua_gettop(L);
  int nvals = top - first + 1;
  size_t sz;
  void *buf = shoal_serial_pack(L, first, &sz);
  int n = shoal_serial_unpack(L, buf, sz);
  if (n != nvals) fail("%s: packed %d values, unpacked %d", what, nvals, n);
  for (int i = 0; i < nvals; i++)
    if (!deep_equal(L, first + i, top + 1 + i))
      fail("%s: value %d differs after a round trip (%s)", what, i + 1,
           luaL_typename(L, first + i));
  free(buf);
  lua_settop(L, top);
  return sz;
}

void run_lua(lua_State *L, const char *what, const char *code) {
  if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK)
    fail("%s: %s", what, lua_tostring(L, -1));
}

/* Runs a chunk returning values and round-trips them from C. */
void roundtrip_chunk(lua_State *L, const char *what, const char *code) {
  int base = lua_gettop(L);
  if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, LUA_MULTRET, 0) != LUA_OK)
    fail("%s: %s", what, lua_tostring(L, -1));
  roundtrip(L, base + 1, what);
  lua_settop(L, base);
}

/* Runs code that must raise an error containing every given word. */
void expect_error(lua_State *L, const char *code, const char *const *words) {
  int base = lua_gettop(L);
  if (luaL_loadstring(L, code) != LUA_OK) fail("cannot load: %s", lua_tostring(L, -1));
  if (lua_pcall(L, 0, 0, 0) == LUA_OK) fail("no error from: %s", code);
  const char *msg = lua_tostring(L, -1);
  if (!msg) fail("non-string error from: %s", code);
  for (; *words; words++)
    if (!strstr(msg, *words)) fail("error \"%s\" lacks \"%s\" (code: %s)", msg, *words, code);
  lua_settop(L, base);
}


void expect_unpack_error(lua_State *L, const char *what, const void *buf, size_t n,
                                const char *word) {
  char err[256];
  if (try_unpack_copy(L, buf, n, err, sizeof(err)) >= 0) fail("%s: unpack accepted it", what);
  if (!strstr(err, "unserialize:") || !strstr(err, word))
    fail("%s: error \"%s\" lacks \"%s\"", what, err, word);
}

