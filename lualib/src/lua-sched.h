/*
 * lua-sched.h - the coroutine scheduler of a Lua service, in C.
 *
 * Every request runs in a coroutine from a pool; call/sleep/wait suspend it
 * until a response, a timer or a wakeup. Doing this in C rather than Lua
 * keeps the per-message cost low and, because C functions cost a Lua state
 * nothing but a table slot, keeps each of thousands of services small.
 */
#ifndef SHOAL_LUA_SCHED_H
#define SHOAL_LUA_SCHED_H

#include <lua.h>
#include <stdint.h>

struct snlua;
struct call_fifo;

struct shoal_callstat_clock;

struct sched {
  int sessions;            /* registry ref: session -> thread | function | fifo */
  int reqs;                /* registry ref: thread -> packed (source, session) it must answer */
  int rawproto;            /* registry ref: thread -> protocol table (non-"lua" requests) */
  int deferred;            /* registry ref: packed request -> true, for unanswered responders */
  int sleeping;            /* registry ref: thread -> timer session */
  int waiting;             /* registry ref: thread -> true */
  int pool;                /* registry ref: idle coroutines (array) */
  int protos;              /* registry ref: protocol tables by name and by id */
  int wakeups;             /* registry ref: FIFO of woken coroutines */
  int forks;               /* registry ref: FIFO of {co, fn, n, args...} */
  int onsystem;            /* registry ref: Lua function for SYSTEM messages, or LUA_NOREF */
  int npool;               /* coroutines in the pool */
  int wake_head, wake_tail;   /* wakeups FIFO indexes */
  int fork_head, fork_tail;   /* forks FIFO indexes */
  struct call_fifo **fifos;   /* call timeout FIFOs, one per timeout value */
  int nfifo;
  struct shoal_callstat_clock *clocks; /* send times of the calls in flight (callstat.c), NULL until the first */
  uint32_t default_timeout;   /* ms, config call_timeout */
  uint32_t slow_ms;           /* ms, config call_slow_ms (0: off) */
  int slow_armed;             /* the slow-call scan's timer is pending */
  lua_State *start_co;        /* coroutine running the start function */
  int started;                /* shoal.start was called */
  int exiting;                /* EXIT received or exit called */
  int reloading;              /* a hot reload is re-running the service file */
};

/* Creates the scheduler's tables (called once per service). */
void shoal_sched_init(lua_State *L, struct snlua *l);
/* Adds the scheduler's functions to the table on top of the stack. */
void shoal_sched_register(lua_State *L);
/* Adds the ones few services use (trycall, trycalltimeout) to the table
 * on top of the stack (shoal.coreextra). */
void shoal_sched_register_extra(lua_State *L);
/* Handles the message described in l->msg_*. Runs inside lua_pcall. */
int shoal_sched_dispatch(lua_State *L);
/* Fails every caller still waiting on this service. Runs inside lua_pcall. */
int shoal_sched_release(lua_State *L);
/* Frees the C side of the scheduler. */
void shoal_sched_free(struct snlua *l);
/* Resumes co (with the nargs values on top of L) like coroutine.resume,
 * recording the running coroutine for the monitor's interrupts. Returns
 * the lua_resume status; results stay on co. */
int shoal_sched_resume(lua_State *L, struct snlua *l, lua_State *co, int nargs, int *nres);

#endif
