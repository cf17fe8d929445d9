/*
 * serial.c - fast binary serializer for Lua values (see serial.h): pack,
 * the process-wide size limit and the Lua module; unpack is in
 * serial_unpack.c, the wire format in serial_int.h.
 *
 * Known limits: the array part is 1..lua_rawlen(t), so a sparse array whose
 * border is far out costs one byte per nil up to that border; keys are
 * written in lua_next order, so equal tables may encode differently.
 */
#include "serial.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "serial_int.h"

/* Small messages (the vast majority) never touch the heap until the final
 * exact-size copy. */
#define PACK_STACK_BUF 256

static _Atomic size_t serial_limit = SHOAL_SERIAL_DEFAULT_LIMIT;

void shoal_serial_set_limit(size_t limit) {
  atomic_store_explicit(&serial_limit, limit, memory_order_relaxed);
}

size_t shoal_serial_get_limit(void) {
  return atomic_load_explicit(&serial_limit, memory_order_relaxed);
}

/* ---- pack ------------------------------------------------------------- */

struct pack_level {
  const void *table; /* identity of the table being walked, for cycle checks */
  int key;           /* stack index of the current hash key, 0 in the array part */
  lua_Integer index; /* current array index while key is 0 */
};

struct packer {
  lua_State *L;
  unsigned char *buf; /* stackbuf or a malloc'ed block (heap != 0) */
  size_t len;         /* bytes written */
  size_t cap;         /* bytes available in buf, never above limit */
  size_t limit;       /* snapshot of the process-wide limit */
  int heap;           /* buf is malloc'ed and must be freed on error */
  int from;           /* first packed stack index, for argument numbers */
  int arg;            /* stack index of the argument being packed */
  int depth;          /* tables currently being walked; level[1..depth] valid */
  struct pack_level level[SHOAL_SERIAL_MAX_DEPTH + 1];
  unsigned char stackbuf[PACK_STACK_BUF];
};

/* Appends a readable form of the key at one level to out. Only strings and
 * numbers are shown literally; lua_tolstring is never called on a number
 * key because that would convert it in place and break lua_next. */
static size_t describe_level(struct packer *b, int d, char *out, size_t room) {
  lua_State *L = b->L;
  struct pack_level *lv = &b->level[d];
  if (lv->key == 0) return (size_t)snprintf(out, room, "[%lld]", (long long)lv->index);
  switch (lua_type(L, lv->key)) {
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, lv->key, &n);
      char clean[41];
      size_t k = n < sizeof(clean) - 1 ? n : sizeof(clean) - 1;
      for (size_t i = 0; i < k; i++) clean[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
      clean[k] = '\0';
      return (size_t)snprintf(out, room, "'%s%s'", clean, n > k ? "..." : "");
    }
    case LUA_TNUMBER:
      if (lua_isinteger(L, lv->key))
        return (size_t)snprintf(out, room, "[%lld]", (long long)lua_tointeger(L, lv->key));
      return (size_t)snprintf(out, room, "[%.17g]", (double)lua_tonumber(L, lv->key));
    case LUA_TBOOLEAN:
      return (size_t)snprintf(out, room, "[%s]", lua_toboolean(L, lv->key) ? "true" : "false");
    default:
      return (size_t)snprintf(out, room, "[%s]", lua_typename(L, lua_type(L, lv->key)));
  }
}

/* Raises "serialize: <what> (argument N, key a > b)" after freeing the
 * buffer. The message is built in a C array first: pushing it with Lua
 * could itself fail and longjmp past the free. */
__attribute__((noreturn, format(printf, 3, 4))) static void pack_fail(struct packer *b, int levels,
                                                                      const char *fmt, ...) {
  char msg[512];
  size_t n = 0, room = sizeof(msg);
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(msg, room, fmt, ap);
  va_end(ap);
  if (w > 0) n = (size_t)w < room ? (size_t)w : room - 1;
  if (b->arg > 0 && n < room) {
    w = snprintf(msg + n, room - n, " (argument %d", b->arg - b->from + 1);
    if (w > 0) n += (size_t)w;
    for (int d = 1; d <= levels && n < room; d++) {
      w = snprintf(msg + n, room - n, d == 1 ? ", key " : " > ");
      if (w > 0) n += (size_t)w;
      if (n < room) n += describe_level(b, d, msg + n, room - n);
    }
    if (n < room) snprintf(msg + n, room - n, ")");
  }
  if (b->heap) free(b->buf);
  b->buf = NULL;
  luaL_error(b->L, "%s", msg);
  __builtin_unreachable();
}

