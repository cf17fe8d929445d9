/*
 * test_serial_hostile.c - unpack against messages built to cost memory:
 * table counts that the bytes cannot back, nested tables that each claim
 * the whole rest of the buffer, messages that decode to many times their
 * size, and random messages full of large counts. Decoding runs in a state
 * whose allocator records its peak, so the test sees what a message really
 * cost, not only whether it was refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "serial.h"
#include "serial_check.h"

/* TSan adds nothing to this single-threaded test and crawls on the Lua
 * errors (see test_serial_random.c): run fewer fuzz rounds there. */
#ifdef UNDER_TSAN
#define FUZZ_ROUNDS 300
#else
#define FUZZ_ROUNDS 3000
#endif

#define MB (1024u * 1024u)

/* ---- a state that meters its memory ------------------------------------ */

struct meter {
  size_t used;  /* bytes allocated now */
  size_t peak;  /* most bytes allocated at once since the last reset */
  size_t limit; /* refuse to grow past this (0: no limit), like snlua */
};

static void *meter_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  struct meter *m = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    m->used -= old;
    return NULL;
  }
  if (nsize > old && m->limit && m->used + (nsize - old) > m->limit) return NULL;
  void *p = realloc(ptr, nsize);
  if (p == NULL) return NULL;
  m->used = m->used + nsize - old;
  if (m->used > m->peak) m->peak = m->used;
  return p;
}

static size_t meter_memlimit(void *ud) { return ((struct meter *)ud)->limit; }

static lua_State *meter_state(struct meter *m) {
  memset(m, 0, sizeof(*m));
  lua_State *L = lua_newstate(meter_alloc, m);
  if (!L) fail("cannot create a Lua state");
  luaL_openlibs(L);
  return L;
}

/* Starts a measurement: no garbage left, the peak is where we are. */
static size_t meter_reset(lua_State *L, struct meter *m) {
  lua_gc(L, LUA_GCCOLLECT);
  m->peak = m->used;
  return m->used;
}

/* ---- message building ---------------------------------------------------- */

struct msg {
  unsigned char *b;
  size_t n, cap;
};

static void put(struct msg *m, unsigned char c) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 256;
    m->b = realloc(m->b, m->cap);
    if (!m->b) fail("out of memory");
  }
  m->b[m->n++] = c;
}

static void put_varint(struct msg *m, uint64_t v) {
  while (v >= 0x80) {
    put(m, (unsigned char)(v | 0x80));
    v >>= 7;
  }
  put(m, (unsigned char)v);
}

/* Unpacks and checks that it fails with every word of `words` in the
 * error; returns the peak growth of the state's memory while it ran. */
static size_t expect_refused(lua_State *L, struct meter *m, const char *what, const struct msg *msg,
                             const char *const *words) {
  size_t base = meter_reset(L, m);
  char err[512];
  if (try_unpack(L, msg->b, msg->n, err, sizeof(err)) >= 0) fail("%s: unpacked, expected a refusal", what);
  for (const char *const *w = words; *w; w++)
    if (!strstr(err, *w)) fail("%s: error \"%s\" lacks \"%s\"", what, err, *w);
  return m->peak - base;
}
#define EXPECT_REFUSED(L, m, what, msg, ...) expect_refused(L, m, what, msg, (const char *const[]){__VA_ARGS__, NULL})

/* ---- cases ---------------------------------------------------------------- */

/* 64 tables nested in one another, each claiming as many array items as
 * there are bytes after its header (each claim alone looks possible). The
 * counts of the outer tables are owed to their other items, so the second
 * level is refused: the message presizes one table, not 64. Before, each
 * level was presized from the whole rest of the buffer: 64 x 16 bytes per
 * byte of message. */
static void test_nested_claims(lua_State *L, struct meter *m) {
  const size_t size = 256 * 1024;
  struct msg msg = {0};
  put(&msg, 1);
  for (int level = 0; level < 64; level++) {
    size_t header = 1 + 3 + 1; /* tag, a 3-byte varint, empty hash count */
    size_t rest = size - msg.n - header;
    put(&msg, 0xcf);
    put(&msg, (unsigned char)(rest | 0x80)); /* rest < 2^21: three bytes */
    put(&msg, (unsigned char)((rest >> 7) | 0x80));
    put(&msg, (unsigned char)(rest >> 14));
    put(&msg, 0x00);
  }
  while (msg.n < size) put(&msg, 0x00); /* integer 0: one byte an item */
  m->limit = m->used + 64 * MB; /* a backstop: 64 levels presized would take 256 MB */
  size_t grew = EXPECT_REFUSED(L, m, "nested claims", &msg, "unserialize:", "table size exceeds the buffer");
  /* one presized table of ~256 K slots (4 MB) and the stack; not 64 of them */
  if (grew > 6 * MB) fail("nested claims: decoding took %zu bytes for a %zu-byte message", grew, size);
  m->limit = 0;
  free(msg.b);
}

