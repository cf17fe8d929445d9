/*
 * callstat.c - call latency histograms (see callstat.h).
 *
 * Each thread that ends a call gets a slot of its own on its first call
 * (a worker thread is one service at a time, so its slot has one writer,
 * which adds with a relaxed load and store: no locked instruction); the
 * counters are relaxed atomics only so that a scrape on another thread
 * reads whole values. Threads past SHOAL_CALLSTAT_SLOTS - 1 (more than the 64
 * workers a node can have) share the last slot, with atomic adds.
 */
#include "callstat.h"

#include <stdatomic.h>
#include <string.h>

#include "shoal.h"

#define SHOAL_CALLSTAT_SLOTS 64

const double shoal_callstat_bounds[SHOAL_CALLSTAT_BUCKETS] = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                  0.0025,  0.005,    0.01,    0.025,  0.05,    0.1,    0.25,
                                                  0.5,     1,        2.5,     5,      10};
/* The same bounds in ns, for the hot path. */
static const uint64_t bounds_ns[SHOAL_CALLSTAT_BUCKETS] = {
    10000ull,     25000ull,     50000ull,     100000ull,     250000ull,     500000ull,     1000000ull,
    2500000ull,   5000000ull,   10000000ull,  25000000ull,   50000000ull,   100000000ull,  250000000ull,
    500000000ull, 1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull};

struct shoal_callstat_clock {
  struct {
    int session;   /* 0: free */
    int remote;    /* the callee is on another node */
    uint64_t t0;   /* shoal_clock_ns at the send */
  } slot[SHOAL_CALLSTAT_RING];
};

struct slot {
  _Alignas(64) atomic_ullong count[2][SHOAL_CALLSTAT_BUCKETS + 1];
  atomic_ullong sum_ns[2];
  int shared; /* the last slot, of every thread past SHOAL_CALLSTAT_SLOTS - 1: atomic adds */
};

static struct slot slots[SHOAL_CALLSTAT_SLOTS] = {[SHOAL_CALLSTAT_SLOTS - 1] = {.shared = 1}};
static atomic_int nslots;
static _Thread_local struct slot *mine;

void shoal_callstat_begin(struct shoal_callstat_clock **ring, int session, uint32_t dest, uint32_t self) {
  struct shoal_callstat_clock *r = *ring;
  if (r == NULL) {
    r = *ring = shoal_malloc(sizeof(*r));
    memset(r, 0, sizeof(*r));
  }
  unsigned i = (unsigned)session & (SHOAL_CALLSTAT_RING - 1);
  r->slot[i].session = session;
  r->slot[i].remote = shoal_handle_node_of(dest) != shoal_handle_node_of(self);
  r->slot[i].t0 = shoal_clock_ns();
}

void shoal_callstat_end(struct shoal_callstat_clock *r, int session) {
  if (r == NULL) return;
  unsigned i = (unsigned)session & (SHOAL_CALLSTAT_RING - 1);
  if (r->slot[i].session != session) return;
  r->slot[i].session = 0;
  uint64_t ns = shoal_clock_ns() - r->slot[i].t0;
  struct slot *s = mine;
  if (s == NULL) {
    int n = atomic_fetch_add_explicit(&nslots, 1, memory_order_relaxed);
    s = mine = &slots[n < SHOAL_CALLSTAT_SLOTS - 1 ? n : SHOAL_CALLSTAT_SLOTS - 1];
  }
  int b = 0;
  while (b < SHOAL_CALLSTAT_BUCKETS && ns > bounds_ns[b]) b++;
  int k = r->slot[i].remote;
  if (s->shared) {
    atomic_fetch_add_explicit(&s->count[k][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_ns[k], ns, memory_order_relaxed);
  } else { /* one writer: plain relaxed stores, no locked instruction */
    atomic_store_explicit(&s->count[k][b], atomic_load_explicit(&s->count[k][b], memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&s->sum_ns[k], atomic_load_explicit(&s->sum_ns[k], memory_order_relaxed) + ns,
                          memory_order_relaxed);
  }
}

void shoal_callstat_free(struct shoal_callstat_clock *r) { shoal_free(r); }

void shoal_callstat_read(struct shoal_callstat_sum out[2]) {
  memset(out, 0, 2 * sizeof(*out));
  for (int i = 0; i < SHOAL_CALLSTAT_SLOTS; i++)
    for (int k = 0; k < 2; k++) {
      for (int b = 0; b <= SHOAL_CALLSTAT_BUCKETS; b++) {
        uint64_t c = atomic_load_explicit(&slots[i].count[k][b], memory_order_relaxed);
        out[k].count[b] += c;
        out[k].total += c;
      }
      out[k].sum_ns += atomic_load_explicit(&slots[i].sum_ns[k], memory_order_relaxed);
    }
}