/* Makes room for n more bytes, doubling up to the limit. The capacity never
 * exceeds the limit, so this is the only place the limit is checked. */
__attribute__((noinline)) static void pack_grow(struct packer *b, size_t n) {
  if (n > b->limit || b->len > b->limit - n) {
    size_t need = n > SIZE_MAX - b->len ? SIZE_MAX : b->len + n;
    pack_fail(b, 0, "serialize: message of at least %zu bytes exceeds the limit of %zu bytes", need,
              b->limit);
  }
  size_t need = b->len + n;
  size_t cap = b->cap > SIZE_MAX / 2 ? SIZE_MAX : b->cap * 2;
  if (cap < need) cap = need;
  if (cap > b->limit) cap = b->limit;
  unsigned char *p;
  if (b->heap) {
    p = realloc(b->buf, cap);
  } else {
    p = malloc(cap);
    if (p) memcpy(p, b->buf, b->len);
  }
  if (p == NULL) pack_fail(b, 0, "serialize: out of memory (%zu bytes)", cap);
  b->buf = p;
  b->cap = cap;
  b->heap = 1;
}

static inline unsigned char *pack_reserve(struct packer *b, size_t n) {
  if (__builtin_expect(b->cap - b->len < n, 0)) pack_grow(b, n);
  return b->buf + b->len;
}

static inline void put_byte(struct packer *b, unsigned char c) {
  *pack_reserve(b, 1) = c;
  b->len++;
}

/* Stores v little-endian in n bytes; the compiler turns this into one store
 * on little-endian hosts. */
