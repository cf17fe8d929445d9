/*
 * timer.c - hierarchical timing wheel, 1 ms resolution (after skynet's timer).
 *
 * A near wheel of 256 one-millisecond slots holds the timers due within the
 * current 256 ms block; four levels of 64 slots each hold the later ones,
 * level i slot k covering a block of 2^(8+6i) ms. Whenever the clock enters a
 * new block, the matching slot of the level above is emptied and its timers
 * are re-added, cascading them down until they land in the near wheel. Adding
 * and expiring are O(1); a tick costs O(timers due in it) plus the occasional
 * cascade.
 *
 * The wheel keeps time as a 64-bit tick count, so it never wraps in practice.
 * A timer whose expiry lies beyond the current 2^32 ms epoch (possible since
 * `ms` is 32 bits) fails every level test and goes to level 3, whose slot 0
 * is emptied when the low 32 bits of the clock roll over - so delays up to
 * UINT32_MAX fire on time instead of early, as they would with a 32-bit
 * clock compared bit-for-bit.
 *
 * Locking: one spinlock (the critical sections are a few pointer moves). The
 * fire callback is never called with it held: each tick's timers are taken
 * off the wheel under the lock, then fired and freed after releasing it, so a
 * callback may add timers (ms == 0 fires with the next tick of the same
 * update if it has ticks left, else at the start of the next update).
 *
 * Known limits:
 * - update()/advance_to() are meant to be called from one thread (the timer
 *   thread, or a test). Concurrent calls stay memory-safe but may interleave
 *   their fire calls out of order.
 * - exit() must not race with add() or update(); it is called at shutdown
 *   after the threads that use the wheel have stopped.
 * - Catching up after a long stall costs one lock round per elapsed ms while
 *   timers are pending (about 0.1 s per hour of stall); an empty wheel jumps.
 */
#include "timer.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "shoal.h"

#define SHOAL_TIMER_NEAR_SHIFT 8
#define SHOAL_TIMER_NEAR_SIZE (1u << SHOAL_TIMER_NEAR_SHIFT)
#define SHOAL_TIMER_NEAR_MASK (SHOAL_TIMER_NEAR_SIZE - 1)
#define SHOAL_TIMER_LEVEL_SHIFT 6
#define SHOAL_TIMER_LEVEL_SIZE (1u << SHOAL_TIMER_LEVEL_SHIFT)
#define SHOAL_TIMER_LEVEL_MASK (SHOAL_TIMER_LEVEL_SIZE - 1)
#define SHOAL_TIMER_LEVELS 4

struct timer_node {
  struct timer_node *next; /* next in the slot (or in a fire batch) */
  uint64_t expire;         /* absolute tick (ms since init) it is due */
  uint32_t handle;         /* passed back to fire */
  int session;             /* passed back to fire */
};

/* A singly linked FIFO: appending at the tail keeps insertion order. */
struct timer_list {
  struct timer_node *head; /* NULL when empty */
  struct timer_node *tail; /* last node, NULL when empty */
};

struct timer_wheel {
  atomic_flag lock;     /* guards every field below except the atomics */
  bool inited;          /* set by init, cleared by exit */
  shoal_timer_fire_fn fire; /* the callback given at init */
  uint64_t time;        /* current tick, ms since init */
  uint64_t start_mono;  /* CLOCK_MONOTONIC ms at init: update()'s origin */
  uint64_t pending;     /* nodes on the wheel */
  struct timer_list near[SHOAL_TIMER_NEAR_SIZE];
  struct timer_list level[SHOAL_TIMER_LEVELS][SHOAL_TIMER_LEVEL_SIZE];
  /* Copies readable without the lock: every service asks for the time. */
  _Atomic uint64_t now;       /* mirrors `time` */
  _Atomic uint64_t starttime; /* CLOCK_REALTIME seconds at init */
};

static struct timer_wheel W = {.lock = ATOMIC_FLAG_INIT};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void wheel_lock(void) {
  /* Spinning on test-and-set is fine here: holders run for nanoseconds. */
  while (atomic_flag_test_and_set_explicit(&W.lock, memory_order_acquire))
    cpu_relax();
}

