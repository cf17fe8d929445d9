/*
 * crypto_pool.h - the helper threads that run password hashing off the
 * worker threads. Process-wide (one pool for every Lua service), started
 * by its first user and stopped (threads joined) when its last user lets
 * go, so no helper thread outlives the services that use it, nor the
 * runtime they answer through.
 *
 * A job is a struct the caller embeds in its own allocation: the pool
 * calls job->run on a helper thread; run owns the job from then on (it
 * answers its service and frees the job). The queue is bounded: past it
 * submit says SHOAL_EFULL at once instead of letting logins pile up.
 */
#ifndef SHOAL_CRYPTO_POOL_H
#define SHOAL_CRYPTO_POOL_H

struct shoal_crypto_job {
  struct shoal_crypto_job *next;              /* queue link (the pool's) */
  void (*run)(struct shoal_crypto_job *job);  /* on a helper thread; owns job */
  void (*drop)(struct shoal_crypto_job *job); /* frees a job cancelled before it ran */
  const void *owner;                          /* who submitted it (for cancel) */
};

/* Takes a reference; the first starts `threads` helpers (1..64) with a
 * queue of at most `queue_max` waiting jobs (later users' numbers are
 * ignored while the pool runs). 0, or SHOAL_EINIT if no thread started. */
int shoal_crypto_pool_acquire(int threads, int queue_max);
/* Drops a reference; the last one stops and joins the helpers, waiting
 * for running jobs to finish. Every job of every user must have been
 * cancelled or run by then (see cancel). */
void shoal_crypto_pool_release(void);
/* Queues a job. 0, SHOAL_EFULL (queue full) or SHOAL_EINVAL (no pool);
 * on an error the job stays the caller's. */
int shoal_crypto_pool_submit(struct shoal_crypto_job *job);
/* Drops owner's jobs that have not started (their drop is called) and
 * waits until none of owner's jobs is running. For a service going away. */
void shoal_crypto_pool_cancel(const void *owner);
/* Jobs waiting and running now (for tests and stats). */
int shoal_crypto_pool_pending(void);
/* Jobs run and jobs dropped by cancel since the process started. */
void shoal_crypto_pool_totals(long long *done, long long *dropped);

#endif