/* Counts beyond the bytes are refused before any allocation. */
static void test_huge_counts(lua_State *L, struct meter *m) {
  struct msg msg = {0};
  put(&msg, 1);
  put(&msg, 0xcf);
  put_varint(&msg, (uint64_t)1 << 40); /* a terabyte of slots */
  put(&msg, 0);
  for (int i = 0; i < 64; i++) put(&msg, 0);
  size_t grew = EXPECT_REFUSED(L, m, "huge array count", &msg, "table size exceeds the buffer");
  if (grew > 64 * 1024) fail("huge array count: %zu bytes allocated before the refusal", grew);
  msg.n = 0;
  put(&msg, 1);
  put(&msg, 0xc0);
  put_varint(&msg, ((uint64_t)1 << 62) + 5); /* hash pairs: overflows 2 * count in 64 bits */
  for (int i = 0; i < 64; i++) put(&msg, 0);
  EXPECT_REFUSED(L, m, "huge hash count", &msg, "table size exceeds the buffer");
  free(msg.b);
}

/* An array of n empty tables: 2 bytes each on the wire, ~72 bytes each in
 * Lua (the table and its slot): a message that is honest about its counts
 * but decodes to 36 times its size. */
static void empty_tables(struct msg *msg, size_t n) {
  msg->n = 0;
  put(msg, 1);
  put(msg, 0xcf);
  put_varint(msg, n);
  put(msg, 0);
  for (size_t i = 0; i < n; i++) {
    put(msg, 0xc0);
    put(msg, 0x00);
  }
}

/* Without a memlimit, one message may take the unpack budget; past it the
 * message is refused while decoding, and the state is not left holding
 * more than the budget (plus one measuring step). */
static void test_budget(lua_State *L, struct meter *m) {
  struct msg msg = {0};
  m->limit = 0;
  shoal_serial_set_unpack_budget(4 * MB);
  empty_tables(&msg, 200000); /* 400 KB, ~14 MB in Lua */
  size_t grew = EXPECT_REFUSED(L, m, "over the budget", &msg, "not enough memory", "4.0 MB", "without memlimit");
  if (grew > 4 * MB + 256 * 1024) fail("over the budget: decoding took %zu bytes, budget 4 MB", grew);
  empty_tables(&msg, 20000); /* ~1.4 MB in Lua: fits */
  if (try_unpack(L, msg.b, msg.n, NULL, 0) != 1) fail("a message within the budget was refused");
  shoal_serial_set_unpack_budget(SHOAL_SERIAL_DEFAULT_UNPACK_BUDGET);
  empty_tables(&msg, 200000);
  if (try_unpack(L, msg.b, msg.n, NULL, 0) != 1) fail("the default budget refused a 14 MB message");
  free(msg.b);
}

/* With the host's memlimit registered, decoding is bounded by the room the
 * state has left, refused with a clear error before the allocator would
 * have to refuse; the state goes on working. */
static void test_memlimit(lua_State *L, struct meter *m) {
  struct msg msg = {0};
  shoal_serial_set_memlimit_fn(meter_alloc, meter_memlimit);
  size_t base = meter_reset(L, m);
  m->limit = base + 8 * MB; /* larger than the budget: the memlimit rules */
  shoal_serial_set_unpack_budget(2 * MB);
  empty_tables(&msg, 200000);
  size_t grew = EXPECT_REFUSED(L, m, "over the memlimit", &msg, "not enough memory", "memlimit");
  if (grew > 8 * MB) fail("over the memlimit: %zu bytes", grew);
  empty_tables(&msg, 50000); /* ~3.6 MB: over the budget, under the memlimit */
  if (try_unpack(L, msg.b, msg.n, NULL, 0) != 1) fail("a message within the memlimit was refused");
  /* one huge presized table is refused before it is allocated */
  msg.n = 0;
  put(&msg, 1);
  put(&msg, 0xcf);
  put_varint(&msg, 1000000); /* 16 MB of slots, backed by 1 MB of bytes */
  put(&msg, 0);
  for (int i = 0; i < 1000000; i++) put(&msg, 0);
  grew = EXPECT_REFUSED(L, m, "presize over the memlimit", &msg, "not enough memory", "memlimit");
  if (grew > 256 * 1024) fail("presize over the memlimit: %zu bytes allocated before the refusal", grew);
  lua_pushinteger(L, 42);
  size_t sz;
  void *buf = shoal_serial_pack(L, -1, &sz);
  lua_pop(L, 1);
  if (try_unpack(L, buf, sz, NULL, 0) != 1) fail("the state does not unpack after the refusals");
  free(buf);
  shoal_serial_set_unpack_budget(SHOAL_SERIAL_DEFAULT_UNPACK_BUDGET);
  shoal_serial_set_memlimit_fn(NULL, NULL);
  m->limit = 0;
  free(msg.b);
}