static void wheel_unlock(void) {
  atomic_flag_clear_explicit(&W.lock, memory_order_release);
}

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  if (clock_gettime(id, &ts) != 0) {
    /* Both clocks are mandatory on every platform we run on. */
    fprintf(stderr, "shoal timer: clock_gettime(%d) failed\n", (int)id);
    abort();
  }
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void list_append(struct timer_list *l, struct timer_node *n) {
  n->next = NULL;
  if (l->tail)
    l->tail->next = n;
  else
    l->head = n;
  l->tail = n;
}

/* Moves every node of `from` to the tail of `to`, keeping their order. */
static void list_splice(struct timer_list *to, struct timer_list *from) {
  if (!from->head)
    return;
  if (to->tail)
    to->tail->next = from->head;
  else
    to->head = from->head;
  to->tail = from->tail;
  from->head = from->tail = NULL;
}

/* Files a node by how many high bits its expiry shares with the clock. Called
 * with the lock held and n->expire >= W.time. */
static void add_node(struct timer_node *n) {
  uint64_t expire = n->expire;
  uint64_t now = W.time;
  if ((expire | SHOAL_TIMER_NEAR_MASK) == (now | SHOAL_TIMER_NEAR_MASK)) {
    list_append(&W.near[expire & SHOAL_TIMER_NEAR_MASK], n);
    return;
  }
  uint64_t mask = (uint64_t)SHOAL_TIMER_NEAR_SIZE << SHOAL_TIMER_LEVEL_SHIFT;
  int i;
  for (i = 0; i < SHOAL_TIMER_LEVELS - 1; i++) {
    if ((expire | (mask - 1)) == (now | (mask - 1)))
      break;
    mask <<= SHOAL_TIMER_LEVEL_SHIFT;
  }
  /* Falling out of the loop (i == 3) also covers the next 2^32 epoch. */
  unsigned idx = (unsigned)(expire >> (SHOAL_TIMER_NEAR_SHIFT + i * SHOAL_TIMER_LEVEL_SHIFT)) &
                 SHOAL_TIMER_LEVEL_MASK;
  list_append(&W.level[i][idx], n);
}

/* Re-files a level slot's nodes now that the clock has entered their block.
 * Re-adding in list order keeps same-expiry nodes in insertion order. */
static void cascade(int level, unsigned idx) {
  struct timer_node *n = W.level[level][idx].head;
  W.level[level][idx].head = W.level[level][idx].tail = NULL;
  while (n) {
    struct timer_node *next = n->next;
    add_node(n);
    n = next;
  }
}

/* Advances the clock one tick and cascades the slot whose block begins now. */
static void shift(void) {
  uint64_t ct = ++W.time;
  uint64_t block = ct >> SHOAL_TIMER_NEAR_SHIFT;
  uint64_t mask = SHOAL_TIMER_NEAR_SIZE;
  for (int i = 0; (ct & (mask - 1)) == 0; i++) {
    unsigned idx = (unsigned)block & SHOAL_TIMER_LEVEL_MASK;
    /* Slot 0 of a level begins with the level above rolling over, except at
     * the top, where it begins a new 2^32 epoch. */
    if (idx != 0 || i == SHOAL_TIMER_LEVELS - 1) {
      cascade(i, idx);
      break;
    }
    mask <<= SHOAL_TIMER_LEVEL_SHIFT;
    block >>= SHOAL_TIMER_LEVEL_SHIFT;
  }
}

/* Takes the nodes due at the current tick off the wheel into `due`. */
static void take_due(struct timer_list *due) {
  struct timer_list *slot = &W.near[W.time & SHOAL_TIMER_NEAR_MASK];
  for (struct timer_node *n = slot->head; n; n = n->next)
    W.pending--;
  list_splice(due, slot);
}

static void fire_and_free(shoal_timer_fire_fn fire, struct timer_node *n) {
  while (n) {
    struct timer_node *next = n->next;
    fire(n->handle, n->session);
    free(n);
    n = next;
  }
}

/* Moves the wheel to `target` one tick per lock round, so adders wait at most
 * one tick's worth of work and fire sees shoal_timer_now() == the due tick.
 * Timers added at the current tick after it was scanned (ms == 0, or adds
 * racing the last tick) fire first, still at their due tick; those added by
 * fire callbacks while this runs go out with the next tick. */
