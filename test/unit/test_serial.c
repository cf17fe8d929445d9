/*
 * test_serial.c - unit test for lualib/src/serial.c: round trips of every
 * value kind and edge case, the exact encoding, the Lua module, and the
 * error cases (with a leak check where the allocator allows it). Random
 * round trips and fuzzing are in test_serial_random.c. Exits 0 on success;
 * the first failure prints what went wrong and exits 1. The timing at the
 * end is informational only.
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

#define BENCH_LOOPS 1000000

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
    deep[1 + 2 * (levels - 1)] = 0xc0; /* the innermost table is empty (written as n - 2, gcc -O3 warns) */
    if (levels == 64) {
      if (try_unpack_copy(L, deep, n, NULL, 0) != 1) fail("64 nested tables did not unpack");
    } else {
      expect_unpack_error(L, "too deep", deep, n, "nested too deep");
    }
  }
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
  lua_State *L = serial_check_state();
  test_format(L);
  test_edge_cases(L);
  test_module(L);
  test_errors(L);
  test_unpack_errors(L);
  if (lua_gettop(L) != 0) fail("Lua stack not balanced: %d slots left", lua_gettop(L));
  if (shoal_serial_get_limit() != SHOAL_SERIAL_DEFAULT_LIMIT) fail("limit not restored");
  bench(L);
  lua_close(L);
  printf("test_serial: OK\n");
  return 0;
}