/* Random messages whose tables claim large counts (often the whole rest
 * of the buffer), nested, with random items, mixed with honest tables full
 * of empty tables (the costliest valid content): each must decode or be
 * refused, and never cost more than 48 bytes of Lua memory per byte of
 * message (the worst is a hash pair of two empty tables: 4 bytes, two
 * tables of 56 and two nodes of 24, so 40 a byte). */
static void gen_honest(struct msg *msg, int depth);

static void gen_item(struct msg *msg, int depth) {
  switch (rnd_below(6)) {
    case 0:
    case 1:
      put(msg, 0xc0); /* an empty table */
      put(msg, 0x00);
      break;
    case 2:
      if (depth < 2) { /* at most ~1000 * 40 * 40 items in all */
        gen_honest(msg, depth + 1);
        break;
      }
      /* fall through */
    case 3: {
      unsigned len = rnd_below(8);
      put(msg, (unsigned char)(0x80 | len));
      for (unsigned i = 0; i < len; i++) put(msg, (unsigned char)('a' + rnd_below(26)));
      break;
    }
    default:
      put(msg, (unsigned char)rnd_below(128)); /* a small integer */
  }
}

/* A table whose counts are true: narr items, nhash pairs with distinct
 * integer keys. */
static void gen_honest(struct msg *msg, int depth) {
  unsigned narr = rnd_below(depth == 0 ? 1000 : 40), nhash = rnd_below(depth == 0 ? 200 : 6);
  put(msg, 0xcf);
  put_varint(msg, narr);
  put_varint(msg, nhash);
  for (unsigned i = 0; i < narr; i++) gen_item(msg, depth);
  for (unsigned i = 0; i < nhash; i++) {
    put(msg, 0xd5); /* int32 key: 1000000 + i, distinct from the array part */
    uint32_t key = 1000000u + i;
    for (int b = 0; b < 4; b++) put(msg, (unsigned char)(key >> (8 * b)));
    gen_item(msg, depth);
  }
}

static void gen_hostile(struct msg *msg, size_t target, int depth) {
  while (msg->n < target) {
    unsigned k = rnd_below(10);
    if (k < 4 && depth < 64) {
      size_t left = target - msg->n;
      uint64_t narr = rnd_below(4) == 0 ? rnd() % (left + 1) : left - rnd_below((unsigned)(left < 8 ? left + 1 : 8));
      uint64_t nhash = rnd_below(3) == 0 ? rnd() % (left / 2 + 1) : 0;
      put(msg, 0xcf);
      put_varint(msg, narr);
      put_varint(msg, nhash);
      if (rnd_below(2)) gen_hostile(msg, msg->n + rnd_below((unsigned)left + 1), depth + 1);
    } else if (k < 6) {
      put(msg, (unsigned char)(0xc0 + rnd_below(15)));
      put(msg, (unsigned char)rnd_below(3));
    } else if (k < 8) {
      unsigned len = rnd_below(64);
      put(msg, (unsigned char)(0x80 | len));
      for (unsigned i = 0; i < len; i++) put(msg, (unsigned char)rnd());
    } else {
      put(msg, (unsigned char)rnd());
    }
  }
}

static void test_fuzz(lua_State *L, struct meter *m) {
  struct msg msg = {0};
  m->limit = 0;
  rng_state = 0x5eed5eedULL;
  int decoded = 0, refused = 0;
  for (int round = 0; round < FUZZ_ROUNDS; round++) {
    msg.n = 0;
    if (round % 2) {
      put(&msg, 1);
      gen_honest(&msg, 0);
    } else {
      size_t target = 16 + rnd_below(round % 10 == 0 ? 256 * 1024 : 8 * 1024);
      put(&msg, (unsigned char)(1 + rnd_below(3)));
      gen_hostile(&msg, target, 0);
    }
    size_t base = meter_reset(L, m);
    int n = try_unpack_copy(L, msg.b, msg.n, NULL, 0);
    if (n >= 0) decoded++;
    else refused++;
    size_t grew = m->peak - base;
    if (grew > 48 * msg.n + 64 * 1024)
      fail("fuzz round %d (seed 0x5eed5eed): a %zu-byte message took %zu bytes", round, msg.n, grew);
  }
  if (refused == 0) fail("fuzz: no message was refused: the generator is not hostile");
  if (decoded < FUZZ_ROUNDS / 3) fail("fuzz: only %d messages decoded: the honest ones should", decoded);
  printf("test_serial_hostile: fuzz %d rounds: %d decoded, %d refused\n", FUZZ_ROUNDS, decoded, refused);
  free(msg.b);
}

int main(void) {
  struct meter m;
  lua_State *L = meter_state(&m);
  test_huge_counts(L, &m);
  test_nested_claims(L, &m);
  test_budget(L, &m);
  test_memlimit(L, &m);
  test_fuzz(L, &m);
  if (lua_gettop(L) != 0) fail("Lua stack not balanced: %d slots left", lua_gettop(L));
  lua_close(L);
  printf("test_serial_hostile: OK\n");
  return 0;
}
