/*
 * bench_mq - C-level message queue throughput with every worker busy.
 *
 * Each of T threads (default 2, the worker count of the other benchmarks)
 * owns one queue: it pushes a message into the next thread's queue and then
 * drains its own in batches, exactly as a worker does (shoal_mq_push, then
 * shoal_mq_pop_batch/shoal_mq_finish). Payloads are allocated by the sender
 * and freed by the receiver, as on the real message path. Prints
 * BENCH mq_msgs_per_s N msgs/s (messages pushed and popped per second).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "alloc.h"
#include "mq.h"

#define BATCH 32

static int nthread = 2;
static long per_thread = 5000000;
static struct shoal_mq **queues;
static atomic_long popped;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *run(void *arg) {
  long id = (long)arg;
  struct shoal_mq *mine = queues[id];
  struct shoal_mq *next = queues[(id + 1) % nthread];
  struct shoal_message batch[BATCH];
  long sent = 0, got = 0;
  long total = per_thread;
  while (sent < total || got < total) {
    for (int i = 0; i < BATCH && sent < total; i++, sent++) {
      struct shoal_message m = {1, 0, shoal_malloc(16), 16, 4};
      shoal_mq_push(next, &m);
    }
    int n = shoal_mq_pop_batch(mine, batch, BATCH, 0);
    for (int i = 0; i < n; i++) shoal_free(batch[i].data);
    got += n;
  }
  atomic_fetch_add(&popped, got);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) nthread = atoi(argv[1]);
  if (argc > 2) per_thread = atol(argv[2]);
  if (nthread < 1 || nthread > 64 || per_thread < 1) {
    fprintf(stderr, "usage: bench_mq [THREADS 1..64] [MESSAGES_PER_THREAD]\n");
    return 2;
  }
  queues = calloc((size_t)nthread, sizeof(*queues));
  for (int i = 0; i < nthread; i++) queues[i] = shoal_mq_create(NULL);
  pthread_t tid[64];
  uint64_t t0 = now_ns();
  for (long i = 0; i < nthread; i++) pthread_create(&tid[i], NULL, run, (void *)i);
  for (int i = 0; i < nthread; i++) pthread_join(tid[i], NULL);
  uint64_t t1 = now_ns();
  long total = atomic_load(&popped);
  printf("BENCH mq_msgs_per_s %.0f msgs/s\n", (double)total / ((double)(t1 - t0) / 1e9));
  for (int i = 0; i < nthread; i++) shoal_mq_release(queues[i]);
  free(queues);
  return total == per_thread * nthread ? 0 : 1;
}
