/*
 * test_serial.c - unit test for lualib/src/serial.c.
 *
 * Round trips of every value kind and edge case, a seeded random round trip
 * checked by a C deep-equality, the error cases (with a leak check where the
 * allocator allows it), and fuzzing of unpack with truncated, random and
 * mutated buffers. Exits 0 on success; the first failure prints what went
 * wrong and exits 1. The timing at the end is informational only.
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

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
/* mallinfo2 is meaningless under ASan, which has its own leak checker. */
#if defined(__GLIBC__) && !defined(UNDER_ASAN) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define HAVE_MALLINFO2 1
#endif

/* Under TSan every Lua error (longjmp through Debian's fortified
 * __longjmp_chk, which clang 14's TSan does not intercept) leaks TSan's
 * bookkeeping; the error-heavy fuzz loops then crawl and eventually crash
 * TSan. This test is single-threaded, so TSan adds nothing: run fewer. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifdef UNDER_TSAN
#define RANDOM_ROUNDS 200
#define FUZZ_RANDOM 500
#define FUZZ_MUTATIONS 500
#else
#define RANDOM_ROUNDS 5000
#define FUZZ_RANDOM 20000
#define FUZZ_MUTATIONS 20000
#endif
#define RANDOM_MAX_DEPTH 6
#define BENCH_LOOPS 1000000

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "test_serial: FAIL: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state;

/* xorshift64*: tiny, seeded, and the same sequence on every platform, so a
 * failure can be replayed. */
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

static unsigned rnd_below(unsigned n) { return (unsigned)(rnd() % n); }