static inline void store_le(unsigned char *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline void put_tagged(struct packer *b, unsigned char tag, uint64_t v, int n) {
  unsigned char *p = pack_reserve(b, (size_t)n + 1);
  p[0] = tag;
  store_le(p + 1, v, n);
  b->len += (size_t)n + 1;
}

static inline int varint_len(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static inline void store_varint(unsigned char *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  *p = (unsigned char)v;
}

static inline void put_varint(struct packer *b, uint64_t v) {
  int n = varint_len(v);
  store_varint(pack_reserve(b, (size_t)n), v);
  b->len += (size_t)n;
}

static inline void pack_integer(struct packer *b, lua_Integer v) {
  if (v >= SERIAL_FIXINT_MIN && v <= SERIAL_FIXINT_MAX)
    put_byte(b, (unsigned char)v); /* -32..-1 wrap to 0xe0..0xff */
  else if (v >= INT8_MIN && v <= INT8_MAX)
    put_tagged(b, SERIAL_TAG_INT8, (uint64_t)v, 1);
  else if (v >= INT16_MIN && v <= INT16_MAX)
    put_tagged(b, SERIAL_TAG_INT16, (uint64_t)v, 2);
  else if (v >= INT32_MIN && v <= INT32_MAX)
    put_tagged(b, SERIAL_TAG_INT32, (uint64_t)v, 4);
  else
    put_tagged(b, SERIAL_TAG_INT64, (uint64_t)v, 8);
}

static inline void pack_float(struct packer *b, lua_Number x) {
  double d = (double)x;
  /* A single is enough when it converts back exactly (0.5, -0.0, inf).
   * The range test keeps the narrowing conversion defined; NaN fails the
   * equality and keeps its exact payload in the double form. */
  if (isinf(d) || (fabs(d) <= FLT_MAX && (double)(float)d == d)) {
    float f = (float)d;
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    put_tagged(b, SERIAL_TAG_FLOAT32, u, 4);
  } else {
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    put_tagged(b, SERIAL_TAG_FLOAT64, u, 8);
  }
}

static inline void pack_string(struct packer *b, const char *s, size_t n) {
  if (n <= SERIAL_FIXSTR_MAX) {
    /* Covers the usual key; also checks n + 1 without overflow. */
    unsigned char *p = pack_reserve(b, n + 1);
    p[0] = (unsigned char)(SERIAL_TAG_FIXSTR | n);
    memcpy(p + 1, s, n);
    b->len += n + 1;
    return;
  }
  if (n <= UINT8_MAX)
    put_tagged(b, SERIAL_TAG_STR8, n, 1);
  else if (n <= UINT16_MAX)
    put_tagged(b, SERIAL_TAG_STR16, n, 2);
  else if (n <= UINT32_MAX)
    put_tagged(b, SERIAL_TAG_STR32, n, 4);
  else
    put_tagged(b, SERIAL_TAG_STR64, n, 8);
  memcpy(pack_reserve(b, n), s, n);
  b->len += n;
}

static void pack_value(struct packer *b, int idx, int as_key);

/* Packs the table at absolute index idx: array items 1..rawlen, then every
 * other pair. The hash count is only known after the walk, so one byte is
 * reserved for it and the body is shifted in the rare case it needs more. */
static void pack_table(struct packer *b, int idx) {
  lua_State *L = b->L;
  int d = b->depth;
  if (d >= SHOAL_SERIAL_MAX_DEPTH)
    pack_fail(b, d, "serialize: tables nested deeper than %d levels", SHOAL_SERIAL_MAX_DEPTH);
  const void *self = lua_topointer(L, idx);
  for (int i = 1; i <= d; i++)
    if (b->level[i].table == self) pack_fail(b, d, "serialize: cycle detected");
  struct pack_level *lv = &b->level[++d];
  b->depth = d;
  lv->table = self;
  lv->key = 0;

  lua_Unsigned narr = lua_rawlen(L, idx);
  if (narr <= SERIAL_FIXTABLE_MAX) {
    put_byte(b, (unsigned char)(SERIAL_TAG_FIXTABLE | narr));
  } else {
    put_byte(b, SERIAL_TAG_TABLE);
    put_varint(b, narr);
  }
  size_t hpos = b->len;
  put_byte(b, 0);

  int top = lua_gettop(L);
  for (lua_Unsigned i = 1; i <= narr; i++) {
    lv->index = (lua_Integer)i;
    lua_rawgeti(L, idx, (lua_Integer)i);
    pack_value(b, top + 1, 0);
    lua_settop(L, top);
  }

  uint64_t nhash = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    /* key at top + 1, value at top + 2 */
    if (lua_isinteger(L, top + 1) && (lua_Unsigned)lua_tointeger(L, top + 1) - 1 < narr) {
      lua_settop(L, top + 1);
      continue; /* already sent in the array part */
    }
    lv->key = top + 1;
    pack_value(b, top + 1, 1);
    pack_value(b, top + 2, 0);
    nhash++;
    lua_settop(L, top + 1);
  }

  if (nhash < 0x80) {
    b->buf[hpos] = (unsigned char)nhash;
  } else {
    size_t extra = (size_t)varint_len(nhash) - 1;
    pack_reserve(b, extra);
    memmove(b->buf + hpos + 1 + extra, b->buf + hpos + 1, b->len - hpos - 1);
    store_varint(b->buf + hpos, nhash);
    b->len += extra;
  }
  b->depth = d - 1;
}

static void pack_value(struct packer *b, int idx, int as_key) {
  lua_State *L = b->L;
  int t = lua_type(L, idx);
  switch (t) {
    case LUA_TNIL:
      put_byte(b, SERIAL_TAG_NIL);
      return;
    case LUA_TBOOLEAN:
      put_byte(b, lua_toboolean(L, idx) ? SERIAL_TAG_TRUE : SERIAL_TAG_FALSE);
      return;
    case LUA_TNUMBER:
      /* lua_isinteger, not lua_tointegerx: the latter accepts 1.0. */
      if (lua_isinteger(L, idx))
        pack_integer(b, lua_tointeger(L, idx));
      else
        pack_float(b, lua_tonumber(L, idx));
      return;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      pack_string(b, s, n);
      return;
    }
    case LUA_TTABLE:
      pack_table(b, idx);
      return;
    default:
      /* A bad key is reported at its table; a bad value at its own key. */
      if (as_key)
        pack_fail(b, b->depth - 1, "serialize: cannot pack a %s as a table key",
                  t == LUA_TLIGHTUSERDATA ? "lightuserdata" : lua_typename(L, t));
      pack_fail(b, b->depth, "serialize: cannot pack a %s",
                t == LUA_TLIGHTUSERDATA ? "lightuserdata" : lua_typename(L, t));
  }
}

/* Encodes [from, top] into b. On return b->buf holds b->len bytes, either
 * in b->stackbuf or on the heap (b->heap); on error nothing is left. */
