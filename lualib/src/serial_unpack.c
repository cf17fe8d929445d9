/*
 * serial_unpack.c - unpack for the serializer (see serial.h): decoding
 * bounded in bytes (never reads past the buffer) and in memory (table
 * counts trusted only as far as the bytes back them; what a message
 * allocates bounded by the state's memlimit or the unpack budget).
 */
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "serial.h"
#include "serial_int.h"

static _Atomic size_t unpack_budget = SHOAL_SERIAL_DEFAULT_UNPACK_BUDGET;
/* The host's allocator and the memory limit of a state it serves. */
static _Atomic(lua_Alloc) memlimit_alloc;
static _Atomic(shoal_serial_memlimit_fn) memlimit_fn;

void shoal_serial_set_unpack_budget(size_t budget) {
  atomic_store_explicit(&unpack_budget, budget, memory_order_relaxed);
}

size_t shoal_serial_get_unpack_budget(void) {
  return atomic_load_explicit(&unpack_budget, memory_order_relaxed);
}

void shoal_serial_set_memlimit_fn(lua_Alloc alloc, shoal_serial_memlimit_fn fn) {
  atomic_store_explicit(&memlimit_fn, fn, memory_order_relaxed);
  atomic_store_explicit(&memlimit_alloc, alloc, memory_order_release);
}

/* ---- unpack ----------------------------------------------------------- */

/* What decoding allocates in Lua 5.4 on 64-bit (sizeof Table, TValue,
 * Node, TString + terminator). Only an estimate that triggers measuring:
 * the budget is checked against the state's real use (lua_gc). */
#define COST_TABLE 56
#define COST_SLOT 16
#define COST_NODE 24
#define COST_STRING 25
/* Estimated bytes decoded between two measurements of the state's memory:
 * messages smaller than this never measure (the common case costs two
 * additions a table or string), and no check is off by more than this. */
#define MEASURE_EVERY (64u * 1024u)

struct reader {
  lua_State *L;
  const unsigned char *start; /* for error offsets */
  const unsigned char *p;     /* next byte to read */
  const unsigned char *end;   /* one past the last byte */
  int depth;                  /* tables currently open */
  /* Bytes the values not read yet still need: one per value, two per
   * key/value pair, of the open tables and the top level. A table's counts
   * must fit in what is left after them, so the counts of all tables
   * together never claim more slots than the buffer has bytes. */
  size_t owed;
  size_t spent;     /* estimated Lua bytes allocated so far */
  size_t credit;    /* estimated bytes that may be allocated before measuring again */
  size_t mem_limit; /* total Lua memory of the state decoding may reach; 0: not known yet */
  int by_memlimit;  /* mem_limit is the state's memlimit, not the budget */
  int collected;    /* a full collection was tried to make room */
};

__attribute__((noreturn)) static void unpack_fail(struct reader *r, const char *what) {
  luaL_error(r->L, "unserialize: %s at byte %d", what, (int)(r->p - r->start));
  __builtin_unreachable();
}

static inline size_t remaining(const struct reader *r) { return (size_t)(r->end - r->p); }

static inline uint64_t load_le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static inline uint64_t read_fixed(struct reader *r, int n) {
  if (remaining(r) < (size_t)n) unpack_fail(r, "truncated number");
  uint64_t v = load_le(r->p, n);
  r->p += n;
  return v;
}

static uint64_t read_varint(struct reader *r) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    if (r->p >= r->end) unpack_fail(r, "truncated length");
    unsigned c = *r->p++;
    if (shift == 63 && c > 1) unpack_fail(r, "length overflow");
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
  }
}

/* Bytes of Lua memory the state uses now, or -1 when the collector cannot
 * say (it is running, e.g. decoding in a __gc metamethod). */
static long long lua_bytes(lua_State *L) {
  int kb = lua_gc(L, LUA_GCCOUNT);
  int b = lua_gc(L, LUA_GCCOUNTB);
  return kb < 0 || b < 0 ? -1 : (long long)kb * 1024 + b;
}

/* The memory limit of L's host (shoal_serial_set_memlimit_fn), 0: none. */
static size_t state_memlimit(lua_State *L) {
  lua_Alloc host = atomic_load_explicit(&memlimit_alloc, memory_order_acquire);
  void *ud;
  if (host == NULL || lua_getallocf(L, &ud) != host) return 0;
  shoal_serial_memlimit_fn fn = atomic_load_explicit(&memlimit_fn, memory_order_relaxed);
  return fn ? fn(ud) : 0;
}

/* "512 B", "27.4 KB", "4.6 MB" */
static const char *human_size(char *out, size_t room, size_t bytes) {
  if (bytes < 1024) snprintf(out, room, "%zu B", bytes);
  else if (bytes < 1024 * 1024) snprintf(out, room, "%.1f KB", (double)bytes / 1024.0);
  else snprintf(out, room, "%.1f MB", (double)bytes / 1048576.0);
  return out;
}

