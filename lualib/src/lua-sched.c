/*
 * lua-sched.c - the coroutine scheduler of a Lua service (see lua-sched.h).
 *
 * Resume protocol: every coroutine suspended by the runtime (call, sleep,
 * wait, newservice) is resumed with exactly three values: ok, payload, size
 * or code. A response resumes it with (true, msg, size), an ERROR with
 * (false, text, code) where code is the SHOAL_E* the ERROR carries, a
 * timeout with (false, "timed out after N ms", SHOAL_ETIMEOUT), a wakeup
 * with (false, "BREAK", SCHED_WOKEN). Callers test the code, never the
 * text.
 *
 * The coroutine body is a C function: it runs the handler under
 * lua_pcallk (so handlers may yield), answers the request with the
 * handler's results or its error, returns itself to the pool and yields
 * until it is handed the next function.
 */
#include "lua-sched.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "callstat.h"
#include "lua-sched-int.h"
#include "lua-shoal.h"
#include "serial.h"


/* Calls with one timeout value expire in the order they were made: a FIFO
 * of (session, due) per value with at most one armed timer, for its head. */
struct call_fifo {
  uint32_t ms;      /* the timeout value */
  int armed;        /* a timer for the head is pending */
  uint32_t head;    /* index of the oldest entry */
  uint32_t count;   /* entries */
  uint32_t cap;     /* ring capacity (power of two) */
  int *sess;        /* sessions */
  uint64_t *due;    /* deadlines, node ms */
  uint32_t *dest;   /* callees (0: a session waited for by other means) */
  uint32_t checked; /* entries from the head the slow-call scan has seen */
};

/* The slow-call scan's timer: its session maps to this marker (the call
 * FIFOs' timers map to their FIFO). */
static char slow_marker;

/* ---- small helpers ---- */

void sched_push_text(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TSTRING) lua_pushvalue(L, idx);
  else luaL_tolstring(L, idx, NULL);
}

void sched_push_address(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    char buf[16];
    snprintf(buf, sizeof(buf), ":%08x", (unsigned)lua_tointeger(L, idx));
    lua_pushstring(L, buf);
  } else {
    sched_push_text(L, idx);
  }
}

static void log_error(struct snlua *l, const char *what, const char *text) {
  shoal_log(l->ctx, SHOAL_LOG_ERROR, "%s%s", what, text);
}

/* Pushes the protocol table named by the string at idx (raises if unknown). */
void sched_push_proto(lua_State *L, struct snlua *l, int idx) {
  REG(L, l->sched.protos);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) != LUA_TTABLE) luaL_error(L, "unknown protocol %s", luaL_tolstring(L, idx, NULL));
  lua_remove(L, -2);
}

/* Is the string at idx the literal "lua"? (the fast path) */
int sched_is_lua_proto(lua_State *L, int idx) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  return s && n == 3 && s[0] == 'l' && s[1] == 'u' && s[2] == 'a';
}

/* Sends values [from, top] with protocol p (table at pidx, or 0 for "lua").
 * Returns shoal_send's result (session or a negative error). */
int sched_send_values(lua_State *L, struct snlua *l, uint32_t dest, int type, int pidx, int session, int from) {
  if (pidx == 0) {
    size_t sz = 0;
    void *data = shoal_serial_pack(L, from, &sz);
    if (dest == 0) {
      shoal_free(data);
      return SHOAL_ENOSERVICE;
    }
    return shoal_send(l->ctx, 0, dest, type, session, data, sz);
  }
  /* Other protocols: pack(...) gives a string or (lightuserdata, size). */
  int top = lua_gettop(L);
  if (lua_getfield(L, pidx, "pack") == LUA_TFUNCTION) {
    lua_insert(L, from);
    lua_call(L, top - from + 1, 2);
  } else {
    lua_pop(L, 1);
    lua_settop(L, from + 1);
  }
  void *data = NULL;
  size_t sz = 0;
  int t = lua_gettop(L);
  if (lua_type(L, t - 1) == LUA_TLIGHTUSERDATA) {
    data = lua_touserdata(L, t - 1);
    sz = (size_t)lua_tointeger(L, t);
  } else if (!lua_isnil(L, t - 1)) {
    data = shoal_lua_copystring(L, t - 1, &sz);
  }
  if (dest == 0) {
    shoal_free(data);
    return SHOAL_ENOSERVICE;
  }
  return shoal_send(l->ctx, 0, dest, type, session, data, sz);
}

