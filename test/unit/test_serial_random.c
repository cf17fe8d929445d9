/*
 * test_serial_random.c - the serializer against generated input: a seeded
 * random round trip of nested values checked by a C deep-equality, then
 * unpack fed every truncated prefix of valid messages, random bytes and
 * mutations of valid messages (it must reject or decode, never crash).
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

/* Under TSan every Lua error (longjmp through Debian's fortified
 * __longjmp_chk, which clang 14's TSan does not intercept) leaks TSan's
 * bookkeeping; the error-heavy fuzz loops then crawl and eventually crash
 * TSan. This test is single-threaded, so TSan adds nothing: run fewer. */
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

int main(void) {
  lua_State *L = serial_check_state();
  test_random(L);
  test_fuzz(L);
  if (lua_gettop(L) != 0) fail("Lua stack not balanced: %d slots left", lua_gettop(L));
  lua_close(L);
  printf("test_serial_random: OK\n");
  return 0;
}