__attribute__((noreturn)) static void memory_fail(struct reader *r, size_t used, size_t cost) {
  char a[32], b[32], c[32];
  /* "not enough memory", as when the allocator refuses, but said before
   * allocating and naming the bound. */
  char msg[256]; /* lua_pushfstring has no %.1f */
  if (r->by_memlimit)
    snprintf(msg, sizeof(msg),
             "unserialize: not enough memory: the message needs more than the service's memlimit allows "
             "(at byte %d: %s in use, %s more needed, memlimit %s)",
             (int)(r->p - r->start), human_size(a, sizeof(a), used), human_size(b, sizeof(b), cost),
             human_size(c, sizeof(c), state_memlimit(r->L)));
  else
    snprintf(msg, sizeof(msg),
             "unserialize: not enough memory: the message needs more than %s of Lua memory (at byte %d; "
             "the most one message may take in a service without memlimit)",
             human_size(a, sizeof(a), shoal_serial_get_unpack_budget()), (int)(r->p - r->start));
  luaL_error(r->L, "%s", msg);
  __builtin_unreachable();
}

/* The slow path of charge: measures the state and checks that cost more
 * bytes stay under the limit, which the first call works out. */
__attribute__((noinline)) static void charge_measured(struct reader *r, size_t cost) {
  long long m = lua_bytes(r->L);
  if (r->mem_limit == 0) {
    size_t limit = state_memlimit(r->L);
    r->by_memlimit = limit != 0;
    if (limit) {
      /* Stop short of the memlimit: the collector and the error path need
       * some room too, and the refusal should be this clear one, not the
       * allocator's. */
      limit -= limit / 8 < MEASURE_EVERY ? limit / 8 : MEASURE_EVERY;
    } else {
      /* The budget counts from where the state was when decoding began. */
      size_t base = m >= 0 && (size_t)m > r->spent ? (size_t)m - r->spent : 0;
      size_t budget = shoal_serial_get_unpack_budget();
      limit = base + budget < base ? SIZE_MAX : base + budget;
    }
    r->mem_limit = limit ? limit : 1;
  }
  size_t used = m >= 0 ? (size_t)m : r->spent; /* not measurable: trust the estimate */
  if ((used > r->mem_limit || cost > r->mem_limit - used) && r->by_memlimit && !r->collected) {
    /* What Lua does when the allocator refuses: collect, then try again.
     * The garbage of earlier messages may be what fills the room; what
     * this message decoded so far is on the stack, so it stays. */
    r->collected = 1;
    lua_gc(r->L, LUA_GCCOLLECT);
    m = lua_bytes(r->L);
    if (m >= 0) used = (size_t)m;
  }
  if (used > r->mem_limit || cost > r->mem_limit - used) memory_fail(r, used, cost);
  size_t room = r->mem_limit - used - cost;
  r->credit = room < MEASURE_EVERY ? room : MEASURE_EVERY;
  r->spent += cost;
}

/* Accounts for cost bytes about to be allocated; raises when they would
 * take the state past its memlimit or the message past the budget. */
static inline void charge(struct reader *r, size_t cost) {
  if (cost <= r->credit) {
    r->credit -= cost;
    r->spent += cost;
    return;
  }
  charge_measured(r, cost);
}

/* One more value read: it takes at least the byte its tag is. */
static inline void pay(struct reader *r) { r->owed--; }

static inline void read_string(struct reader *r, uint64_t n) {
  if (n > remaining(r)) unpack_fail(r, "truncated string");
  charge(r, COST_STRING + (size_t)n);
  lua_pushlstring(r->L, (const char *)r->p, (size_t)n);
  r->p += n;
}

static void read_value(struct reader *r);

static void read_table(struct reader *r, uint64_t narr) {
  lua_State *L = r->L;
  if (r->depth >= SHOAL_SERIAL_MAX_DEPTH) unpack_fail(r, "tables nested too deep");
  uint64_t nhash = read_varint(r);
  /* Every item takes at least one byte and every pair two, in what is left
   * after the items still owed to the enclosing tables; counts that cannot
   * fit are rejected before allocating. So tables nested in one another
   * cannot each claim the same bytes (64 levels claiming 1 M slots each in
   * a 1 MB message), and the slots of all tables add up to at most the
   * message's size. */
  size_t rest = remaining(r);
  size_t free_bytes = rest > r->owed ? rest - r->owed : 0;
  if (narr > free_bytes || nhash > (free_bytes - narr) / 2) unpack_fail(r, "table size exceeds the buffer");
  size_t hash_nodes = nhash > 0 ? 1 : 0; /* Lua sizes the hash part to a power of two */
  while (hash_nodes < nhash) hash_nodes <<= 1;
  charge(r, COST_TABLE + (size_t)narr * COST_SLOT + hash_nodes * COST_NODE);
  r->owed += (size_t)narr + 2 * (size_t)nhash;
  lua_createtable(L, narr > INT_MAX ? INT_MAX : (int)narr, nhash > INT_MAX ? INT_MAX : (int)nhash);
  r->depth++;
  for (uint64_t i = 1; i <= narr; i++) {
    pay(r);
    read_value(r);
    lua_rawseti(L, -2, (lua_Integer)i);
  }
  for (uint64_t i = 0; i < nhash; i++) {
    pay(r);
    read_value(r);
    int kt = lua_type(L, -1);
    if (kt == LUA_TNIL) unpack_fail(r, "nil table key");
    if (kt == LUA_TNUMBER && !lua_isinteger(L, -1) && isnan(lua_tonumber(L, -1)))
      unpack_fail(r, "NaN table key");
    pay(r);
    read_value(r);
    lua_rawset(L, -3);
  }
  r->depth--;
}

