/*
 * monitor.h - detects a service stuck in one message.
 *
 * Each worker owns a slot and stamps it before and after every message
 * (plain relaxed stores on the worker's own cache line). The monitor thread
 * checks the slots periodically; a slot that has stayed in one message longer
 * than the threshold is reported, and - when the node is configured to -
 * the service is sent SHOAL_SIGNAL_INTERRUPT (snlua raises an error inside
 * the running Lua code, so the message fails instead of blocking a worker).
 * A message still stuck one threshold after its report (its code caught the
 * interrupt and kept looping) is reported and interrupted again.
 */
#ifndef SHOAL_MONITOR_H
#define SHOAL_MONITOR_H

#include <stdatomic.h>
#include <stdint.h>

struct shoal_monitor_slot {
  atomic_uint version;     /* bumped at every message start */
  atomic_uint source;      /* sender of the running message */
  atomic_uint dest;        /* service running it, 0 when idle */
  atomic_ullong since_ms;  /* node time when the message started */
  unsigned reported;       /* version last reported (monitor thread only) */
  uint64_t reported_at;    /* node time of that report (monitor thread only) */
} __attribute__((aligned(64))); /* one cache line per worker */

/* Allocates n slots (one per worker). */
struct shoal_monitor_slot *shoal_monitor_create(int n);
void shoal_monitor_release(struct shoal_monitor_slot *slots);

uint64_t shoal_now(void);

static inline void shoal_monitor_enter(struct shoal_monitor_slot *s, uint32_t source,
                                       uint32_t dest) {
  unsigned v = atomic_load_explicit(&s->version, memory_order_relaxed);
  atomic_store_explicit(&s->version, v + 1, memory_order_relaxed);
  atomic_store_explicit(&s->source, source, memory_order_relaxed);
  atomic_store_explicit(&s->since_ms, shoal_now(), memory_order_relaxed);
  atomic_store_explicit(&s->dest, dest, memory_order_release);
}

static inline void shoal_monitor_leave(struct shoal_monitor_slot *s) {
  atomic_store_explicit(&s->dest, 0, memory_order_relaxed);
}

/* Checks every slot; reports (and interrupts, when interrupt != 0) services
 * stuck for longer than threshold_ms. Returns how many were reported. */
int shoal_monitor_check(struct shoal_monitor_slot *slots, int n, uint64_t threshold_ms,
                        int interrupt);

#endif
