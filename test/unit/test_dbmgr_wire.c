/*
 * test_dbmgr_wire - the dbmgr's codec (cservice/dbmgr_wire.c) against the
 * runtime's serializer: requests packed by Lua decode to the same scalars,
 * replies built in C unpack in Lua to the same values, and hostile bytes
 * (random, truncated, tables, reserved tags, huge lengths) are refused
 * without reading out of bounds.
 */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dbmgr_wire.h"
#include "serial.h"
#include "shoal.h"

/* Packs the values the Lua chunk returns; returns the buffer (caller frees). */
static void *lua_pack(lua_State *L, const char *chunk, size_t *sz) {
  lua_settop(L, 0);
  CHECK(luaL_loadstring(L, chunk) == LUA_OK);
  CHECK(lua_pcall(L, 0, LUA_MULTRET, 0) == LUA_OK);
  return shoal_serial_pack(L, 1, sz);
}

static void test_requests(lua_State *L) {
  size_t sz;
  void *buf = lua_pack(L, "return 'entity_save', 'player', 42, string.rep('x', 300), 'level', -7, 'f', 1.5, 'n', nil,"
                          " true, false, 1 << 40, -200, 70000", &sz);
  struct dbmgr_val v[DBMGR_WIRE_MAX_VALUES];
  int n = 0;
  char err[256];
  CHECK(dbmgr_wire_decode(buf, sz, v, DBMGR_WIRE_MAX_VALUES, &n, err, sizeof(err)) == 0);
  CHECK(n == 15);
  CHECK(v[0].type == DBMGR_STR && v[0].len == 11 && memcmp(v[0].s, "entity_save", 11) == 0);
  CHECK(v[2].type == DBMGR_INT && v[2].i == 42);
  CHECK(v[3].type == DBMGR_STR && v[3].len == 300);
  CHECK(v[5].type == DBMGR_INT && v[5].i == -7);
  CHECK(v[7].type == DBMGR_FLOAT && v[7].d == 1.5);
  CHECK(v[9].type == DBMGR_NIL);
  CHECK(v[10].type == DBMGR_BOOL && v[10].i == 1);
  CHECK(v[11].type == DBMGR_BOOL && v[11].i == 0);
  CHECK(v[12].type == DBMGR_INT && v[12].i == (int64_t)1 << 40);
  CHECK(v[13].type == DBMGR_INT && v[13].i == -200);
  CHECK(v[14].type == DBMGR_INT && v[14].i == 70000);
  /* Every truncation is refused. */
  for (size_t cut = 0; cut < sz; cut++) CHECK(dbmgr_wire_decode(buf, cut, v, DBMGR_WIRE_MAX_VALUES, &n, err, sizeof(err)) != 0);
  free(buf);
  /* A table anywhere, too many values, trailing bytes. */
  buf = lua_pack(L, "return 'entity_load', {1}", &sz);
  CHECK(dbmgr_wire_decode(buf, sz, v, DBMGR_WIRE_MAX_VALUES, &n, err, sizeof(err)) == SHOAL_EINVAL);
  CHECK(strstr(err, "table") != NULL);
  free(buf);
  buf = lua_pack(L, "return 'x', 1, 2, 3", &sz);
  CHECK(dbmgr_wire_decode(buf, sz, v, 3, &n, err, sizeof(err)) == SHOAL_EINVAL);
  unsigned char *longer = malloc(sz + 1);
  memcpy(longer, buf, sz);
  longer[sz] = 0;
  CHECK(dbmgr_wire_decode(longer, sz + 1, v, DBMGR_WIRE_MAX_VALUES, &n, err, sizeof(err)) == SHOAL_EINVAL);
  free(longer);
  free(buf);
}