static int deep_equal(lua_State *L, int a, int b);

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
static int deep_equal(lua_State *L, int a, int b) {
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

static int pack_thunk(lua_State *L) {
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
static int try_unpack(lua_State *L, const void *buf, size_t n, char *err, size_t errsz) {
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
static int try_unpack_copy(lua_State *L, const void *buf, size_t n, char *err, size_t errsz) {
  void *copy = malloc(n ? n : 1);
  if (!copy) fail("out of memory");
  if (n) memcpy(copy, buf, n);
  int r = try_unpack(L, n ? copy : NULL, n, err, errsz);
  free(copy);
  return r;
}

/* Packs the values from `first` to the top, unpacks them and compares;
 * the stack is restored. Returns the packed size. */
static size_t roundtrip(lua_State *L, int first, const char *what) {
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

static void run_lua(lua_State *L, const char *what, const char *code) {
  if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK)
    fail("%s: %s", what, lua_tostring(L, -1));
}

/* Runs a chunk returning values and round-trips them from C. */
static void roundtrip_chunk(lua_State *L, const char *what, const char *code) {
  int base = lua_gettop(L);
  if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, LUA_MULTRET, 0) != LUA_OK)
    fail("%s: %s", what, lua_tostring(L, -1));
  roundtrip(L, base + 1, what);
  lua_settop(L, base);
}

/* Runs code that must raise an error containing every given word. */
static void expect_error(lua_State *L, const char *code, const char *const *words) {
  int base = lua_gettop(L);
  if (luaL_loadstring(L, code) != LUA_OK) fail("cannot load: %s", lua_tostring(L, -1));
  if (lua_pcall(L, 0, 0, 0) == LUA_OK) fail("no error from: %s", code);
  const char *msg = lua_tostring(L, -1);
  if (!msg) fail("non-string error from: %s", code);
  for (; *words; words++)
    if (!strstr(msg, *words)) fail("error \"%s\" lacks \"%s\" (code: %s)", msg, *words, code);
  lua_settop(L, base);
}

#define EXPECT_ERROR(L, code, ...) expect_error(L, code, (const char *const[]){__VA_ARGS__, NULL})

static void expect_unpack_error(lua_State *L, const char *what, const void *buf, size_t n,
                                const char *word) {
  char err[256];
  if (try_unpack_copy(L, buf, n, err, sizeof(err)) >= 0) fail("%s: unpack accepted it", what);
  if (!strstr(err, "unserialize:") || !strstr(err, word))
    fail("%s: error \"%s\" lacks \"%s\"", what, err, word);
}

/* ---- fixed cases ------------------------------------------------------ */

static void test_format(lua_State *L) {
  static const struct {
    const char *code;
    const char *bytes;
    size_t n;
  } cases[] = {
      {"return", "\x00", 1},
      {"return 1", "\x01\x01", 2},
      {"return -1", "\x01\xff", 2},
      {"return 127, -32", "\x02\x7f\xe0", 3},
      {"return nil, false, true", "\x03\xd0\xd1\xd2", 4},
      {"return 'ping', 12345", "\x02\x84ping\xd4\x39\x30", 9},
      {"return {}", "\x01\xc0\x00", 3},
      {"return {x = 1}", "\x01\xc0\x01\x81x\x01", 6},
      {"return {7, 8}", "\x01\xc2\x00\x07\x08", 5},
      {"return 0.5", "\x01\xd7\x00\x00\x00\x3f", 6},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int base = lua_gettop(L);
    if (luaL_loadstring(L, cases[i].code) || lua_pcall(L, 0, LUA_MULTRET, 0))
      fail("format: %s", lua_tostring(L, -1));
    size_t sz;
    void *buf = shoal_serial_pack(L, base + 1, &sz);
    if (sz != cases[i].n || memcmp(buf, cases[i].bytes, sz) != 0)
      fail("format: '%s' encodes to %zu bytes, expected %zu", cases[i].code, sz, cases[i].n);
    free(buf);
    lua_settop(L, base);
  }
  /* from beyond the top packs nothing; a negative from counts from the top. */
  lua_pushinteger(L, 5);
  lua_pushinteger(L, 6);
  size_t sz;
  void *buf = shoal_serial_pack(L, lua_gettop(L) + 1, &sz);
  if (sz != 1 || shoal_serial_unpack(L, buf, sz) != 0) fail("format: empty pack");
  free(buf);
  buf = shoal_serial_pack(L, -1, &sz);
  if (shoal_serial_unpack(L, buf, sz) != 1 || lua_tointeger(L, -1) != 6)
    fail("format: negative from");
  free(buf);
  lua_settop(L, 0);
}

static void test_edge_cases(lua_State *L) {
  roundtrip_chunk(L, "scalars", "return nil, true, false");
  roundtrip_chunk(L, "integers",
                  "return math.mininteger, math.maxinteger, 0, -1, 1 << 31, -(1 << 31),"
                  " (1 << 31) - 1, -(1 << 31) - 1, 127, 128, -32, -33, -128, -129, 255, 256,"
                  " 32767, 32768, -32768, -32769, 65535, 65536, 1 << 32, -(1 << 32),"
                  " math.maxinteger - 1, math.mininteger + 1");
  roundtrip_chunk(L, "floats",
                  "return 2^31, 0.0, -0.0, 1/0, -1/0, 0/0, -(0/0), 0.5, 1.0, -1.5, 0.1,"
                  " math.pi, 1e300, -1e-300, 2^-1074, 2^-149, 2^-150, 3.4028234663852886e38,"
                  " 3.4028235677973366e38, 2^53, 2^63, -2^63, 1e-45, 16777217.0");
  /* NaNs with payloads must survive bit for bit. */
  static const uint64_t nans[] = {0x7ff8000000000000ULL, 0xfff8000000000000ULL,
                                  0x7ff0000000000123ULL, 0x7ffabcdef0123456ULL};
  for (size_t i = 0; i < sizeof(nans) / sizeof(nans[0]); i++) {
    double d;
    memcpy(&d, &nans[i], sizeof(d));
    lua_pushnumber(L, d);
  }
  roundtrip(L, 1, "NaN payloads");
  lua_settop(L, 0);
  roundtrip_chunk(L, "strings",
                  "return '', 'a', ('x'):rep(63), ('x'):rep(64), ('ab\\0c'):rep(75),"
                  " ('ab\\0c'):rep(17500), ('\\0'):rep(255), ('\\0'):rep(256),"
                  " ('z'):rep(65535), ('z'):rep(65536), '\\0', '\\255\\0\\1'");
  roundtrip_chunk(L, "tables",
                  "return {}, {1, 2, 3}, {1, nil, 3}, {nil, nil, 3}, {[1] = 1, [3] = 3, [10] = 10},"
                  " {1, 2, x = 1, y = {}}, {[1.5] = 'f', [-0.25] = 2, [1e300] = 3, [0/0 ~= 0/0 and"
                  " 2^-1074 or 0] = 4}, {[true] = 1, [false] = 0}, {[{1, 2}] = 'tablekey'},"
                  " {[0] = 'zero', [-1] = 'neg', [math.maxinteger] = 'max'}, {{}, {{}}, {{{}}}}");
  roundtrip_chunk(L, "sizes",
                  "local function arr(n) local t = {} for i = 1, n do t[i] = i end return t end"
                  " local function hash(n) local t = {} for i = 1, n do t['k' .. i] = i end"
                  " return t end"
                  " local big = hash(300) for i = 1, 300 do big['t' .. i] = hash(i % 3 == 0"
                  " and 300 or 2) end"
                  " return arr(14), arr(15), arr(20), arr(300), arr(70000), hash(127), hash(128),"
                  " hash(300), big, {arr(200), hash(200), x = arr(16)}");
  /* 60 levels works from C; exactly the maximum works too. */
  roundtrip_chunk(L, "nested 60",
                  "local t = {} local c = t for i = 2, 60 do c.x = {i} c = c.x end c.v = 'leaf'"
                  " return t");
  roundtrip_chunk(L, "nested max",
                  "local t = {} local c = t for i = 2, serial.max_depth do c[1] = {} c = c[1] end"
                  " return t");
  /* Metatables are ignored: raw contents only, no __pairs/__index/__len. */
  run_lua(L, "metatables",
          "local mt = {__pairs = error, __index = function() return 42 end,"
          " __len = function() return 99 end}"
          " local u = serial.unpackstring(serial.packstring(setmetatable({a = 1}, mt)))"
          " assert(u.a == 1 and getmetatable(u) == nil and rawlen(u) == 0 and u.zz == nil)");
  /* A table shared twice is not a cycle; it is copied twice. */
  run_lua(L, "shared",
          "local sh = {1} local v = serial.unpackstring(serial.packstring({sh, sh, k = sh}))"
          " assert(v[1][1] == 1 and v[2][1] == 1 and v.k[1] == 1 and v[1] ~= v[2])");
}

static void test_module(lua_State *L) {
  run_lua(L, "module",
          "local s = serial\n"
          "local p, n = s.pack(1, 'a', nil, {x = 1})\n"
          "assert(type(p) == 'userdata' and math.type(n) == 'integer')\n"
          "local r = table.pack(s.unpack(p, n)) s.free(p)\n"
          "assert(r.n == 4 and r[1] == 1 and r[2] == 'a' and r[3] == nil and r[4].x == 1)\n"
          "local str = s.packstring(1, 'a', nil, {x = 1})\n"
          "assert(#str == n)\n"
          "r = table.pack(s.unpackstring(str))\n"
          "assert(r.n == 4 and r[1] == 1 and r[2] == 'a' and r[3] == nil and r[4].x == 1)\n"
          "r = table.pack(s.unpack(str))\n"
          "assert(r.n == 4 and r[4].x == 1)\n"
          "assert(select('#', s.unpackstring(s.packstring())) == 0)\n"
          "assert(select('#', s.unpackstring(s.packstring(nil, nil))) == 2)\n"
          "local big = ('q\\0'):rep(50000)\n"
          "local a, b = s.unpackstring(s.packstring(big, 7))\n"
          "assert(a == big and b == 7)\n"
          "assert(s.getlimit() == s.default_limit)\n"
          "s.setlimit(1000) assert(s.getlimit() == 1000) s.setlimit(s.default_limit)\n"
          "assert(not pcall(s.setlimit, -1))\n"
          "assert(not pcall(s.unpack, p, -1))\n"
          "assert(not pcall(s.unpackstring, {}))\n");
  /* The limit is inclusive, in the stack-buffer and in the heap path. */
  run_lua(L, "limit boundaries",
          "local s = serial\n"
          "s.setlimit(9) assert(#s.packstring('ping', 12345) == 9)\n"
          "s.setlimit(8) assert(not pcall(s.packstring, 'ping', 12345))\n"
          "s.setlimit(1000) assert(#s.packstring(('x'):rep(996)) == 1000)\n"
          "s.setlimit(999) assert(not pcall(s.packstring, ('x'):rep(996)))\n"
          "s.setlimit(0) assert(not pcall(s.packstring))\n"
          "s.setlimit(s.default_limit)\n");
}

/* The error cases, run through both module entry points. */
static void error_cases(lua_State *L) {
  EXPECT_ERROR(L, "serial.packstring(1, {x = print})", "serialize: cannot pack a function",
               "argument 2", "key 'x'");
  EXPECT_ERROR(L, "serial.pack(io.stdout)", "cannot pack a userdata", "argument 1");
  EXPECT_ERROR(L, "serial.packstring({a = {coroutine.create(print)}})", "cannot pack a thread",
               "key 'a' > [1]");
  EXPECT_ERROR(L,
               "local p, n = serial.pack(1) local ok, e = pcall(serial.packstring, {k = p})"
               " serial.free(p) error(e, 0)",
               "cannot pack a lightuserdata", "key 'k'");
  EXPECT_ERROR(L, "serial.packstring({t = {[print] = 1}})", "function as a table key", "key 't')");
  EXPECT_ERROR(L, "local t = {} t.self = t serial.packstring(t)", "serialize: cycle detected",
               "key 'self'");
  EXPECT_ERROR(L,
               "local t = {data = ('x'):rep(1000), a = {b = {}}} t.a.b.c = t serial.pack(0, t)",
               "cycle detected", "argument 2");
  EXPECT_ERROR(L,
               "local t = {} local c = t for i = 1, serial.max_depth do c[1] = {} c = c[1] end"
               " serial.packstring(('y'):rep(400), t)",
               "serialize: tables nested deeper than 64", "argument 2");
  EXPECT_ERROR(L, "serial.packstring(('x'):rep(5000), print)", "cannot pack a function",
               "argument 2");
  EXPECT_ERROR(L, "serial.pack({('x'):rep(5000), print})", "cannot pack a function", "[2]");
  EXPECT_ERROR(L,
               "serial.setlimit(100) local ok, e = pcall(serial.packstring, ('x'):rep(200))"
               " serial.setlimit(serial.default_limit) error(e, 0)",
               "serialize: message of", "exceeds the limit of 100 bytes");
  EXPECT_ERROR(L,
               "serial.setlimit(10000) local t = {} for i = 1, 3000 do t[i] = 'abc' .. i end"
               " local ok, e = pcall(serial.pack, t)"
               " serial.setlimit(serial.default_limit) error(e, 0)",
               "exceeds the limit of 10000 bytes");
  /* Straight through the C API, with a heap buffer outstanding. */
  int base = lua_gettop(L);
  lua_pushcfunction(L, pack_thunk);
  luaL_loadstring(L, "return ('z'):rep(3000), {1, 2, {3, coroutine.running()}}");
  lua_call(L, 0, 2);
  if (lua_pcall(L, 2, 1, 0) == LUA_OK) fail("C pack of a thread did not fail");
  if (!strstr(lua_tostring(L, -1), "thread") || !strstr(lua_tostring(L, -1), "[3] > [2]"))
    fail("C pack error: %s", lua_tostring(L, -1));
  lua_settop(L, base);
}

static void test_errors(lua_State *L) {
  error_cases(L);
#ifdef HAVE_MALLINFO2
  /* Each round fails six times with a heap buffer of 512 bytes or more
   * outstanding, so a leak would grow the heap by at least 3 KB a round.
   * The interpreter's own caches settle during the warm-up rounds. */
  for (int i = 0; i < 300; i++) error_cases(L);
  lua_gc(L, LUA_GCCOLLECT);
  size_t before = mallinfo2().uordblks;
  for (int i = 0; i < 300; i++) error_cases(L);
  lua_gc(L, LUA_GCCOLLECT);
  size_t after = mallinfo2().uordblks;
  if (after > before + 300 * 512)
    fail("errors leak: heap grew from %zu to %zu bytes over 300 rounds", before, after);
  printf("test_serial: error paths: heap %zu -> %zu bytes after 300 rounds\n", before, after);
#else
  printf("test_serial: error paths: leak check left to the sanitizer\n");
#endif
}

static void test_unpack_errors(lua_State *L) {
  expect_unpack_error(L, "empty", "", 0, "truncated");
  expect_unpack_error(L, "unknown tag", "\x01\xdd", 2, "unknown tag");
  expect_unpack_error(L, "trailing", "\x01\x01\x00", 3, "trailing garbage");
  expect_unpack_error(L, "missing length", "\x02\x01\xd9", 3, "truncated");
  expect_unpack_error(L, "nil key", "\x01\xc0\x01\xd0\x01", 5, "nil table key");
  expect_unpack_error(L, "NaN key", "\x01\xc0\x01\xd8\x00\x00\x00\x00\x00\x00\xf8\x7f\x01", 13,
                      "NaN table key");
  expect_unpack_error(L, "long string", "\x01\xdc\xff\xff\xff\xff\xff\xff\xff\xff", 10,
                      "truncated string");
  expect_unpack_error(L, "str16", "\x01\xda\x05\x00" "abcd", 8, "truncated string");
  expect_unpack_error(L, "int64", "\x01\xd6\x01\x02", 4, "truncated number");
  expect_unpack_error(L, "count", "\x05\x01", 2, "count exceeds");
  expect_unpack_error(L, "varint", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10, "overflow");
  expect_unpack_error(L, "array size", "\x01\xcf\xff\xff\x03\x00\x01", 7, "exceeds the buffer");
  expect_unpack_error(L, "hash size", "\x01\xc0\x03\x01\x01\x01\x01", 7, "exceeds the buffer");

  /* 64 nested tables unpack; 65 are rejected. */
  unsigned char deep[2 + 2 * 65 + 1];
  for (int levels = 64; levels <= 65; levels++) {
    size_t n = 0;
    deep[n++] = 1;
    for (int i = 0; i < levels; i++) {
      deep[n++] = 0xc1; /* one array item: the next table */
      deep[n++] = 0x00;
    }
    deep[n - 2] = 0xc0; /* the innermost table is empty */
    if (levels == 64) {
      if (try_unpack_copy(L, deep, n, NULL, 0) != 1) fail("64 nested tables did not unpack");
    } else {
      expect_unpack_error(L, "too deep", deep, n, "nested too deep");
    }
  }
}

/* ---- random values ---------------------------------------------------- */

static char scratch[70000];

static void gen_value(lua_State *L, int depth, int allow_nil);

static void gen_integer(lua_State *L) {
  static const lua_Integer special[] = {
      0,          -1,          1,           127,         128,        -32,
      -33,        -128,        -129,        255,         256,        32767,
      32768,      -32768,      -32769,      65535,       65536,      2147483647,
      2147483648, -2147483648, -2147483649, LUA_MAXINTEGER, LUA_MININTEGER};
  switch (rnd_below(3)) {
    case 0:
      lua_pushinteger(L, (lua_Integer)rnd_below(200) - 50);
      break;
    case 1:
      lua_pushinteger(L, special[rnd_below(sizeof(special) / sizeof(special[0]))]);
      break;
    default: {
      unsigned shift = rnd_below(64); /* one call per statement: a fixed order */
      uint64_t v = rnd() >> shift;
      lua_pushinteger(L, rnd() & 1 ? (lua_Integer)v : -(lua_Integer)(v >> 1));
    }
  }
}

static double gen_double(void) {
  static const double special[] = {0.0,     -0.0,    INFINITY, -INFINITY, NAN,     0.5,
                                   1.0,     -1.5,    0.1,      1e300,     5e-324,  FLT_MAX,
                                   FLT_MIN, 1e-45,   DBL_MAX,  -DBL_MIN,  3.0e38,  1e39};
  switch (rnd_below(4)) {
    case 0:
      return special[rnd_below(sizeof(special) / sizeof(special[0]))];
    case 1: {
      uint64_t u = rnd(); /* any bit pattern, NaN payloads included */
      double d;
      memcpy(&d, &u, sizeof(d));
      return d;
    }
    case 2:
      return (double)(int32_t)rnd() / 64.0; /* often exact as a single */
    default:
      return (double)(int64_t)rnd() * 1e-10;
  }
}

static void gen_string(lua_State *L) {
  unsigned r = rnd_below(1000), n;
  if (r < 600)
    n = rnd_below(11);
  else if (r < 850)
    n = 50 + rnd_below(21);
  else if (r < 990)
    n = 250 + rnd_below(51);
  else if (r < 998)
    n = 1000 + rnd_below(4000);
  else
    n = 60000 + rnd_below(10001);
  int binary = rnd() & 1;
  for (unsigned i = 0; i < n; i++)
    scratch[i] = binary ? (char)rnd() : (char)('a' + rnd_below(26));
  lua_pushlstring(L, scratch, n);
}

/* Pushes a random non-nil, non-NaN key (NaN and nil cannot index a table). */
static void gen_key(lua_State *L, int depth) {
  switch (rnd_below(10)) {
    case 0:
    case 1:
    case 2:
    case 3:
      gen_string(L);
      return;
    case 4:
    case 5:
      gen_integer(L);
      return;
    case 6:
    case 7: {
      double d = gen_double();
      lua_pushnumber(L, isnan(d) ? 0.25 : d);
      return;
    }
    case 8:
      lua_pushboolean(L, (int)(rnd() & 1));
      return;
    default:
      if (depth < RANDOM_MAX_DEPTH && rnd_below(3) == 0) {
        lua_createtable(L, 0, 0);
        lua_pushinteger(L, (lua_Integer)rnd_below(5));
        lua_rawseti(L, -2, 1);
      } else {
        lua_pushstring(L, "k");
      }
  }
}

static void gen_table(lua_State *L, int depth) {
  unsigned narr = rnd_below(9), nhash = rnd_below(6);
  if (depth <= 2 && rnd_below(40) == 0) narr = 15 + rnd_below(300);
  if (depth <= 1 && rnd_below(40) == 0) nhash = 120 + rnd_below(200);
  lua_createtable(L, (int)narr, (int)nhash);
  int holes = rnd_below(4) == 0;
  for (unsigned i = 1; i <= narr; i++) {
    if (holes && rnd_below(3) == 0) continue;
    gen_value(L, depth + 1, 0);
    lua_rawseti(L, -2, (lua_Integer)i);
  }
  for (unsigned i = 0; i < nhash; i++) {
    gen_key(L, depth + 1);
    gen_value(L, depth + 1, 0);
    lua_rawset(L, -3);
  }
}

/* depth counts the tables enclosing the value; a table is generated only
 * while it keeps the nesting at or below RANDOM_MAX_DEPTH. */
static void gen_value(lua_State *L, int depth, int allow_nil) {
  if (!lua_checkstack(L, 8)) fail("gen: Lua stack overflow");
  unsigned table_weight = depth < RANDOM_MAX_DEPTH ? (unsigned)(RANDOM_MAX_DEPTH - depth) * 6 : 0;
  unsigned r = rnd_below(100 + table_weight);
  if (r < 5) {
    if (allow_nil)
      lua_pushnil(L);
    else
      lua_pushboolean(L, 0);
  } else if (r < 12) {
    lua_pushboolean(L, (int)(rnd() & 1));
  } else if (r < 45) {
    gen_integer(L);
  } else if (r < 65) {
    lua_pushnumber(L, gen_double());
  } else if (r < 100) {
    gen_string(L);
  } else {
    gen_table(L, depth);
  }
}

/* Valid buffers kept for the mutation fuzzer. */
#define CORPUS_MAX 400
static struct {
  unsigned char *buf;
  size_t n;
} corpus[CORPUS_MAX];
static int corpus_n;

static void corpus_add(const void *buf, size_t n) {
  if (corpus_n >= CORPUS_MAX || n > 4096) return;
  corpus[corpus_n].buf = malloc(n);
  if (!corpus[corpus_n].buf) fail("out of memory");
  memcpy(corpus[corpus_n].buf, buf, n);
  corpus[corpus_n++].n = n;
}

static void test_random(lua_State *L) {
  rng_state = 0x5eed5eed12345678ULL;
  size_t total = 0, biggest = 0;
  for (int round = 0; round < RANDOM_ROUNDS; round++) {
    int base = lua_gettop(L);
    int nvals = (int)rnd_below(5);
    if (rnd_below(4) == 0) nvals = 1; /* plenty of single tables */
    for (int i = 0; i < nvals; i++) gen_value(L, 0, 1);
    size_t sz;
    void *buf = shoal_serial_pack(L, base + 1, &sz);
    int n = shoal_serial_unpack(L, buf, sz);
    if (n != nvals) fail("random round %d: %d values in, %d out", round, nvals, n);
    for (int i = 0; i < nvals; i++)
      if (!deep_equal(L, base + 1 + i, base + 1 + nvals + i))
        fail("random round %d: value %d (%s) differs", round, i + 1,
             luaL_typename(L, base + 1 + i));
    if (round % 13 == 0) corpus_add(buf, sz);
    total += sz;
    if (sz > biggest) biggest = sz;
    free(buf);
    lua_settop(L, base);
  }
  printf("test_serial: random: %d rounds, %zu bytes packed, biggest message %zu bytes\n",
         RANDOM_ROUNDS, total, biggest);
}

/* ---- fuzzing ---------------------------------------------------------- */

static void add_fixed_corpus(lua_State *L) {
  static const char *const chunks[] = {
      "return 1, 'a', nil, {x = 1}",
      "return {1, 2, {3, {4, {5}}}, k = {[1.5] = true, [false] = -1e300}}",
      "return ('s'):rep(300), -123456789012, 2^-1074, 0/0",
      "local t = {} for i = 1, 150 do t['k' .. i] = i * 1000 end return t",
      "local t = {} for i = 1, 40 do t[i] = {i, tostring(i)} end return t, {[{}] = {}}",
  };
  for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
    int base = lua_gettop(L);
    if (luaL_loadstring(L, chunks[i]) || lua_pcall(L, 0, LUA_MULTRET, 0))
      fail("corpus: %s", lua_tostring(L, -1));
    size_t sz;
    void *buf = shoal_serial_pack(L, base + 1, &sz);
    corpus_add(buf, sz);
    free(buf);
    lua_settop(L, base);
  }
}