int sched_take_rawproto(lua_State *L, struct snlua *l, lua_Integer req) {
  if (!REQ_RAW(req)) {
    lua_pushnil(L);
    return 0;
  }
  REG(L, l->sched.rawproto);
  lua_pushthread(L);
  int t = lua_rawget(L, -2);
  lua_pushthread(L);
  lua_pushnil(L);
  lua_rawset(L, -4);
  lua_remove(L, -2);
  return t == LUA_TTABLE;
}

/* ---- coroutines ---- */

static int co_run(lua_State *L);

/* The start function failed: the service exits; if the node itself started
 * it (no newservice caller), the node stops with exit code 1. */
static void start_failed(struct snlua *l) {
  if (l->start_source == 0) shoal_abort(1);
  l->sched.exiting = 1;
  shoal_exit(l->ctx);
}

/* Answers the request co was serving, if any; the results are [from, top]
 * when ok, the error object is at top when not. */
static void finish(lua_State *L, struct snlua *l, int ok, int from) {
  int top = lua_gettop(L);
  REG(L, l->sched.reqs);
  lua_pushthread(L);
  int has_req = lua_rawget(L, -2) == LUA_TNUMBER;
  lua_Integer req = has_req ? lua_tointeger(L, -1) : 0;
  lua_pop(L, 1);
  if (has_req) {
    lua_pushthread(L);
    lua_pushnil(L);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
  int pidx = 0;
  if (has_req && !ok) {
    /* The handler raised: whatever its text says (even "no such
     * service"), the callee is alive and the code says so. */
    sched_push_text(L, top);
    size_t n;
    const char *text = lua_tolstring(L, -1, &n);
    shoal_reply_error(l->ctx, REQ_SOURCE(req), REQ_SESSION(req), SHOAL_ERAISED, text, n);
    lua_pop(L, 1);
  }
  if (has_req && REQ_RAW(req)) {
    if (sched_take_rawproto(L, l, req))
      pidx = lua_gettop(L);
    else
      lua_pop(L, 1);
  }
  if (has_req && ok) {
    if (pidx) {
      /* move the protocol below the results so they stay contiguous */
      lua_insert(L, from);
      pidx = from;
      from++;
    }
    sched_send_values(L, l, REQ_SOURCE(req), SHOAL_PTYPE_RESPONSE, pidx, REQ_SESSION(req), from);
  }
  if (!ok) {
    sched_push_text(L, top);
    log_error(l, "", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  if (L == l->sched.start_co) {
    l->sched.start_co = NULL;
    if (!ok) start_failed(l);
  }
}

/* The end of a handler: answer, go back to the pool, wait for more work. */
static int co_next_k(lua_State *L, int status, lua_KContext k) {
  (void)status;
  (void)k;
  return co_run(L);
}

static int co_done_k(lua_State *L, int status, lua_KContext k) {
  (void)k;
  struct snlua *l = SERVICE(L);
  finish(L, l, status == LUA_OK || status == LUA_YIELD, 2);
  lua_settop(L, 0);
  REG(L, l->sched.pool);
  lua_pushthread(L);
  lua_rawseti(L, -2, ++l->sched.npool);
  lua_pop(L, 1);
  return lua_yieldk(L, 0, 0, co_next_k);
}

/* Stack: f, args... */
static int co_run(lua_State *L) {
  int n = lua_gettop(L);
  lua_pushcfunction(L, shoal_lua_traceback);
  lua_insert(L, 1);
  int status = lua_pcallk(L, n - 1, LUA_MULTRET, 1, 0, co_done_k);
  return co_done_k(L, status, 0);
}

/* Pushes a coroutine (from the pool or new) on L and returns it. */
lua_State *sched_get_co(lua_State *L, struct snlua *l) {
  if (l->sched.npool > 0) {
    REG(L, l->sched.pool);
    lua_rawgeti(L, -1, l->sched.npool);
    lua_pushnil(L);
    lua_rawseti(L, -3, l->sched.npool--);
    lua_remove(L, -2);
    return lua_tothread(L, -1);
  }
  lua_State *co = lua_newthread(L);
  lua_pushcfunction(co, co_run);
  return co;
}

int shoal_sched_resume(lua_State *L, struct snlua *l, lua_State *co, int nargs, int *nres) {
  lua_xmove(L, co, nargs);
  lua_State *prev = atomic_load_explicit(&l->active, memory_order_relaxed);
  atomic_store_explicit(&l->active, co, memory_order_relaxed);
  int status = lua_resume(co, L, nargs, nres);
  atomic_store_explicit(&l->active, prev, memory_order_relaxed);
  if (status == LUA_YIELD && l->killing) {
    l->killing = 0;
    lua_settop(co, 0);
    lua_pushliteral(co, "interrupted: the service was stuck in one message and ignored the interrupt");
    *nres = 1;
    return LUA_ERRRUN;
  }
  return status;
}

/* Resumes a runtime coroutine. One that dies here failed outside its
 * handler's protection (out of memory, an interrupt it ignored): its
 * request is failed and the error logged. */
void sched_resume(lua_State *L, struct snlua *l, lua_State *co, int nargs) {
  int nres = 0;
  int status = shoal_sched_resume(L, l, co, nargs, &nres);
  if (status == LUA_YIELD || status == LUA_OK) {
    /* Drop what was yielded (nothing, normally); the rest of co's stack
     * belongs to the suspended frame and its continuation. */
    lua_pop(co, nres);
    return;
  }
  sched_push_text(co, -1);
  size_t n;
  const char *text = lua_tolstring(co, -1, &n);
  REG(L, l->sched.reqs);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  if (lua_rawget(L, -2) == LUA_TNUMBER) {
    lua_Integer req = lua_tointeger(L, -1);
    int code = status == LUA_ERRMEM ? SHOAL_ENOMEM : SHOAL_ERAISED;
    shoal_reply_error(l->ctx, REQ_SOURCE(req), REQ_SESSION(req), code, text, n);
    lua_pushthread(co);
    lua_xmove(co, L, 1);
    lua_pushnil(L);
    lua_rawset(L, -4);
  }
  lua_pop(L, 2);
  log_error(l, "coroutine failed: ", text);
  if (co == l->sched.start_co) {
    l->sched.start_co = NULL;
    start_failed(l);
  }
  lua_settop(co, 0);
}

/* Pushes the three resume values for a failure with text and code. */
static void push_failure(lua_State *L, const char *text, int code) {
  lua_pushboolean(L, 0);
  lua_pushstring(L, text);
  lua_pushinteger(L, code);
}

/* ---- call timeouts ---- */

static void fifo_arm(lua_State *L, struct snlua *l, struct call_fifo *f);

/* Drops answered entries from the head (their sessions left the table). */
static void fifo_compact(lua_State *L, struct snlua *l, struct call_fifo *f) {
  if (f->count == 0) return;
  REG(L, l->sched.sessions);
  while (f->count > 0) {
    int s = f->sess[f->head];
    if (lua_rawgeti(L, -1, s) != LUA_TNIL) {
      lua_pop(L, 1);
      break;
    }
    lua_pop(L, 1);
    f->head = (f->head + 1) & (f->cap - 1);
    f->count--;
    if (f->checked > 0) f->checked--;
  }
  lua_pop(L, 1);
}

static void slow_arm(lua_State *L, struct snlua *l);

void sched_track(lua_State *L, struct snlua *l, int session, uint32_t ms, uint32_t dest) {
  struct call_fifo *f = NULL;
  for (int i = 0; i < l->sched.nfifo; i++) {
    if (l->sched.fifos[i]->ms == ms) {
      f = l->sched.fifos[i];
      break;
    }
  }
  if (f == NULL) {
    f = shoal_malloc(sizeof(*f));
    f->ms = ms;
    f->armed = 0;
    f->head = f->count = f->checked = 0;
    f->cap = 16;
    f->sess = shoal_malloc(sizeof(int) * f->cap);
    f->due = shoal_malloc(sizeof(uint64_t) * f->cap);
    f->dest = shoal_malloc(sizeof(uint32_t) * f->cap);
    l->sched.fifos = shoal_realloc(l->sched.fifos, sizeof(*l->sched.fifos) * (size_t)(l->sched.nfifo + 1));
    l->sched.fifos[l->sched.nfifo++] = f;
  }
  fifo_compact(L, l, f);
  if (f->count == f->cap) {
    uint32_t ncap = f->cap * 2;
    int *sess = shoal_malloc(sizeof(int) * ncap);
    uint64_t *due = shoal_malloc(sizeof(uint64_t) * ncap);
    uint32_t *dst = shoal_malloc(sizeof(uint32_t) * ncap);
    for (uint32_t i = 0; i < f->count; i++) {
      sess[i] = f->sess[(f->head + i) & (f->cap - 1)];
      due[i] = f->due[(f->head + i) & (f->cap - 1)];
      dst[i] = f->dest[(f->head + i) & (f->cap - 1)];
    }
    shoal_free(f->sess);
    shoal_free(f->due);
    shoal_free(f->dest);
    f->sess = sess;
    f->due = due;
    f->dest = dst;
    f->cap = ncap;
    f->head = 0;
  }
  uint32_t t = (f->head + f->count) & (f->cap - 1);
  f->sess[t] = session;
  f->due[t] = shoal_now() + ms;
  f->dest[t] = dest;
  f->count++;
  if (!f->armed) fifo_arm(L, l, f);
  if (!l->sched.slow_armed && l->sched.slow_ms > 0 && ms > l->sched.slow_ms) slow_arm(L, l);
}

static void fifo_arm(lua_State *L, struct snlua *l, struct call_fifo *f) {
  if (f->armed || f->count == 0) return;
  uint64_t now = shoal_now();
  uint64_t due = f->due[f->head];
  uint32_t delay = due > now ? (uint32_t)(due - now) : 0;
  int s = shoal_timeout(l->ctx, delay);
  if (s < 0) return;
  f->armed = 1;
  REG(L, l->sched.sessions);
  lua_pushlightuserdata(L, f);
  lua_rawseti(L, -2, s);
  lua_pop(L, 1);
}

/* The FIFO's timer fired: fail every call that is due and still waiting. */
static void fifo_expire(lua_State *L, struct snlua *l, struct call_fifo *f) {
  uint64_t now = shoal_now();
  f->armed = 0;
  int base = lua_gettop(L);
  REG(L, l->sched.sessions);
  int sessions = lua_gettop(L);
  int nexpired = 0;
  while (f->count > 0) {
    int s = f->sess[f->head];
    if (lua_rawgeti(L, sessions, s) != LUA_TNIL) {
      if (f->due[f->head] > now) {
        lua_pop(L, 1);
        break;
      }
      if (lua_type(L, -1) == LUA_TTHREAD) {
        lua_pushnil(L);
        lua_rawseti(L, sessions, s);
        nexpired++; /* the thread stays on the stack until resumed */
        luaL_checkstack(L, 4, "too many expired calls");
      } else {
        lua_pop(L, 1);
      }
    } else {
      lua_pop(L, 1);
    }
    f->head = (f->head + 1) & (f->cap - 1);
    f->count--;
    if (f->checked > 0) f->checked--;
  }
  fifo_arm(L, l, f);
  char reason[64];
  snprintf(reason, sizeof(reason), "timed out after %u ms", f->ms);
  for (int i = 0; i < nexpired; i++) {
    lua_State *co = lua_tothread(L, sessions + 1 + i);
    push_failure(L, reason, SHOAL_ETIMEOUT);
    sched_resume(L, l, co, 3);
  }
  lua_settop(L, base);
}

/* ---- slow calls (config call_slow_ms) ----
 *
 * A call still unanswered after call_slow_ms is logged once, with its
 * callee, how long it has waited and the caller's traceback, well before
 * its timeout fails it. No cost per call beyond the callee kept in its
 * FIFO slot: one timer for the service walks the FIFOs (each in the order
 * its calls were made) from where it stopped, and is armed again for the
 * next call that could become slow. Only calls whose timeout is longer
 * than call_slow_ms are watched. */

static void slow_arm(lua_State *L, struct snlua *l) {
  struct sched *sc = &l->sched;
  if (sc->slow_armed || sc->slow_ms == 0) return;
  uint64_t next = UINT64_MAX;
  for (int i = 0; i < sc->nfifo; i++) {
    struct call_fifo *f = sc->fifos[i];
    if (f->ms <= sc->slow_ms || f->checked >= f->count) continue;
    uint64_t at = f->due[(f->head + f->checked) & (f->cap - 1)] - f->ms + sc->slow_ms;
    if (at < next) next = at;
  }
  if (next == UINT64_MAX) return;
  uint64_t now = shoal_now();
  int s = shoal_timeout(l->ctx, next > now ? (uint32_t)(next - now) : 0);
  if (s < 0) return;
  sc->slow_armed = 1;
  REG(L, sc->sessions);
  lua_pushlightuserdata(L, &slow_marker);
  lua_rawseti(L, -2, s);
  lua_pop(L, 1);
}

static void slow_report(lua_State *L, struct snlua *l, lua_State *co, const struct call_fifo *f, uint32_t i,
                        uint64_t now) {
  uint64_t start = f->due[i] - f->ms;
  luaL_traceback(L, co, NULL, 0);
  char callee[16];
  if (f->dest[i]) snprintf(callee, sizeof(callee), ":%08x", (unsigned)f->dest[i]);
  shoal_log(l->ctx, SHOAL_LOG_WARN, "slow call: %s has not answered in %llu ms (session %d, timeout %u ms)\n%s",
            f->dest[i] ? callee : "a session", (unsigned long long)(now - start), f->sess[i], f->ms,
            lua_tostring(L, -1));
  lua_pop(L, 1);
}

static void slow_scan(lua_State *L, struct snlua *l) {
  struct sched *sc = &l->sched;
  sc->slow_armed = 0;
  uint64_t now = shoal_now();
  int base = lua_gettop(L);
  REG(L, sc->sessions);
  for (int k = 0; k < sc->nfifo; k++) {
    struct call_fifo *f = sc->fifos[k];
    if (f->ms <= sc->slow_ms) continue;
    while (f->checked < f->count) {
      uint32_t i = (f->head + f->checked) & (f->cap - 1);
      if (f->due[i] - f->ms + sc->slow_ms > now) break;
      if (lua_rawgeti(L, base + 1, f->sess[i]) == LUA_TTHREAD) slow_report(L, l, lua_tothread(L, -1), f, i, now);
      lua_pop(L, 1);
      f->checked++;
    }
  }
  lua_settop(L, base);
  slow_arm(L, l);
}

/* ---- deferred work: wakeups and forks ---- */

void sched_run_deferred(lua_State *L, struct snlua *l) {
  struct sched *s = &l->sched;
  for (;;) {
    if (s->wake_head < s->wake_tail) {
      REG(L, s->wakeups);
      lua_rawgeti(L, -1, s->wake_head);
      lua_pushnil(L);
      lua_rawseti(L, -3, s->wake_head++);
      lua_State *co = lua_tothread(L, -1);
      push_failure(L, "BREAK", SCHED_WOKEN);
      sched_resume(L, l, co, 3);
      lua_pop(L, 2);
    } else if (s->fork_head < s->fork_tail) {
      REG(L, s->forks);
      lua_rawgeti(L, -1, s->fork_head);
      lua_pushnil(L);
      lua_rawseti(L, -3, s->fork_head++);
      int entry = lua_gettop(L);
      lua_rawgeti(L, entry, 1);
      lua_State *co = lua_tothread(L, -1);
      lua_getfield(L, entry, "n");
      int n = (int)lua_tointeger(L, -1);
      lua_pop(L, 1);
      luaL_checkstack(L, n + 2, "too many fork arguments");
      for (int i = 2; i <= n + 2; i++) lua_rawgeti(L, entry, i);
      sched_resume(L, l, co, n + 1);
      lua_settop(L, entry - 2);
    } else {
      s->wake_head = s->wake_tail = 1;
      s->fork_head = s->fork_tail = 1;
      return;
    }
  }
}

/* ---- the dispatcher ---- */

/* A request this service has no handler for: the service is alive, the
 * request is wrong (SHOAL_EINVAL). */
static void reply_unhandled(struct snlua *l, const char *why) {
  char text[160];
  int n = snprintf(text, sizeof(text), "service :%08x: %s", shoal_self(l->ctx), why);
  if (n >= (int)sizeof(text)) n = (int)sizeof(text) - 1;
  if (l->msg_session > 0) shoal_reply_error(l->ctx, l->msg_source, l->msg_session, SHOAL_EINVAL, text, (size_t)n);
  shoal_log(l->ctx, SHOAL_LOG_ERROR, "message from :%08x dropped: %s", l->msg_source, why);
}

static void dispatch_response(lua_State *L, struct snlua *l) {
  REG(L, l->sched.sessions);
  int t = lua_rawgeti(L, -1, l->msg_session);
  if (t == LUA_TNIL) return; /* a late response: its caller timed out */
  lua_pushnil(L);
  lua_rawseti(L, -3, l->msg_session);
  if (t == LUA_TTHREAD) {
    lua_State *co = lua_tothread(L, -1);
    shoal_callstat_end(l->sched.clocks, l->msg_session);
    if (l->msg_type == SHOAL_PTYPE_RESPONSE) {
      lua_pushboolean(L, 1);
      lua_pushlightuserdata(L, (void *)l->msg_data);
      lua_pushinteger(L, (lua_Integer)l->msg_size);
    } else {
      size_t len;
      const char *text = shoal_error_text(l->msg_data, l->msg_size, &len);
      if (l->msg_size == 0 || ((const unsigned char *)l->msg_data)[0] == 0)
        shoal_log(l->ctx, SHOAL_LOG_WARN, "ERROR from :%08x (session %d) has no code byte: read as a raised error",
                  l->msg_source, l->msg_session);
      lua_pushboolean(L, 0);
      lua_pushlstring(L, text, len);
      lua_pushinteger(L, shoal_error_code(l->msg_data, l->msg_size));
    }
    sched_resume(L, l, co, 3);
  } else if (t == LUA_TLIGHTUSERDATA) {
    if (lua_touserdata(L, -1) == &slow_marker) slow_scan(L, l);
    else fifo_expire(L, l, lua_touserdata(L, -1));
  } else if (t == LUA_TFUNCTION) {
    lua_State *co = sched_get_co(L, l); /* shoal.timeout(ms, fn) */
    lua_pushvalue(L, -2);
    sched_resume(L, l, co, 1);
  }
}

static void dispatch_system(lua_State *L, struct snlua *l) {
  if (shoal_system_is(l->msg_data, l->msg_size, SHOAL_SYSTEM_EXIT)) {
    if (l->sched.exiting) return;
    l->sched.exiting = 1;
    if (REG(L, l->sched.onsystem) == LUA_TFUNCTION) {
      lua_State *co = sched_get_co(L, l);
      lua_pushvalue(L, -2);
      lua_pushliteral(L, SHOAL_SYSTEM_EXIT);
      sched_resume(L, l, co, 2);
    } else {
      shoal_exit(l->ctx);
    }
  }
}

/* The debug protocol (console commands: mem, gc, stat, run, reload) is
 * loaded on the first DEBUG message, so services that are never inspected
 * do not carry it. */
static void load_debug_protocol(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "shoal.debug");
  lua_call(L, 1, 0);
}

static void dispatch_request(lua_State *L, struct snlua *l) {
  REG(L, l->sched.protos);
  if (lua_rawgeti(L, -1, l->msg_type) != LUA_TTABLE) {
    int t = LUA_TNIL;
    if (l->msg_type == SHOAL_PTYPE_DEBUG) {
      lua_pop(L, 1);
      load_debug_protocol(L);
      t = lua_rawgeti(L, -1, l->msg_type);
    }
    if (t != LUA_TTABLE) {
      char why[64];
      snprintf(why, sizeof(why), "unknown message type %d", l->msg_type);
      reply_unhandled(l, why);
      return;
    }
  }
  int p = lua_gettop(L);
  if (lua_getfield(L, p, "dispatch") != LUA_TFUNCTION) {
    lua_getfield(L, p, "name");
    char why[96];
    snprintf(why, sizeof(why), "no handler for protocol %s", lua_tostring(L, -1));
    reply_unhandled(l, why);
    return;
  }
  int fn = lua_gettop(L);
  int base = lua_gettop(L);
  lua_pushinteger(L, l->msg_session);
  lua_pushinteger(L, l->msg_source);
  int nargs = 3;
  if (l->msg_type == SHOAL_PTYPE_LUA) {
    nargs += shoal_serial_unpack(L, l->msg_data, l->msg_size);
  } else {
    int unpack = lua_getfield(L, p, "unpack") == LUA_TFUNCTION;
    if (!unpack) lua_pop(L, 1);
    int before = lua_gettop(L);
    if (l->msg_type == SHOAL_PTYPE_TEXT) {
      lua_pushlstring(L, l->msg_data ? l->msg_data : "", l->msg_size);
    } else {
      lua_pushlightuserdata(L, (void *)l->msg_data);
      lua_pushinteger(L, (lua_Integer)l->msg_size);
    }
    if (unpack) lua_call(L, lua_gettop(L) - before, LUA_MULTRET);
    nargs += lua_gettop(L) - (unpack ? before - 1 : before);
  }
  lua_State *co = sched_get_co(L, l);
  lua_insert(L, base); /* the coroutine below the function and arguments */
  if (l->msg_session > 0) {
    REG(L, l->sched.reqs);
    lua_pushvalue(L, base);
    lua_pushinteger(L, PACK_REQ(l->msg_source, l->msg_session) |
                           (l->msg_type != SHOAL_PTYPE_LUA ? REQ_RAW_FLAG : 0));
    lua_rawset(L, -3);
    lua_pop(L, 1);
    if (l->msg_type != SHOAL_PTYPE_LUA) {
      REG(L, l->sched.rawproto);
      lua_pushvalue(L, base);
      lua_pushvalue(L, p);
      lua_rawset(L, -3);
      lua_pop(L, 1);
    }
  }
  (void)fn;
  sched_resume(L, l, co, nargs);
}

int shoal_sched_dispatch(lua_State *L) {
  struct snlua *l = SERVICE(L);
  lua_settop(L, 0);
  switch (l->msg_type) {
    case SHOAL_PTYPE_RESPONSE:
    case SHOAL_PTYPE_ERROR: dispatch_response(L, l); break;
    case SHOAL_PTYPE_SYSTEM: dispatch_system(L, l); break;
    default: dispatch_request(L, l); break;
  }
  lua_settop(L, 0);
  if (l->sched.wake_head < l->sched.wake_tail || l->sched.fork_head < l->sched.fork_tail) sched_run_deferred(L, l);
  return 0;
}

int shoal_sched_release(lua_State *L) {
  struct snlua *l = SERVICE(L);
  char text[96];
  uint32_t me = shoal_self(l->ctx);
  int n = snprintf(text, sizeof(text), "service :%08x exited before answering", me);
  REG(L, l->sched.reqs);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_Integer req = lua_tointeger(L, -1);
    shoal_reply_error(l->ctx, REQ_SOURCE(req), REQ_SESSION(req), SHOAL_EEXITING, text, (size_t)n);
    lua_pop(L, 1);
  }
  REG(L, l->sched.deferred);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_Integer req = lua_tointeger(L, -2);
    shoal_reply_error(l->ctx, REQ_SOURCE(req), REQ_SESSION(req), SHOAL_EEXITING, text, (size_t)n);
    lua_pop(L, 1);
  }
  return 0;
}

