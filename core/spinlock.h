/*
 * spinlock.h - a tiny test-and-test-and-set spinlock on C11 atomics.
 * Used where the critical section is a handful of instructions (queue push
 * and pop), so sleeping in the kernel would cost more than spinning.
 */
#ifndef SHOAL_SPINLOCK_H
#define SHOAL_SPINLOCK_H

#include <stdatomic.h>

struct shoal_spinlock {
  atomic_int locked; /* 0 free, 1 held */
};

static inline void shoal_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static inline void shoal_spin_init(struct shoal_spinlock *l) { atomic_init(&l->locked, 0); }

static inline void shoal_spin_lock(struct shoal_spinlock *l) {
  for (;;) {
    if (!atomic_exchange_explicit(&l->locked, 1, memory_order_acquire)) return;
    while (atomic_load_explicit(&l->locked, memory_order_relaxed)) shoal_spin_pause();
  }
}

static inline void shoal_spin_unlock(struct shoal_spinlock *l) {
  atomic_store_explicit(&l->locked, 0, memory_order_release);
}

#endif