static void test_fuzz(lua_State *L) {
  add_fixed_corpus(L);
  /* Every strict prefix of a valid message is missing at least one byte of
   * its last value, so each one must be rejected. */
  size_t prefixes = 0;
  for (int c = 0; c < corpus_n; c++) {
    for (size_t n = 0; n < corpus[c].n; n++, prefixes++)
      if (try_unpack_copy(L, corpus[c].buf, n, NULL, 0) >= 0)
        fail("prefix %zu of %zu bytes (corpus %d) was accepted", n, corpus[c].n, c);
    if (try_unpack_copy(L, corpus[c].buf, corpus[c].n, NULL, 0) < 0)
      fail("corpus %d no longer unpacks", c);
  }
  /* Random bytes, usually with a small value count so parsing goes deep. */
  unsigned char b[64];
  int ok_random = 0;
  for (int i = 0; i < FUZZ_RANDOM; i++) {
    size_t n = rnd_below(sizeof(b) + 1);
    for (size_t k = 0; k < n; k++) b[k] = (unsigned char)rnd();
    if (n && rnd_below(4) != 0) b[0] = (unsigned char)(1 + rnd_below(3));
    if (try_unpack_copy(L, b, n, NULL, 0) >= 0) ok_random++;
  }
  /* Mutations: flipped bytes, interesting tags, lengths cut or grown. */
  static const unsigned char interesting[] = {0x00, 0x7f, 0x80, 0xbf, 0xc0, 0xce, 0xcf, 0xd0,
                                              0xd6, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xff};
  unsigned char *m = malloc(4096 + 16);
  if (!m) fail("out of memory");
  int ok_mut = 0;
  for (int i = 0; i < FUZZ_MUTATIONS; i++) {
    int c = (int)rnd_below((unsigned)corpus_n);
    size_t n = corpus[c].n;
    memcpy(m, corpus[c].buf, n);
    int edits = 1 + (int)rnd_below(3);
    for (int e = 0; e < edits; e++) {
      size_t at = rnd_below((unsigned)n);
      switch (rnd_below(5)) {
        case 0:
          m[at] ^= (unsigned char)(1u << rnd_below(8));
          break;
        case 1:
          m[at] = interesting[rnd_below(sizeof(interesting))];
          break;
        case 2:
          m[at] = (unsigned char)rnd();
          break;
        case 3:
          n = at + 1; /* cut */
          break;
        default:
          if (n < 4096 + 16) m[n++] = (unsigned char)rnd(); /* trailing byte */
      }
    }
    if (try_unpack_copy(L, m, n, NULL, 0) >= 0) ok_mut++;
  }
  free(m);
  printf("test_serial: fuzz: %zu prefixes rejected; %d/%d random and %d/%d mutated buffers"
         " decoded, the rest rejected, no crash\n",
         prefixes, ok_random, FUZZ_RANDOM, ok_mut, FUZZ_MUTATIONS);
  for (int c = 0; c < corpus_n; c++) free(corpus[c].buf);
  corpus_n = 0;
}