void shoal_sched_free(struct snlua *l) {
  for (int i = 0; i < l->sched.nfifo; i++) {
    shoal_free(l->sched.fifos[i]->sess);
    shoal_free(l->sched.fifos[i]->due);
    shoal_free(l->sched.fifos[i]->dest);
    shoal_free(l->sched.fifos[i]);
  }
  shoal_free(l->sched.fifos);
  l->sched.fifos = NULL;
  l->sched.nfifo = 0;
  shoal_callstat_free(l->sched.clocks);
  l->sched.clocks = NULL;
}

/* protos (on top) gets a {name=, id=} table under both keys. */
static void add_protocol(lua_State *L, const char *name, int id) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  lua_pushinteger(L, id);
  lua_setfield(L, -2, "id");
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name);
  lua_rawseti(L, -2, id);
}

static int new_table_ref(lua_State *L) {
  lua_newtable(L);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

void shoal_sched_init(lua_State *L, struct snlua *l) {
  struct sched *s = &l->sched;
  s->sessions = new_table_ref(L);
  s->reqs = new_table_ref(L);
  s->rawproto = new_table_ref(L);
  s->deferred = new_table_ref(L);
  s->sleeping = new_table_ref(L);
  s->waiting = new_table_ref(L);
  s->pool = new_table_ref(L);
  s->protos = new_table_ref(L);
  s->wakeups = new_table_ref(L);
  s->forks = new_table_ref(L);
  lua_pushboolean(L, 0);
  s->onsystem = luaL_ref(L, LUA_REGISTRYINDEX);
  s->npool = 0;
  s->wake_head = s->wake_tail = 1;
  s->fork_head = s->fork_tail = 1;
  s->fifos = NULL;
  s->nfifo = 0;
  s->clocks = NULL;
  s->default_timeout = shoal_lua_config()->call_timeout;
  s->slow_ms = shoal_lua_config()->call_slow_ms;
  s->slow_armed = 0;
  s->start_co = NULL;
  s->started = 0;
  s->exiting = 0;
  s->reloading = 0;
  /* the two built-in protocols */
  REG(L, s->protos);
  add_protocol(L, "lua", SHOAL_PTYPE_LUA);
  add_protocol(L, "text", SHOAL_PTYPE_TEXT);
  lua_pop(L, 1);
}