static void advance(uint64_t target) {
  bool first = true;
  for (;;) {
    struct timer_list due = {NULL, NULL};
    wheel_lock();
    if (!W.inited) {
      wheel_unlock();
      return;
    }
    shoal_timer_fire_fn fire = W.fire;
    take_due(&due);
    bool more = W.time < target;
    if (more && !first) {
      if (W.pending == 0) {
        W.time = target; /* nothing to cascade: an empty wheel may jump */
      } else {
        shift();
        take_due(&due);
      }
    }
    atomic_store_explicit(&W.now, W.time, memory_order_release);
    wheel_unlock();
    fire_and_free(fire, due.head);
    if (!more)
      return;
    first = false;
  }
}

/* fire must not be NULL. Not thread-safe against exit(); call once at start. */
void shoal_timer_init(shoal_timer_fire_fn fire) {
  assert(fire != NULL);
  uint64_t mono = clock_ns(CLOCK_MONOTONIC) / 1000000u;
  uint64_t real = clock_ns(CLOCK_REALTIME) / 1000000000u;
  wheel_lock();
  assert(!W.inited && "shoal_timer_init called twice without exit");
  W.inited = true;
  W.fire = fire;
  W.time = 0;
  W.start_mono = mono;
  W.pending = 0;
  atomic_store_explicit(&W.now, 0, memory_order_release);
  atomic_store_explicit(&W.starttime, real, memory_order_release);
  wheel_unlock();
}

/* Drops every pending timer without firing it; the wheel can be re-inited. */
void shoal_timer_exit(void) {
  struct timer_list all = {NULL, NULL};
  wheel_lock();
  for (unsigned i = 0; i < SHOAL_TIMER_NEAR_SIZE; i++)
    list_splice(&all, &W.near[i]);
  for (int l = 0; l < SHOAL_TIMER_LEVELS; l++)
    for (unsigned i = 0; i < SHOAL_TIMER_LEVEL_SIZE; i++)
      list_splice(&all, &W.level[l][i]);
  W.inited = false;
  W.fire = NULL;
  W.time = 0;
  W.start_mono = 0;
  W.pending = 0;
  atomic_store_explicit(&W.now, 0, memory_order_release);
  atomic_store_explicit(&W.starttime, 0, memory_order_release);
  wheel_unlock();
  /* Freed outside the lock: there may be many, and nobody else needs them. */
  struct timer_node *n = all.head;
  while (n) {
    struct timer_node *next = n->next;
    free(n);
    n = next;
  }
}

/* The wheel owns the node from here until it fires or exit() drops it. */
int shoal_timer_add(uint32_t handle, int session, uint32_t ms) {
  /* Allocate before locking so the lock never waits on the allocator. */
  struct timer_node *n = malloc(sizeof *n);
  if (!n) {
    fprintf(stderr, "shoal timer: out of memory\n");
    abort();
  }
  n->handle = handle;
  n->session = session;
  wheel_lock();
  if (!W.inited) {
    wheel_unlock();
    free(n);
    return SHOAL_EINVAL;
  }
  n->expire = W.time + ms;
  add_node(n);
  W.pending++;
  wheel_unlock();
  return 0;
}

void shoal_timer_update(void) {
  uint64_t mono = clock_ns(CLOCK_MONOTONIC) / 1000000u;
  wheel_lock();
  bool inited = W.inited;
  uint64_t start = W.start_mono;
  wheel_unlock();
  if (!inited)
    return;
  /* CLOCK_MONOTONIC never goes back, but be safe about a re-init race. */
  advance(mono > start ? mono - start : 0);
}

void shoal_timer_advance_to(uint64_t now_ms) {
  advance(now_ms);
}

uint64_t shoal_timer_now(void) {
  return atomic_load_explicit(&W.now, memory_order_acquire);
}

uint64_t shoal_timer_starttime(void) {
  return atomic_load_explicit(&W.starttime, memory_order_acquire);
}

uint64_t shoal_timer_pending(void) {
  wheel_lock();
  uint64_t n = W.pending;
  wheel_unlock();
  return n;
}

uint64_t shoal_timer_monotonic_ms(void) {
  return clock_ns(CLOCK_MONOTONIC) / 1000000u;
}

uint64_t shoal_timer_monotonic_ns(void) {
  return clock_ns(CLOCK_MONOTONIC);
}
