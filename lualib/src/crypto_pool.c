/*
 * crypto_pool.c - a fixed set of helper threads over one bounded FIFO of
 * jobs (see crypto_pool.h). One mutex guards everything: jobs take
 * milliseconds, so the lock is never the bottleneck.
 */
#include "crypto_pool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "shoal.h"

#define POOL_MAX_THREADS 64

static struct {
  pthread_mutex_t lock;
  pthread_cond_t work;      /* a job queued, or stopping */
  pthread_cond_t idle;      /* a job finished (cancel waits on it) */
  struct shoal_crypto_job *head, *tail;
  int queued;               /* jobs in the queue */
  int queue_max;
  int users;                /* references (acquire - release) */
  int nthreads;
  int stopping;
  long long done;           /* jobs run, since the process started */
  long long dropped;        /* jobs cancelled before they ran */
  pthread_t threads[POOL_MAX_THREADS];
  const void *running[POOL_MAX_THREADS]; /* owner of the job each thread runs, or NULL */
} P = {.lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

static void *helper(void *arg) {
  int self = (int)(intptr_t)arg;
  pthread_mutex_lock(&P.lock);
  for (;;) {
    while (P.head == NULL && !P.stopping) pthread_cond_wait(&P.work, &P.lock);
    if (P.head == NULL) break; /* stopping, and nothing left */
    struct shoal_crypto_job *job = P.head;
    P.head = job->next;
    if (P.head == NULL) P.tail = NULL;
    P.queued--;
    P.running[self] = job->owner;
    pthread_mutex_unlock(&P.lock);
    job->run(job); /* job is run's now: do not touch it after */
    pthread_mutex_lock(&P.lock);
    P.running[self] = NULL;
    P.done++;
    pthread_cond_broadcast(&P.idle);
  }
  pthread_mutex_unlock(&P.lock);
  return NULL;
}

int shoal_crypto_pool_acquire(int threads, int queue_max) {
  pthread_mutex_lock(&P.lock);
  if (P.users++ > 0) {
    pthread_mutex_unlock(&P.lock);
    return 0;
  }
  if (threads < 1) threads = 1;
  if (threads > POOL_MAX_THREADS) threads = POOL_MAX_THREADS;
  P.queue_max = queue_max < 1 ? 1 : queue_max;
  P.stopping = 0;
  P.nthreads = 0;
  for (int i = 0; i < threads; i++) {
    P.running[i] = NULL;
    if (pthread_create(&P.threads[i], NULL, helper, (void *)(intptr_t)i) != 0) break;
    P.nthreads++;
  }
  int ok = P.nthreads > 0;
  if (!ok) P.users--;
  pthread_mutex_unlock(&P.lock);
  return ok ? 0 : SHOAL_EINIT;
}

void shoal_crypto_pool_release(void) {
  pthread_mutex_lock(&P.lock);
  if (P.users <= 0 || --P.users > 0) {
    pthread_mutex_unlock(&P.lock);
    return;
  }
  P.stopping = 1;
  pthread_cond_broadcast(&P.work);
  int n = P.nthreads;
  pthread_mutex_unlock(&P.lock);
  /* The last user is going: no one can submit while we join. */
  for (int i = 0; i < n; i++) pthread_join(P.threads[i], NULL);
  pthread_mutex_lock(&P.lock);
  P.nthreads = 0;
  pthread_mutex_unlock(&P.lock);
}

int shoal_crypto_pool_submit(struct shoal_crypto_job *job) {
  pthread_mutex_lock(&P.lock);
  int r = 0;
  if (P.users <= 0 || P.stopping) {
    r = SHOAL_EINVAL;
  } else if (P.queued >= P.queue_max) {
    r = SHOAL_EFULL;
  } else {
    job->next = NULL;
    if (P.tail) P.tail->next = job;
    else P.head = job;
    P.tail = job;
    P.queued++;
    pthread_cond_signal(&P.work);
  }
  pthread_mutex_unlock(&P.lock);
  return r;
}

static int running_for(const void *owner) {
  for (int i = 0; i < P.nthreads; i++)
    if (P.running[i] == owner) return 1;
  return 0;
}

void shoal_crypto_pool_cancel(const void *owner) {
  struct shoal_crypto_job *dropped = NULL;
  pthread_mutex_lock(&P.lock);
  struct shoal_crypto_job **pp = &P.head, *last = NULL;
  while (*pp) {
    struct shoal_crypto_job *j = *pp;
    if (j->owner == owner) {
      *pp = j->next;
      P.queued--;
      P.dropped++;
      j->next = dropped;
      dropped = j;
    } else {
      last = j;
      pp = &j->next;
    }
  }
  P.tail = last;
  while (running_for(owner)) pthread_cond_wait(&P.idle, &P.lock);
  pthread_mutex_unlock(&P.lock);
  while (dropped) {
    struct shoal_crypto_job *next = dropped->next;
    dropped->drop(dropped);
    dropped = next;
  }
}

int shoal_crypto_pool_pending(void) {
  pthread_mutex_lock(&P.lock);
  int n = P.queued;
  for (int i = 0; i < P.nthreads; i++) n += P.running[i] != NULL;
  pthread_mutex_unlock(&P.lock);
  return n;
}

void shoal_crypto_pool_totals(long long *done, long long *dropped) {
  pthread_mutex_lock(&P.lock);
  *done = P.done;
  *dropped = P.dropped;
  pthread_mutex_unlock(&P.lock);
}