static void test_replies(lua_State *L) {
  struct dbmgr_wire_buf b;
  dbmgr_wire_init(&b);
  dbmgr_wire_int(&b, 5);
  dbmgr_wire_int(&b, -33);
  dbmgr_wire_int(&b, INT64_MIN);
  dbmgr_wire_nil(&b);
  dbmgr_wire_bool(&b, 1);
  dbmgr_wire_float(&b, 0.25);
  dbmgr_wire_begin_array(&b);
  for (int i = 0; i < 200; i++) {
    dbmgr_wire_int(&b, i);
    char s[100];
    memset(s, 'a' + i % 26, sizeof(s));
    dbmgr_wire_str(&b, s, (size_t)(i % 100));
  }
  dbmgr_wire_end_array(&b);
  dbmgr_wire_str(&b, "tail", 4);
  size_t sz;
  void *p = dbmgr_wire_finish(&b, &sz);
  lua_settop(L, 0);
  int n = shoal_serial_unpack(L, p, sz);
  CHECK(n == 8);
  CHECK(lua_tointeger(L, 1) == 5 && lua_tointeger(L, 2) == -33 && lua_tointeger(L, 3) == INT64_MIN);
  CHECK(lua_isnil(L, 4) && lua_toboolean(L, 5) && lua_tonumber(L, 6) == 0.25);
  CHECK(lua_istable(L, 7) && lua_rawlen(L, 7) == 400);
  lua_rawgeti(L, 7, 399);
  CHECK(lua_tointeger(L, -1) == 199);
  lua_pop(L, 1);
  lua_rawgeti(L, 7, 400);
  CHECK(lua_rawlen(L, -1) == 99);
  lua_pop(L, 1);
  CHECK(strcmp(lua_tostring(L, 8), "tail") == 0);
  shoal_free(p);
  /* An empty array, an empty reply. */
  dbmgr_wire_init(&b);
  dbmgr_wire_begin_array(&b);
  dbmgr_wire_end_array(&b);
  p = dbmgr_wire_finish(&b, &sz);
  lua_settop(L, 0);
  CHECK(shoal_serial_unpack(L, p, sz) == 1 && lua_istable(L, 1) && lua_rawlen(L, 1) == 0);
  shoal_free(p);
}

/* Random and mutated bytes: never a crash, never a read out of bounds
 * (ASan checks the latter), every accepted request's strings inside it. */
static void test_hostile(void) {
  uint64_t seed = 0x9e3779b97f4a7c15u;
  struct dbmgr_val v[DBMGR_WIRE_MAX_VALUES];
  char err[256];
  for (int round = 0; round < 200000; round++) {
    unsigned char buf[64];
    size_t sz = (size_t)(seed % sizeof(buf));
    for (size_t i = 0; i < sz; i++) {
      seed ^= seed << 13;
      seed ^= seed >> 7;
      seed ^= seed << 17;
      buf[i] = (unsigned char)seed;
    }
    if (sz > 0 && round % 2) buf[0] = (unsigned char)(1 + seed % 5); /* a plausible count */
    unsigned char *copy = malloc(sz ? sz : 1);
    memcpy(copy, buf, sz);
    int n = 0;
    if (dbmgr_wire_decode(copy, sz, v, DBMGR_WIRE_MAX_VALUES, &n, err, sizeof(err)) == 0) {
      for (int k = 0; k < n; k++)
        if (v[k].type == DBMGR_STR) CHECK((const unsigned char *)v[k].s >= copy && (const unsigned char *)v[k].s + v[k].len <= copy + sz);
    }
    free(copy);
    seed += 0x9e3779b97f4a7c15u;
  }
  /* A string claiming 2^63 bytes. */
  unsigned char huge[] = {1, 0xdc, 0, 0, 0, 0, 0, 0, 0, 0x80};
  int n;
  CHECK(dbmgr_wire_decode(huge, sizeof(huge), v, DBMGR_WIRE_MAX_VALUES, &n, err, sizeof(err)) == SHOAL_EINVAL);
  unsigned char reserved[] = {1, 0xdd};
  CHECK(dbmgr_wire_decode(reserved, sizeof(reserved), v, DBMGR_WIRE_MAX_VALUES, &n, err, sizeof(err)) == SHOAL_EINVAL);
}

int main(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  test_requests(L);
  test_replies(L);
  test_hostile();
  lua_close(L);
  printf("test_dbmgr_wire: ok\n");
  return 0;
}
