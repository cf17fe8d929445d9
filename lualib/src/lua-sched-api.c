/*
 * lua-sched-api.c - the Lua functions of the scheduler: send, call,
 * calltimeout, trycall, trycalltimeout, ret, response, fork, timeout,
 * sleep, yield, wait, wakeup, start, dispatch, register_protocol,
 * onsystem, exit, waitsession. The machinery they use is in lua-sched.c.
 */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callstat.h"
#include "lua-sched-int.h"
#include "lua-shoal.h"
#include "serial.h"

/* send(addr, proto, ...) -> true | false, err */
static int lsend(lua_State *L) {
  struct snlua *l = SERVICE(L);
  uint32_t dest = shoal_lua_check_dest(L, 1);
  int r;
  if (sched_is_lua_proto(L, 2)) {
    r = sched_send_values(L, l, dest, SHOAL_PTYPE_LUA, 0, 0, 3);
  } else {
    sched_push_proto(L, l, 2);
    lua_getfield(L, -1, "id");
    int type = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_insert(L, 3);
    r = sched_send_values(L, l, dest, type, 3, 0, 4);
  }
  if (r >= 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  shoal_lua_push_send_error(L, dest, r);
  return 2;
}

/* The continuation context of a call: the address's stack index in bits
 * 0-7, the protocol's in bits 8-15, and CALL_TRY for trycall, which
 * returns the failure (false, code, text) instead of raising it. */
#define CALL_ADDR(k) ((int)((k) & 0xff))
#define CALL_PIDX(k) ((int)(((k) >> 8) & 0xff))
#define CALL_TRY ((lua_KContext)1 << 16)

/* Continuation of call: the three resume values are on top; the protocol
 * (or nil) sits just above the original arguments. */
static int call_k(lua_State *L, int status, lua_KContext k) {
  (void)status;
  int addr = CALL_ADDR(k);
  int pidx = CALL_PIDX(k);
  int try = (k & CALL_TRY) != 0;
  int top = lua_gettop(L);
  if (!lua_toboolean(L, top - 2)) {
    if (try) {
      lua_pushboolean(L, 0);
      lua_pushvalue(L, top);     /* the code */
      sched_push_text(L, top - 1);
      return 3;
    }
    sched_push_address(L, addr);
    sched_push_text(L, top - 1);
    return luaL_error(L, "call %s failed: %s", lua_tostring(L, -2), lua_tostring(L, -1));
  }
  const void *msg = lua_touserdata(L, top - 1);
  size_t sz = (size_t)lua_tointeger(L, top);
  if (try) lua_pushboolean(L, 1);
  if (lua_isnil(L, pidx)) return try + shoal_serial_unpack(L, msg, sz);
  if (lua_getfield(L, pidx, "unpack") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    lua_pushlstring(L, msg ? msg : "", sz);
    return try + 1;
  }
  int before = lua_gettop(L) - 1 - try;
  lua_pushlightuserdata(L, (void *)msg);
  lua_pushinteger(L, (lua_Integer)sz);
  lua_call(L, 2, LUA_MULTRET);
  return lua_gettop(L) - before;
}

/* Sends the request of a call (addr at stack index addr, the protocol and
 * the values after it) and yields until its answer; try: see CALL_TRY. */
static int do_call(lua_State *L, uint32_t ms, int addr, int try) {
  struct snlua *l = SERVICE(L);
  uint32_t dest = shoal_lua_check_dest(L, addr);
  int session;
  int nargs = lua_gettop(L);
  if (sched_is_lua_proto(L, addr + 1)) {
    lua_pushnil(L); /* no protocol table: "lua" */
    lua_insert(L, addr + 2);
    session = sched_send_values(L, l, dest, SHOAL_PTYPE_LUA, 0, SHOAL_SESSION_ALLOC, addr + 3);
  } else {
    sched_push_proto(L, l, addr + 1);
    lua_getfield(L, -1, "id");
    int type = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_insert(L, addr + 2);
    session = sched_send_values(L, l, dest, type, addr + 2, SHOAL_SESSION_ALLOC, addr + 3);
  }
  if (session < 0) {
    if (try) {
      lua_pushboolean(L, 0);
      lua_pushinteger(L, session); /* the SHOAL_E* shoal_send returned */
      shoal_lua_push_send_error(L, dest, session);
      return 3;
    }
    sched_push_address(L, addr);
    shoal_lua_push_send_error(L, dest, session);
    return luaL_error(L, "call %s failed: %s", lua_tostring(L, -2), lua_tostring(L, -1));
  }
  (void)nargs;
  lua_settop(L, addr + 2); /* keep addr and the protocol for the continuation */
  REG(L, l->sched.sessions);
  lua_pushthread(L);
  lua_rawseti(L, -2, session);
  lua_pop(L, 1);
  sched_track(L, l, session, ms, dest);
  shoal_callstat_begin(&l->sched.clocks, session, dest, shoal_self(l->ctx));
  lua_KContext k = (lua_KContext)(addr | ((addr + 2) << 8));
  return lua_yieldk(L, 0, try ? k | CALL_TRY : k, call_k);
}

/* call(addr, proto, ...) -> the reply; raises on error, dead callee, timeout */
static int lcall(lua_State *L) { return do_call(L, SERVICE(L)->sched.default_timeout, 1, 0); }

/* The ms argument of calltimeout and trycalltimeout. */
static uint32_t check_call_ms(lua_State *L, const char *who) {
  lua_Number ms = lua_type(L, 1) == LUA_TNUMBER ? lua_tonumber(L, 1) : 0;
  if (!(ms >= 1 && ms <= 0x7fffffff))
    luaL_error(L, "%s: timeout must be a positive number of ms (1..2147483647)", who);
  return (uint32_t)ms;
}

/* calltimeout(ms, addr, proto, ...) */
static int lcalltimeout(lua_State *L) { return do_call(L, check_call_ms(L, "calltimeout"), 2, 0); }

/* trycall(addr, proto, ...) -> true, reply... | false, code, text: a call
 * that returns its failure; code is a SHOAL_E* (shoal.errors), so the
 * caller tells a dead callee from a raised error without reading text. */
static int ltrycall(lua_State *L) { return do_call(L, SERVICE(L)->sched.default_timeout, 1, 1); }

/* trycalltimeout(ms, addr, proto, ...) -> as trycall */
static int ltrycalltimeout(lua_State *L) { return do_call(L, check_call_ms(L, "trycalltimeout"), 2, 1); }

static int waitsession_k(lua_State *L, int status, lua_KContext k) {
  (void)status;
  (void)k;
  int top = lua_gettop(L);
  if (lua_toboolean(L, top - 2)) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  sched_push_text(L, top - 1);
  lua_pushvalue(L, top); /* the code */
  return 3;
}

/* waitsession(session [, ms]) -> true | false, err, code: waits for a
 * response to a request sent by other means (newservice's START). */
static int lwaitsession(lua_State *L) {
  struct snlua *l = SERVICE(L);
  int session = (int)luaL_checkinteger(L, 1);
  lua_Integer ms = luaL_optinteger(L, 2, l->sched.default_timeout);
  REG(L, l->sched.sessions);
  lua_pushthread(L);
  lua_rawseti(L, -2, session);
  lua_pop(L, 1);
  sched_track(L, l, session, (uint32_t)ms, 0);
  return lua_yieldk(L, 0, 0, waitsession_k);
}

/* Takes the request of the running coroutine; pushes nothing. Returns the
 * packed request; raises when there is none. */
static lua_Integer take_request(lua_State *L, struct snlua *l, const char *who) {
  REG(L, l->sched.reqs);
  lua_pushthread(L);
  if (lua_rawget(L, -2) != LUA_TNUMBER)
    luaL_error(L, "%s: no request to answer (one-way message or already answered)", who);
  lua_Integer req = lua_tointeger(L, -1);
  lua_pop(L, 1);
  lua_pushthread(L);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return req;
}

/* ret(...) answers the current request now. */
static int lret(lua_State *L) {
  struct snlua *l = SERVICE(L);
  lua_Integer req = take_request(L, l, "shoal.ret");
  sched_take_rawproto(L, l, req);
  int pidx = lua_isnil(L, -1) ? 0 : 1;
  lua_insert(L, 1);
  sched_send_values(L, l, REQ_SOURCE(req), SHOAL_PTYPE_RESPONSE, pidx, REQ_SESSION(req), 2);
  return 0;
}

static int lresponder(lua_State *L) {
  struct snlua *l = SERVICE(L);
  lua_Integer req = lua_tointeger(L, lua_upvalueindex(1));
  REG(L, l->sched.deferred);
  lua_pushinteger(L, req);
  if (lua_rawget(L, -2) == LUA_TNIL) return luaL_error(L, "shoal.response: this request was already answered");
  lua_pop(L, 1);
  lua_pushinteger(L, req);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  if (lua_toboolean(L, 1)) {
    lua_pushvalue(L, lua_upvalueindex(2));
    int pidx = lua_isnil(L, -1) ? 0 : 1;
    lua_replace(L, 1); /* the ok flag becomes the protocol slot */
    sched_send_values(L, l, REQ_SOURCE(req), SHOAL_PTYPE_RESPONSE, pidx, REQ_SESSION(req), 2);
  } else {
    lua_settop(L, 2);
    sched_push_text(L, 2);
    size_t n;
    const char *text = lua_tolstring(L, -1, &n);
    shoal_reply_error(l->ctx, REQ_SOURCE(req), REQ_SESSION(req), SHOAL_ERAISED, text, n);
  }
  return 0;
}

/* response() -> responder: responder(true, ...) replies later,
 * responder(false, err) fails the caller. */
static int lresponse(lua_State *L) {
  struct snlua *l = SERVICE(L);
  lua_Integer req = take_request(L, l, "shoal.response");
  REG(L, l->sched.deferred);
  lua_pushinteger(L, req);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  lua_pushinteger(L, req);
  sched_take_rawproto(L, l, req);
  lua_pushcclosure(L, lresponder, 2);
  return 1;
}

/* fork(fn, ...) -> co: runs fn(...) after the current message. */
static int lfork(lua_State *L) {
  struct snlua *l = SERVICE(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  int n = lua_gettop(L) - 1;
  lua_createtable(L, n + 2, 1);
  int entry = lua_gettop(L);
  sched_get_co(L, l);
  lua_pushvalue(L, -1);
  lua_rawseti(L, entry, 1);
  for (int i = 1; i <= n + 1; i++) {
    lua_pushvalue(L, i);
    lua_rawseti(L, entry, i + 1);
  }
  lua_pushinteger(L, n);
  lua_setfield(L, entry, "n");
  REG(L, l->sched.forks);
  lua_pushvalue(L, entry);
  lua_rawseti(L, -2, l->sched.fork_tail++);
  lua_pop(L, 1);
  return 1; /* the coroutine */
}

/* timeout(ms, fn): runs fn in a new coroutine after ms. */
static int ltimeout_fn(lua_State *L) {
  struct snlua *l = SERVICE(L);
  lua_Integer ms = luaL_checkinteger(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (ms < 0) ms = 0;
  if (ms > 0x7fffffff) return luaL_argerror(L, 1, "timeout too large");
  int s = shoal_timeout(l->ctx, (uint32_t)ms);
  REG(L, l->sched.sessions);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, s);
  return 0;
}

static int sleep_k(lua_State *L, int status, lua_KContext k) {
  (void)status;
  (void)k;
  struct snlua *l = SERVICE(L);
  REG(L, l->sched.sleeping);
  lua_pushthread(L);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  int top = lua_gettop(L);
  /* Woken (wakeup), not the timer's RESPONSE nor a stray ERROR. */
  if (!lua_toboolean(L, top - 2) && lua_isinteger(L, top) && lua_tointeger(L, top) == SCHED_WOKEN) {
    lua_pushliteral(L, "BREAK");
    return 1;
  }
  return 0;
}

/* sleep(ms) -> nil | "BREAK" when woken early */
static int lsleep(lua_State *L) {
  struct snlua *l = SERVICE(L);
  lua_Integer ms = luaL_checkinteger(L, 1);
  if (ms < 0) ms = 0;
  if (ms > 0x7fffffff) return luaL_argerror(L, 1, "sleep too long");
  int s = shoal_timeout(l->ctx, (uint32_t)ms);
  REG(L, l->sched.sessions);
  lua_pushthread(L);
  lua_rawseti(L, -2, s);
  REG(L, l->sched.sleeping);
  lua_pushthread(L);
  lua_pushinteger(L, s);
  lua_rawset(L, -3);
  lua_settop(L, 0);
  return lua_yieldk(L, 0, 0, sleep_k);
}

static int lyield(lua_State *L) {
  lua_settop(L, 0);
  lua_pushinteger(L, 0);
  return lsleep(L);
}

static int wait_k(lua_State *L, int status, lua_KContext k) {
  (void)L;
  (void)status;
  (void)k;
  return 0;
}

/* wait(): suspends until wakeup(co). */
static int lwait(lua_State *L) {
  struct snlua *l = SERVICE(L);
  REG(L, l->sched.waiting);
  lua_pushthread(L);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_settop(L, 0);
  return lua_yieldk(L, 0, 0, wait_k);
}

/* wakeup(co) -> true if it was blocked in sleep or wait */
static int lwakeup(lua_State *L) {
  struct snlua *l = SERVICE(L);
  luaL_checktype(L, 1, LUA_TTHREAD);
  int found = 0;
  REG(L, l->sched.sleeping);
  lua_pushvalue(L, 1);
  if (lua_rawget(L, -2) == LUA_TNUMBER) {
    int s = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    lua_rawset(L, -3);
    REG(L, l->sched.sessions);
    lua_pushnil(L);
    lua_rawseti(L, -2, s);
    lua_pop(L, 1);
    found = 1;
  } else {
    lua_pop(L, 1);
    REG(L, l->sched.waiting);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, -2) != LUA_TNIL) {
      lua_pushvalue(L, 1);
      lua_pushnil(L);
      lua_rawset(L, -4);
      found = 1;
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  if (found) {
    REG(L, l->sched.wakeups);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, l->sched.wake_tail++);
    lua_pop(L, 1);
  }
  lua_pushboolean(L, found);
  return 1;
}

/* start(fn, ...): installs the dispatcher and runs fn in a coroutine; the
 * service that started this one (newservice) is answered when fn returns,
 * or fails with fn's error (this service then exits). */
static int lstart(lua_State *L) {
  struct snlua *l = SERVICE(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (l->sched.started) {
    /* A hot reload re-runs the service file: its dispatch() calls have
     * replaced the handlers; the start function does not run again. */
    if (l->sched.reloading) return 0;
    return luaL_error(L, "shoal.start called twice");
  }
  l->sched.started = 1;
  int n = lua_gettop(L);
  lua_State *co = sched_get_co(L, l);
  lua_insert(L, 1);
  l->sched.start_co = co;
  if (l->start_session > 0) {
    REG(L, l->sched.reqs);
    lua_pushvalue(L, 1);
    lua_pushinteger(L, PACK_REQ(l->start_source, l->start_session));
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
  sched_resume(L, l, co, n);
  lua_settop(L, 0);
  if (l->sched.wake_head < l->sched.wake_tail || l->sched.fork_head < l->sched.fork_tail) sched_run_deferred(L, l);
  return 0;
}

/* setreloading(flag): while set, shoal.start only returns (hot reload). */
static int lsetreloading(lua_State *L) {
  SERVICE(L)->sched.reloading = lua_toboolean(L, 1);
  return 0;
}

/* dispatch(proto, fn) -> old handler: fn(session, source, ...) whose return
 * values are the reply (unless it answered with ret or took response()). */
static int ldispatch(lua_State *L) {
  struct snlua *l = SERVICE(L);
  sched_push_proto(L, l, 1);
  lua_getfield(L, -1, "dispatch");
  lua_pushvalue(L, 2);
  lua_setfield(L, -3, "dispatch");
  return 1;
}

/* register_protocol{name=, id=, pack=, unpack=, dispatch=} */
static int lregister_protocol(lua_State *L) {
  struct snlua *l = SERVICE(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_getfield(L, 1, "name") != LUA_TSTRING) return luaL_error(L, "register_protocol: name must be a string");
  if (lua_getfield(L, 1, "id") != LUA_TNUMBER) return luaL_error(L, "register_protocol: id must be a number");
  int isint;
  lua_Integer id = lua_tointegerx(L, -1, &isint);
  /* a message type is one byte between nodes: 261 would arrive as 5 (SOCKET) */
  if (!isint || id < 0 || id > 255)
    return luaL_error(L, "register_protocol: id %s out of range (an integer 0..255)", lua_tostring(L, -1));
  REG(L, l->sched.protos);
  lua_pushvalue(L, -3);
  lua_pushvalue(L, 1);
  lua_rawset(L, -3);
  lua_pushvalue(L, -2);
  lua_pushvalue(L, 1);
  lua_rawset(L, -3);
  return 0;
}

/* onsystem(fn): fn("EXIT") runs on graceful shutdown (in a coroutine). */
static int lonsystem(lua_State *L) {
  struct snlua *l = SERVICE(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_pushvalue(L, 1);
  lua_rawseti(L, LUA_REGISTRYINDEX, l->sched.onsystem);
  return 0;
}

/* exit(): this service exits now; callers waiting on it get errors. */
static int lexit(lua_State *L) {
  struct snlua *l = SERVICE(L);
  l->sched.exiting = 1;
  shoal_exit(l->ctx);
  if (lua_isyieldable(L)) return lua_yield(L, 0); /* never resumed */
  return 0;
}

void shoal_sched_register(lua_State *L) {
  luaL_Reg funcs[] = {
      {"send", lsend},           {"call", lcall},         {"calltimeout", lcalltimeout},
      {"ret", lret},             {"response", lresponse}, {"fork", lfork},
      {"timeout", ltimeout_fn},  {"sleep", lsleep},       {"yield", lyield},
      {"wait", lwait},           {"wakeup", lwakeup},     {"start", lstart},
      {"dispatch", ldispatch},   {"register_protocol", lregister_protocol},
      {"onsystem", lonsystem},   {"exit", lexit},         {"waitsession", lwaitsession},
      {"setreloading", lsetreloading},
      {NULL, NULL},
  };
  luaL_setfuncs(L, funcs, 0);
}

/* callstats() -> {bounds = {s...}, ["local"] = {counts..., n=, sum=}, remote = {...}}: every Lua
 * service's answered calls since start (callstat.c); counts per bucket, not cumulative, the last +Inf. */
static int lcallstats(lua_State *L) {
  struct shoal_callstat_sum sum[2];
  shoal_callstat_read(sum);
  lua_createtable(L, 0, 3);
  lua_createtable(L, SHOAL_CALLSTAT_BUCKETS, 0);
  for (int b = 0; b < SHOAL_CALLSTAT_BUCKETS; b++) {
    lua_pushnumber(L, shoal_callstat_bounds[b]);
    lua_rawseti(L, -2, b + 1);
  }
  lua_setfield(L, -2, "bounds");
  static const char *const kind[2] = {"local", "remote"};
  for (int k = 0; k < 2; k++) {
    lua_createtable(L, SHOAL_CALLSTAT_BUCKETS + 1, 2);
    for (int b = 0; b <= SHOAL_CALLSTAT_BUCKETS; b++) {
      lua_pushinteger(L, (lua_Integer)sum[k].count[b]);
      lua_rawseti(L, -2, b + 1);
    }
    lua_pushinteger(L, (lua_Integer)sum[k].total);
    lua_setfield(L, -2, "n");
    lua_pushnumber(L, (double)sum[k].sum_ns / 1e9);
    lua_setfield(L, -2, "sum");
    lua_setfield(L, -2, kind[k]);
  }
  return 1;
}

void shoal_sched_register_extra(lua_State *L) {
  luaL_Reg funcs[] = {
      {"callstats", lcallstats},
      {"trycall", ltrycall},
      {"trycalltimeout", ltrycalltimeout},
      {NULL, NULL},
  };
  luaL_setfuncs(L, funcs, 0);
}