/* ---- timing ----------------------------------------------------------- */

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void bench(lua_State *L) {
  lua_settop(L, 0);
  lua_pushstring(L, "ping");
  lua_pushinteger(L, 12345);
  size_t sz = 0;
  double t0 = now_ns();
  for (int i = 0; i < BENCH_LOOPS; i++) {
    void *buf = shoal_serial_pack(L, 1, &sz);
    shoal_serial_unpack(L, buf, sz);
    lua_settop(L, 2);
    free(buf);
  }
  double t1 = now_ns();
  void *buf = shoal_serial_pack(L, 1, &sz);
  double t2 = now_ns();
  for (int i = 0; i < BENCH_LOOPS; i++) {
    shoal_serial_unpack(L, buf, sz);
    lua_settop(L, 2);
  }
  double t3 = now_ns();
  free(buf);
  printf("test_serial: bench ('ping', 12345), %zu bytes: pack+unpack %.1f ns/op"
         " (unpack alone %.1f ns/op)\n",
         sz, (t1 - t0) / BENCH_LOOPS, (t3 - t2) / BENCH_LOOPS);
  lua_settop(L, 0);
  t0 = now_ns();
  run_lua(L, "bench lua",
          "local ps, us = serial.packstring, serial.unpackstring"
          " for i = 1, 1000000 do us(ps('ping', 12345)) end");
  t1 = now_ns();
  printf("test_serial: bench from Lua: unpackstring(packstring('ping', 12345)) %.1f ns/op\n",
         (t1 - t0) / 1e6);
}

int main(void) {
  lua_State *L = luaL_newstate();
  if (!L) fail("cannot create a Lua state");
  luaL_openlibs(L);
  luaL_requiref(L, "shoal.serial", luaopen_shoal_serial, 0);
  lua_setglobal(L, "serial");

  test_format(L);
  test_edge_cases(L);
  test_module(L);
  test_errors(L);
  test_unpack_errors(L);
  test_random(L);
  test_fuzz(L);
  if (lua_gettop(L) != 0) fail("Lua stack not balanced: %d slots left", lua_gettop(L));
  if (shoal_serial_get_limit() != SHOAL_SERIAL_DEFAULT_LIMIT) fail("limit not restored");
  bench(L);

  lua_close(L);
  printf("test_serial: OK\n");
  return 0;
}
