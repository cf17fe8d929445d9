/*
 * monitor.c - stuck-service detection (see monitor.h).
 */
#include "monitor.h"

#include <stdlib.h>

#include "alloc.h"
#include "context.h"
#include "module.h"

struct shoal_monitor_slot *shoal_monitor_create(int n) {
  struct shoal_monitor_slot *s = aligned_alloc(64, sizeof(*s) * (size_t)n); /* sizeof is a multiple of 64 */
  if (!s) abort();
  for (int i = 0; i < n; i++) {
    atomic_init(&s[i].version, 0);
    atomic_init(&s[i].source, 0);
    atomic_init(&s[i].dest, 0);
    atomic_init(&s[i].since_ms, 0);
    s[i].reported = 0;
    s[i].reported_at = 0;
  }
  return s;
}

void shoal_monitor_release(struct shoal_monitor_slot *slots) { free(slots); }

int shoal_monitor_check(struct shoal_monitor_slot *slots, int n, uint64_t threshold_ms,
                        int interrupt) {
  int reported = 0;
  uint64_t now = shoal_now();
  for (int i = 0; i < n; i++) {
    struct shoal_monitor_slot *s = &slots[i];
    uint32_t dest = atomic_load_explicit(&s->dest, memory_order_acquire);
    if (dest == 0) continue;
    unsigned version = atomic_load_explicit(&s->version, memory_order_relaxed);
    uint64_t since = atomic_load_explicit(&s->since_ms, memory_order_relaxed);
    uint32_t source = atomic_load_explicit(&s->source, memory_order_relaxed);
    if (now < since || now - since < threshold_ms) continue;
    if (s->reported == version && now - s->reported_at < threshold_ms) continue;
    s->reported = version;
    s->reported_at = now;
    reported++;
    shoal_log(NULL, SHOAL_LOG_ERROR,
              "monitor: service :%08x stuck for %.1f s in a message from :%08x (worker %d)%s",
              dest, (double)(now - since) / 1000.0, source, i,
              interrupt ? ", interrupting it" : "");
    if (interrupt) shoal_context_signal(dest, SHOAL_SIGNAL_INTERRUPT);
  }
  return reported;
}
