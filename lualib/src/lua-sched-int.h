/*
 * lua-sched-int.h - what lua-sched.c (the scheduler) shares with
 * lua-sched-api.c (the Lua functions built on it). Not a public header.
 */
#ifndef SHOAL_LUA_SCHED_INT_H
#define SHOAL_LUA_SCHED_INT_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

struct snlua;

#define REG(L, ref) lua_rawgeti(L, LUA_REGISTRYINDEX, (ref))
/* Shifted as unsigned: a source of node 128 or more sets the top bit. */
#define PACK_REQ(source, session) ((lua_Integer)(((uint64_t)(source) << 32) | (uint32_t)(session)))
#define REQ_SOURCE(p) ((uint32_t)((uint64_t)(p) >> 32))
#define REQ_SESSION(p) ((int)(uint32_t)((uint64_t)(p) & 0x7fffffffu))
/* Request sessions are positive, so bit 31 of the packed value is free: it
 * marks a request of a non-"lua" protocol (its table is in sched.rawproto),
 * which spares every "lua" request a lookup there. */
#define REQ_RAW_FLAG ((lua_Integer)0x80000000u)
#define REQ_RAW(p) (((uint64_t)(p) & 0x80000000u) != 0)

/* The code a wakeup resumes a sleeping or waiting coroutine with (see
 * lua-sched.c): not an error code, so no ERROR message (whose code is
 * always negative) can pass for a wakeup. */
#define SCHED_WOKEN 0

/* Pushes the value at idx as text (tostring for non-strings). */
void sched_push_text(lua_State *L, int idx);
/* Pushes ":0100000a" for a handle, the name for a name. */
void sched_push_address(lua_State *L, int idx);
/* Pushes the protocol table named by the string at idx (raises if unknown). */
void sched_push_proto(lua_State *L, struct snlua *l, int idx);
/* Is the string at idx "lua"? */
int sched_is_lua_proto(lua_State *L, int idx);
/* Sends values [from, top] with protocol table pidx (0: "lua"). */
int sched_send_values(lua_State *L, struct snlua *l, uint32_t dest, int type, int pidx, int session, int from);
/* Pushes the raw protocol table of the running coroutine's request req
 * (nil for a "lua" request, or if it has none) and forgets it; returns
 * whether it pushed a table. */
int sched_take_rawproto(lua_State *L, struct snlua *l, lua_Integer req);
/* Pushes a pooled or new coroutine and returns it. */
lua_State *sched_get_co(lua_State *L, struct snlua *l);
/* Resumes a runtime coroutine with nargs values from L's top. */
void sched_resume(lua_State *L, struct snlua *l, lua_State *co, int nargs);
/* Arms the timeout of a call to dest (0: a session waited for by other
 * means) waiting on session; it is also watched for being slow. */
void sched_track(lua_State *L, struct snlua *l, int session, uint32_t ms, uint32_t dest);
/* Runs woken and forked coroutines. */
void sched_run_deferred(lua_State *L, struct snlua *l);

#endif