static void pack_all(struct packer *b, lua_State *L, int from) {
  int top = lua_gettop(L);
  b->L = L;
  b->buf = b->stackbuf;
  b->len = 0;
  b->limit = shoal_serial_get_limit();
  b->cap = b->limit < sizeof(b->stackbuf) ? b->limit : sizeof(b->stackbuf);
  b->heap = 0;
  b->from = from;
  b->arg = 0;
  b->depth = 0;
  if (!lua_checkstack(L, SERIAL_STACK_PER_LEVEL * (SHOAL_SERIAL_MAX_DEPTH + 1) + 4))
    luaL_error(L, "serialize: Lua stack overflow");
  put_varint(b, from > top ? 0 : (uint64_t)(top - from + 1));
  for (int i = from; i <= top; i++) {
    b->arg = i;
    pack_value(b, i, 0);
  }
}

void *shoal_serial_pack(lua_State *L, int from, size_t *sz) {
  struct packer b;
  from = lua_absindex(L, from);
  pack_all(&b, L, from);
  void *out;
  if (b.heap) {
    out = b.buf;
    if (b.cap != b.len) {
      void *p = realloc(b.buf, b.len);
      if (p) out = p; /* a failed shrink still leaves a valid buffer */
    }
  } else {
    out = malloc(b.len);
    if (out == NULL) luaL_error(L, "serialize: out of memory (%zu bytes)", b.len);
    memcpy(out, b.buf, b.len);
  }
  *sz = b.len;
  return out;
}

/* ---- Lua module ------------------------------------------------------- */

static int lpack(lua_State *L) {
  size_t sz;
  void *p = shoal_serial_pack(L, 1, &sz);
  lua_pushlightuserdata(L, p);
  lua_pushinteger(L, (lua_Integer)sz);
  return 2;
}

static int lunpack(lua_State *L) {
  if (lua_type(L, 1) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    return shoal_serial_unpack(L, s, n);
  }
  luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
  const void *p = lua_touserdata(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "size must not be negative");
  luaL_argcheck(L, p != NULL || n == 0, 1, "NULL buffer");
  return shoal_serial_unpack(L, p, (size_t)n);
}

/* Runs protected so that a memory error while creating the string cannot
 * skip freeing the heap buffer that holds the bytes. */
static int push_bytes(lua_State *L) {
  lua_pushlstring(L, lua_touserdata(L, 1), (size_t)lua_tointeger(L, 2));
  return 1;
}

static int lpackstring(lua_State *L) {
  struct packer b;
  pack_all(&b, L, 1);
  if (!b.heap) {
    lua_pushlstring(L, (const char *)b.buf, b.len);
    return 1;
  }
  lua_pushcfunction(L, push_bytes);
  lua_pushlightuserdata(L, b.buf);
  lua_pushinteger(L, (lua_Integer)b.len);
  int status = lua_pcall(L, 2, 1, 0);
  free(b.buf);
  if (status != LUA_OK) return lua_error(L);
  return 1;
}

static int lunpackstring(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  return shoal_serial_unpack(L, s, n);
}

static int lfree(lua_State *L) {
  luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
  free(lua_touserdata(L, 1));
  return 0;
}

static int lsetlimit(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_argcheck(L, n >= 0, 1, "limit must not be negative");
  shoal_serial_set_limit((size_t)n);
  return 0;
}

static int lgetlimit(lua_State *L) {
  size_t n = shoal_serial_get_limit();
  lua_pushinteger(L, n > (size_t)LUA_MAXINTEGER ? LUA_MAXINTEGER : (lua_Integer)n);
  return 1;
}

int luaopen_shoal_serial(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"pack", lpack},
      {"unpack", lunpack},
      {"packstring", lpackstring},
      {"unpackstring", lunpackstring},
      {"free", lfree},
      {"setlimit", lsetlimit},
      {"getlimit", lgetlimit},
      {NULL, NULL},
  };
  luaL_newlib(L, funcs);
  lua_pushinteger(L, SHOAL_SERIAL_MAX_DEPTH);
  lua_setfield(L, -2, "max_depth");
  lua_pushinteger(L, (lua_Integer)SHOAL_SERIAL_DEFAULT_LIMIT);
  lua_setfield(L, -2, "default_limit");
  return 1;
}