static void read_value(struct reader *r) {
  lua_State *L = r->L;
  if (r->p >= r->end) unpack_fail(r, "truncated value");
  unsigned tag = *r->p++;
  if (tag <= SERIAL_FIXINT_MAX) {
    lua_pushinteger(L, (lua_Integer)tag);
    return;
  }
  if (tag >= SERIAL_TAG_NEGFIX) {
    lua_pushinteger(L, (lua_Integer)tag - 256);
    return;
  }
  if (tag < SERIAL_TAG_FIXTABLE) {
    read_string(r, tag & SERIAL_FIXSTR_MAX);
    return;
  }
  if (tag < SERIAL_TAG_TABLE) {
    read_table(r, tag & 0x0f);
    return;
  }
  switch (tag) {
    case SERIAL_TAG_TABLE:
      read_table(r, read_varint(r));
      return;
    case SERIAL_TAG_NIL:
      lua_pushnil(L);
      return;
    case SERIAL_TAG_FALSE:
      lua_pushboolean(L, 0);
      return;
    case SERIAL_TAG_TRUE:
      lua_pushboolean(L, 1);
      return;
    case SERIAL_TAG_INT8:
      lua_pushinteger(L, (int8_t)read_fixed(r, 1));
      return;
    case SERIAL_TAG_INT16:
      lua_pushinteger(L, (int16_t)read_fixed(r, 2));
      return;
    case SERIAL_TAG_INT32:
      lua_pushinteger(L, (int32_t)read_fixed(r, 4));
      return;
    case SERIAL_TAG_INT64:
      lua_pushinteger(L, (lua_Integer)read_fixed(r, 8));
      return;
    case SERIAL_TAG_FLOAT32: {
      uint32_t u = (uint32_t)read_fixed(r, 4);
      float f;
      memcpy(&f, &u, sizeof(f));
      lua_pushnumber(L, (lua_Number)f);
      return;
    }
    case SERIAL_TAG_FLOAT64: {
      uint64_t u = read_fixed(r, 8);
      double d;
      memcpy(&d, &u, sizeof(d));
      lua_pushnumber(L, (lua_Number)d);
      return;
    }
    case SERIAL_TAG_STR8:
      read_string(r, read_fixed(r, 1));
      return;
    case SERIAL_TAG_STR16:
      read_string(r, read_fixed(r, 2));
      return;
    case SERIAL_TAG_STR32:
      read_string(r, read_fixed(r, 4));
      return;
    case SERIAL_TAG_STR64:
      read_string(r, read_fixed(r, 8));
      return;
    default:
      r->p--;
      unpack_fail(r, "unknown tag");
  }
}

int shoal_serial_unpack(lua_State *L, const void *buf, size_t sz) {
  /* NULL + 0 is undefined in C, so an absent buffer reads as empty. */
  static const unsigned char empty[1];
  struct reader r;
  r.L = L;
  r.start = r.p = buf ? buf : empty;
  r.end = r.p + (buf ? sz : 0);
  r.depth = 0;
  r.spent = 0;
  r.credit = MEASURE_EVERY;
  r.mem_limit = 0;
  r.by_memlimit = 0;
  r.collected = 0;
  uint64_t n = read_varint(&r);
  /* Each value takes at least a byte; this also bounds n for the int cast. */
  if (n > remaining(&r)) unpack_fail(&r, "value count exceeds the buffer");
  if (n > INT_MAX - 256 ||
      !lua_checkstack(L, (int)n + SERIAL_STACK_PER_LEVEL * (SHOAL_SERIAL_MAX_DEPTH + 1) + 4))
    unpack_fail(&r, "too many values for the Lua stack");
  charge(&r, (size_t)n * COST_SLOT); /* the stack slots just grown */
  r.owed = (size_t)n;
  for (uint64_t i = 0; i < n; i++) {
    pay(&r);
    read_value(&r);
  }
  if (r.p != r.end) unpack_fail(&r, "trailing garbage");
  return (int)n;
}

