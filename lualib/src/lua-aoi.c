/*
 * lua-aoi.c - shoal.aoi: the Lua face of aoi.c (area of interest). See
 * docs/aoi.md.
 *
 * Conventions: a refused call returns nil (or false), why, where why is one
 * of the fixed texts of SHOAL_AOI_REFUSAL_LIST (also in aoi.refusals, so a
 * caller never copies them). Arguments a program could never mean (a
 * string for a coordinate, a bad option) raise with the function's name.
 * Ids are Lua integers 1 .. 2^53 - 1 (an integral float is accepted);
 * anything else numeric is the refusal "bad id".
 */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "aoi.h"
#include "lua-shoal.h"

#define SPACE_MT "shoal.aoi.space"
#define DUMP_MAGIC "AOI1"
#define DUMP_HEAD 8  /* magic + u32 count */
#define DUMP_REC 25  /* u64 id | f64 x | f64 y | u8 watcher, big-endian */
#define NBR_STACK 256

/* A coordinate: a Lua number (NaN and inf are refused later, as data). */
static double check_coord(lua_State *L, int idx) {
  luaL_checktype(L, idx, LUA_TNUMBER);
  return lua_tonumber(L, idx);
}

struct lspace {
  struct shoal_aoi *a; /* NULL once collected */
};

static struct shoal_aoi *check_space(lua_State *L) {
  struct lspace *s = luaL_checkudata(L, 1, SPACE_MT);
  if (!s->a) luaL_error(L, "aoi: the space is closed");
  return s->a;
}

/* The id at idx: 0 when it is a number but not a valid id (the caller
 * refuses with "bad id"); raises when it is not a number. */
static uint64_t check_id(lua_State *L, int idx) {
  luaL_checktype(L, idx, LUA_TNUMBER); /* not a numeric string: ids and coordinates are numbers */
  int isint;
  lua_Integer i = lua_tointegerx(L, idx, &isint);
  if (isint) return i > 0 && (uint64_t)i < SHOAL_AOI_ID_MAX ? (uint64_t)i : 0;
  return 0; /* a float that is not an integer */
}

static int refused(lua_State *L, int code) {
  lua_pushnil(L);
  lua_pushstring(L, shoal_aoi_strerror(code));
  return 2;
}

static int result(lua_State *L, int code) {
  if (code) return refused(L, code);
  lua_pushboolean(L, 1);
  return 1;
}

static double opt_number(lua_State *L, int t, const char *key, double def, int required) {
  int type = lua_getfield(L, t, key);
  double v = def;
  if (type == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (type != LUA_TNIL || required) luaL_error(L, "aoi: option %s must be a number", key);
  lua_pop(L, 1);
  return v;
}

static void check_opts(lua_State *L, int t, struct shoal_aoi_opts *o) {
  luaL_checktype(L, t, LUA_TTABLE);
  memset(o, 0, sizeof *o);
  o->width = opt_number(L, t, "width", 0, 1);
  o->height = opt_number(L, t, "height", 0, 1);
  o->radius = opt_number(L, t, "radius", 0, 1);
  o->max_speed = opt_number(L, t, "max_speed", 0, 0);
  double me = opt_number(L, t, "max_entities", SHOAL_AOI_MAX_ENTITIES_DEFAULT, 0);
  if (!(me >= 1 && me <= 10000000 && me == floor(me)))
    luaL_error(L, "aoi: option max_entities must be an integer in 1 .. 10000000");
  o->max_entities = (uint32_t)me;
  const char *why = shoal_aoi_check_opts(o);
  if (why) luaL_error(L, "aoi: %s", why);
}

static struct lspace *push_space(lua_State *L, const struct shoal_aoi_opts *o) {
  struct lspace *s = lua_newuserdatauv(L, sizeof *s, 0);
  s->a = NULL;
  luaL_setmetatable(L, SPACE_MT);
  s->a = shoal_aoi_new(o);
  return s;
}

/* aoi.new(opts) -> space */
static int lnew(lua_State *L) {
  struct shoal_aoi_opts o;
  check_opts(L, 1, &o);
  push_space(L, &o);
  return 1;
}

/* sp:add(id, x, y [, watcher]) -> true | nil, why */
static int ladd(lua_State *L) {
  struct shoal_aoi *a = check_space(L);
  uint64_t id = check_id(L, 2);
  double x = check_coord(L, 3), y = check_coord(L, 4);
  int watcher = lua_isnoneornil(L, 5) ? 1 : lua_toboolean(L, 5);
  return result(L, shoal_aoi_add(a, id, x, y, watcher));
}

/* sp:move(id, x, y [, dt_ms]) -> true | nil, why */
static int lmove(lua_State *L) {
  struct shoal_aoi *a = check_space(L);
  uint64_t id = check_id(L, 2);
  double x = check_coord(L, 3), y = check_coord(L, 4);
  double dt = luaL_optnumber(L, 5, 0);
  return result(L, shoal_aoi_move(a, id, x, y, dt));
}

/* sp:set_position(id, x, y) -> true | nil, why */
static int lset_position(lua_State *L) {
  struct shoal_aoi *a = check_space(L);
  uint64_t id = check_id(L, 2);
  double x = check_coord(L, 3), y = check_coord(L, 4);
  return result(L, shoal_aoi_set_position(a, id, x, y));
}

/* sp:move_many(packed ">I8ff" records, dt_ms) -> n_ok, {id, why, id, why, ...}:
 * one call for many moves (the same checks as move, each with dt_ms). */
static int lmove_many(lua_State *L) {
  struct shoal_aoi *a = check_space(L);
  size_t n;
  const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 2, &n);
  double dt = luaL_optnumber(L, 3, 0);
  if (n % 16) luaL_error(L, "aoi: move_many: the records must be 16 bytes each (\">I8ff\"), got %d bytes", (int)n);
  lua_Integer ok = 0;
  int nref = 0;
  lua_newtable(L);
  for (size_t off = 0; off < n; off += 16, p += 16) {
    uint64_t id = 0;
    uint32_t ux = 0, uy = 0;
    for (int i = 0; i < 8; i++) id = id << 8 | p[i];
    for (int i = 0; i < 4; i++) {
      ux = ux << 8 | p[8 + i];
      uy = uy << 8 | p[12 + i];
    }
    float fx, fy;
    memcpy(&fx, &ux, 4);
    memcpy(&fy, &uy, 4);
    int rc = shoal_aoi_move(a, id, fx, fy, dt);
    if (rc == 0) {
      ok++;
      continue;
    }
    lua_pushinteger(L, (lua_Integer)id);
    lua_rawseti(L, -2, ++nref);
    lua_pushstring(L, shoal_aoi_strerror(rc));
    lua_rawseti(L, -2, ++nref);
  }
  lua_pushinteger(L, ok);
  lua_insert(L, -2);
  return 2;
}

