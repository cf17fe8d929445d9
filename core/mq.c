/*
 * mq.c - per-service message queues and the global queue of queues.
 *
 * Both are guarded by spinlocks: each critical section is a few stores, and
 * workers drain a queue in batches (one lock per batch, not per message),
 * so contention between a sender and the draining worker stays low.
 */
#include "mq.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "spinlock.h"

#define MQ_INITIAL_CAP 8 /* small: most services are idle most of the time */

struct shoal_mq {
  struct shoal_spinlock lock; /* guards everything below */
  void *owner;                /* the context this queue belongs to */
  uint32_t cap;               /* ring capacity (power of two) */
  uint32_t head;              /* index of the oldest message */
  uint32_t count;             /* messages in the ring */
  uint32_t peak;              /* highest count seen */
  int in_global;              /* 1 while linked in or drained from the global queue */
  struct shoal_mq *next;      /* global queue link */
  struct shoal_message *ring; /* cap slots */
};

struct globalmq {
  struct shoal_spinlock lock;
  struct shoal_mq *head;
  struct shoal_mq *tail;
  _Atomic(struct shoal_mq *) peek; /* mirrors head for lock-free emptiness checks */
};

static struct globalmq G;

void shoal_globalmq_init(void) {
  memset(&G, 0, sizeof(G));
  shoal_spin_init(&G.lock);
  atomic_init(&G.peek, NULL);
}

void shoal_globalmq_exit(void) { G.head = G.tail = NULL; }

void shoal_globalmq_push(struct shoal_mq *q) {
  shoal_spin_lock(&G.lock);
  q->next = NULL;
  if (G.tail) {
    G.tail->next = q;
    G.tail = q;
  } else {
    G.head = G.tail = q;
    atomic_store_explicit(&G.peek, q, memory_order_release);
  }
  shoal_spin_unlock(&G.lock);
}

struct shoal_mq *shoal_globalmq_pop(void) {
  if (atomic_load_explicit(&G.peek, memory_order_acquire) == NULL) return NULL;
  shoal_spin_lock(&G.lock);
  struct shoal_mq *q = G.head;
  if (q) {
    G.head = q->next;
    if (G.head == NULL) {
      G.tail = NULL;
      atomic_store_explicit(&G.peek, NULL, memory_order_release);
    }
    q->next = NULL;
  }
  shoal_spin_unlock(&G.lock);
  return q;
}

int shoal_globalmq_nonempty(void) {
  return atomic_load_explicit(&G.peek, memory_order_acquire) != NULL;
}

struct shoal_mq *shoal_mq_create(void *owner) {
  struct shoal_mq *q = shoal_malloc(sizeof(*q));
  shoal_spin_init(&q->lock);
  q->owner = owner;
  q->cap = MQ_INITIAL_CAP;
  q->head = q->count = q->peak = 0;
  q->in_global = 1; /* not schedulable until shoal_mq_ready() */
  q->next = NULL;
  q->ring = shoal_malloc(sizeof(struct shoal_message) * q->cap);
  return q;
}

void shoal_mq_release(struct shoal_mq *q) {
  shoal_free(q->ring);
  shoal_free(q);
}

void *shoal_mq_owner(struct shoal_mq *q) { return q->owner; }

/* Doubles the ring, unwrapping it so head becomes 0. Called with the lock held. */
static void grow(struct shoal_mq *q) {
  uint32_t ncap = q->cap * 2;
  struct shoal_message *ring = shoal_malloc(sizeof(struct shoal_message) * ncap);
  uint32_t first = q->cap - q->head;
  if (first > q->count) first = q->count;
  memcpy(ring, q->ring + q->head, first * sizeof(*ring));
  memcpy(ring + first, q->ring, (q->count - first) * sizeof(*ring));
  shoal_free(q->ring);
  q->ring = ring;
  q->cap = ncap;
  q->head = 0;
}

int shoal_mq_push(struct shoal_mq *q, const struct shoal_message *m) {
  shoal_spin_lock(&q->lock);
  if (q->count == q->cap) grow(q);
  q->ring[(q->head + q->count) & (q->cap - 1)] = *m;
  q->count++;
  if (q->count > q->peak) q->peak = q->count;
  int schedule = 0;
  if (!q->in_global) {
    q->in_global = 1;
    schedule = 1;
  }
  shoal_spin_unlock(&q->lock);
  return schedule;
}

int shoal_mq_pop_batch(struct shoal_mq *q, struct shoal_message *out, int max, int shift) {
  shoal_spin_lock(&q->lock);
  uint32_t n = shift < 0 ? 1 : shift >= 32 ? 0 : q->count >> shift; /* >> 32 is undefined */
  if (n == 0) n = 1;
  if (n > (uint32_t)max) n = (uint32_t)max;
  if (n > q->count) n = q->count;
  uint32_t mask = q->cap - 1;
  for (uint32_t i = 0; i < n; i++) out[i] = q->ring[(q->head + i) & mask];
  q->head = (q->head + n) & mask;
  q->count -= n;
  shoal_spin_unlock(&q->lock);
  return (int)n;
}

int shoal_mq_finish(struct shoal_mq *q) {
  shoal_spin_lock(&q->lock);
  int more = q->count > 0;
  if (!more) q->in_global = 0;
  shoal_spin_unlock(&q->lock);
  return more;
}

int shoal_mq_ready(struct shoal_mq *q) { return shoal_mq_finish(q); }

size_t shoal_mq_length(struct shoal_mq *q) {
  shoal_spin_lock(&q->lock);
  size_t n = q->count;
  shoal_spin_unlock(&q->lock);
  return n;
}

size_t shoal_mq_peak(struct shoal_mq *q) {
  shoal_spin_lock(&q->lock);
  size_t n = q->peak;
  shoal_spin_unlock(&q->lock);
  return n;
}
