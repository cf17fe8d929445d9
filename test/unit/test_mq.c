/*
 * test_mq - per-service queues and the global queue.
 *
 * Single thread: FIFO order across ring growth and wrap-around, batch sizes
 * by weight, in_global scheduling rules. Threads: 4 producers push 200,000
 * numbered messages each into one queue while a consumer drains it the way
 * a worker does (pop batch, finish, reschedule through the global queue);
 * every message arrives exactly once and each producer's messages arrive
 * in order.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "mq.h"

static struct shoal_message msg(uint32_t source, int32_t session) {
  struct shoal_message m = {source, session, NULL, 0, 4};
  return m;
}

static void test_fifo_and_growth(void) {
  struct shoal_mq *q = shoal_mq_create(NULL);
  CHECK(shoal_mq_ready(q) == 0); /* empty: goes idle */
  struct shoal_message out[32];
  int next_in = 0, next_out = 0;
  /* interleave pushes and pops so the ring wraps and grows several times */
  for (int round = 0; round < 200; round++) {
    int pushes = (round * 7) % 50 + 1;
    for (int i = 0; i < pushes; i++) {
      struct shoal_message m = msg(1, next_in++);
      int schedule = shoal_mq_push(q, &m);
      /* only the first push into an idle queue asks to be scheduled */
      CHECK(schedule == (i == 0));
    }
    int pops = (round * 3) % 40 + 1;
    int n = shoal_mq_pop_batch(q, out, pops > 32 ? 32 : pops, 0);
    for (int i = 0; i < n; i++) CHECK(out[i].session == next_out++);
    if (!shoal_mq_finish(q)) CHECK(shoal_mq_length(q) == 0);
    else {
      /* still has work: a worker would push it back; drain it all now */
      while ((n = shoal_mq_pop_batch(q, out, 32, 0)) > 0)
        for (int i = 0; i < n; i++) CHECK(out[i].session == next_out++);
      CHECK(shoal_mq_finish(q) == 0);
    }
  }
  CHECK(next_in == next_out);
  CHECK(shoal_mq_peak(q) >= 50);
  shoal_mq_release(q);
}

static void test_weights(void) {
  struct shoal_mq *q = shoal_mq_create(NULL);
  struct shoal_message out[32];
  for (int i = 0; i < 64; i++) {
    struct shoal_message m = msg(1, i);
    shoal_mq_push(q, &m);
  }
  CHECK(shoal_mq_pop_batch(q, out, 32, -1) == 1);  /* weight -1: one message */
  CHECK(shoal_mq_pop_batch(q, out, 32, 1) == 31);  /* 63 >> 1 */
  CHECK(shoal_mq_pop_batch(q, out, 32, 2) == 8);   /* 32 >> 2 */
  CHECK(shoal_mq_pop_batch(q, out, 32, 0) == 24);  /* the rest, capped by count */
  CHECK(shoal_mq_pop_batch(q, out, 32, 0) == 0);
  shoal_mq_release(q);
}

static void test_globalmq(void) {
  shoal_globalmq_init();
  CHECK(shoal_globalmq_pop() == NULL);
  CHECK(!shoal_globalmq_nonempty());
  struct shoal_mq *a = shoal_mq_create(NULL), *b = shoal_mq_create(NULL);
  shoal_globalmq_push(a);
  shoal_globalmq_push(b);
  CHECK(shoal_globalmq_nonempty());
  CHECK(shoal_globalmq_pop() == a);
  CHECK(shoal_globalmq_pop() == b);
  CHECK(shoal_globalmq_pop() == NULL);
  shoal_mq_release(a);
  shoal_mq_release(b);
}

#define PRODUCERS 4
#define PER_PRODUCER 200000

static struct shoal_mq *shared;
static atomic_int producers_done;

static void *producer(void *arg) {
  uint32_t id = (uint32_t)(uintptr_t)arg;
  for (int i = 0; i < PER_PRODUCER; i++) {
    int *payload = shoal_malloc(sizeof(int));
    *payload = i;
    struct shoal_message m = {id, i, payload, sizeof(int), 4};
    if (shoal_mq_push(shared, &m)) shoal_globalmq_push(shared);
  }
  atomic_fetch_add(&producers_done, 1);
  return NULL;
}

static void test_threads(void) {
  shoal_globalmq_init();
  shared = shoal_mq_create(NULL);
  CHECK(shoal_mq_ready(shared) == 0);
  pthread_t t[PRODUCERS];
  for (uintptr_t i = 0; i < PRODUCERS; i++) pthread_create(&t[i], NULL, producer, (void *)(i + 1));
  int next[PRODUCERS + 1] = {0};
  long received = 0;
  struct shoal_message out[32];
  while (received < (long)PRODUCERS * PER_PRODUCER) {
    struct shoal_mq *q = shoal_globalmq_pop();
    if (q == NULL) continue; /* producers will schedule it */
    CHECK(q == shared);
    int n = shoal_mq_pop_batch(q, out, 32, 0);
    for (int i = 0; i < n; i++) {
      uint32_t src = out[i].source;
      CHECK(src >= 1 && src <= PRODUCERS);
      CHECK(out[i].session == next[src]); /* per-producer order */
      CHECK(*(int *)out[i].data == next[src]);
      next[src]++;
      shoal_free(out[i].data);
    }
    received += n;
    if (shoal_mq_finish(q)) shoal_globalmq_push(q);
  }
  for (int i = 0; i < PRODUCERS; i++) pthread_join(t[i], NULL);
  for (int i = 1; i <= PRODUCERS; i++) CHECK(next[i] == PER_PRODUCER);
  CHECK(shoal_mq_length(shared) == 0);
  /* the queue went idle exactly once at the end: nothing left scheduled */
  struct shoal_mq *left = shoal_globalmq_pop();
  CHECK(left == NULL || shoal_mq_length(left) == 0);
  shoal_mq_release(shared);
}

int main(void) {
  test_fifo_and_growth();
  test_weights();
  test_globalmq();
  test_threads();
  printf("test_mq: ok\n");
  return 0;
}