/* sp:remove(id) -> true | false */
static int lremove(lua_State *L) {
  struct shoal_aoi *a = check_space(L);
  uint64_t id = check_id(L, 2);
  lua_pushboolean(L, shoal_aoi_remove(a, id) == 0);
  return 1;
}

/* sp:position(id) -> x, y | nil */
static int lposition(lua_State *L) {
  struct shoal_aoi *a = check_space(L);
  uint64_t id = check_id(L, 2);
  double x, y;
  if (shoal_aoi_position(a, id, &x, &y)) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushnumber(L, x);
  lua_pushnumber(L, y);
  return 2;
}

/* sp:neighbours(id) -> {id, ...} ascending | nil, "unknown entity" */
static int lneighbours(lua_State *L) {
  struct shoal_aoi *a = check_space(L);
  uint64_t id = check_id(L, 2);
  uint64_t stack[NBR_STACK], *out = stack;
  long n = id ? shoal_aoi_neighbours(a, id, stack, NBR_STACK) : -1;
  if (n < 0) return refused(L, id ? SHOAL_AOI_UNKNOWN_ENTITY : SHOAL_AOI_BAD_ID);
  if (n > NBR_STACK) { /* a crowd: once more into a buffer of the right size, owned by Lua */
    out = lua_newuserdatauv(L, (size_t)n * sizeof *out, 0);
    shoal_aoi_neighbours(a, id, out, (size_t)n);
  }
  lua_createtable(L, (int)n, 0);
  for (long i = 0; i < n; i++) {
    lua_pushinteger(L, (lua_Integer)out[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* sp:count() -> n */
static int lcount(lua_State *L) {
  lua_pushinteger(L, shoal_aoi_count(check_space(L)));
  return 1;
}

/* sp:flush(fn): fn(watcher, events, enters) for each watcher with pending
 * events at the call (events it causes wait for the next flush); enters is
 * how many of the records are enters (a caller that looks them up skips
 * the batches without). If fn raises, the watchers not yet handed over
 * keep their events. */
static int lflush(lua_State *L) {
  struct shoal_aoi *a = check_space(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  uint32_t n = shoal_aoi_pending(a);
  uint64_t w;
  const char *data;
  size_t len;
  for (uint32_t i = 0; i < n && shoal_aoi_take_events(a, &w, &data, &len); i++) {
    lua_pushvalue(L, 2);
    lua_pushinteger(L, (lua_Integer)w);
    lua_pushlstring(L, data, len); /* copied before fn can change the space */
    lua_Integer enters = 0;
    for (size_t off = 0; off < len; off += SHOAL_AOI_RECORD_SIZE) enters += data[off] == SHOAL_AOI_ENTER;
    lua_pushinteger(L, enters);
    lua_call(L, 3, 0);
  }
  return 0;
}

static void put_be(luaL_Buffer *b, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--) luaL_addchar(b, (char)(v >> (i * 8)));
}

static uint64_t get_be(const unsigned char *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = v << 8 | p[i];
  return v;
}

static void dump_one(void *ud, uint64_t id, double x, double y, int watcher) {
  luaL_Buffer *b = ud;
  uint64_t ux, uy;
  memcpy(&ux, &x, 8);
  memcpy(&uy, &y, 8);
  put_be(b, id, 8);
  put_be(b, ux, 8);
  put_be(b, uy, 8);
  luaL_addchar(b, (char)(watcher ? 1 : 0));
}

/* sp:dump() -> string: "AOI1", u32 count, then per entity u64 id, f64 x,
 * f64 y, u8 watcher (big-endian; exact positions). */
static int ldump(lua_State *L) {
  struct shoal_aoi *a = check_space(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, DUMP_MAGIC, 4);
  put_be(&b, shoal_aoi_count(a), 4);
  shoal_aoi_each(a, dump_one, &b);
  luaL_pushresult(&b);
  return 1;
}

/* aoi.load(opts, dump) -> space (no pending events) | nil, why */
static int lload(lua_State *L) {
  struct shoal_aoi_opts o;
  check_opts(L, 1, &o);
  size_t n;
  const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 2, &n);
  if (n < DUMP_HEAD || memcmp(p, DUMP_MAGIC, 4) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, "not an aoi dump");
    return 2;
  }
  uint64_t count = get_be(p + 4, 4);
  if (n != DUMP_HEAD + count * DUMP_REC) {
    lua_pushnil(L);
    lua_pushfstring(L, "truncated aoi dump (%d bytes for %d entities)", (int)n, (int)count);
    return 2;
  }
  struct lspace *s = push_space(L, &o);
  for (uint64_t i = 0; i < count; i++) {
    const unsigned char *r = p + DUMP_HEAD + i * DUMP_REC;
    uint64_t ux = get_be(r + 8, 8), uy = get_be(r + 16, 8);
    double x, y;
    memcpy(&x, &ux, 8);
    memcpy(&y, &uy, 8);
    uint64_t id = get_be(r, 8);
    int rc = shoal_aoi_add(s->a, id, x, y, r[24] != 0);
    if (rc) {
      shoal_aoi_free(s->a);
      s->a = NULL;
      lua_pushnil(L);
      lua_pushfstring(L, "aoi dump entity %I: %s", (lua_Integer)id, shoal_aoi_strerror(rc));
      return 2;
    }
  }
  shoal_aoi_drop_events(s->a);
  return 1;
}

/* sp:stats() -> {entities, watchers, moves, refused, events} */
static int lstats(lua_State *L) {
  struct shoal_aoi_stats st;
  shoal_aoi_stats(check_space(L), &st);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, st.entities);
  lua_setfield(L, -2, "entities");
  lua_pushinteger(L, st.watchers);
  lua_setfield(L, -2, "watchers");
  lua_pushinteger(L, (lua_Integer)st.moves);
  lua_setfield(L, -2, "moves");
  lua_pushinteger(L, (lua_Integer)st.refused);
  lua_setfield(L, -2, "refused");
  lua_pushinteger(L, (lua_Integer)st.events);
  lua_setfield(L, -2, "events");
  return 1;
}

static int lgc(lua_State *L) {
  struct lspace *s = luaL_checkudata(L, 1, SPACE_MT);
  shoal_aoi_free(s->a);
  s->a = NULL;
  return 0;
}

int luaopen_shoal_aoi(lua_State *L) {
  luaL_Reg methods[] = {
      {"add", ladd},           {"move", lmove},       {"set_position", lset_position},
      {"move_many", lmove_many}, {"remove", lremove}, {"position", lposition},
      {"neighbours", lneighbours}, {"count", lcount}, {"flush", lflush},
      {"dump", ldump},         {"stats", lstats},     {NULL, NULL},
  };
  if (luaL_newmetatable(L, SPACE_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, lgc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_Reg funcs[] = {{"new", lnew}, {"load", lload}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_pushinteger(L, SHOAL_AOI_ENTER);
  lua_setfield(L, -2, "ENTER");
  lua_pushinteger(L, SHOAL_AOI_LEAVE);
  lua_setfield(L, -2, "LEAVE");
  lua_pushinteger(L, SHOAL_AOI_MOVE);
  lua_setfield(L, -2, "MOVE");
  lua_pushinteger(L, SHOAL_AOI_RECORD_SIZE);
  lua_setfield(L, -2, "RECORD_SIZE");
  lua_pushliteral(L, ">BI8ff");
  lua_setfield(L, -2, "RECORD_FORMAT");
  lua_pushnumber(L, SHOAL_AOI_SPEED_SLACK);
  lua_setfield(L, -2, "SPEED_SLACK");
  /* aoi.refusals.TOO_FAST == "too fast", ...: the texts, pushed from C. */
  lua_newtable(L);
#define PUSH_REFUSAL(name, value, text) \
  lua_pushliteral(L, text);             \
  lua_setfield(L, -2, #name);
  SHOAL_AOI_REFUSAL_LIST(PUSH_REFUSAL)
#undef PUSH_REFUSAL
  lua_setfield(L, -2, "refusals");
  return 1;
}
