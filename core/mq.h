/*
 * mq.h - per-service message queues and the global queue of queues.
 *
 * Each service owns one queue (a growable ring). A queue that has work is
 * linked into the global queue exactly once (its in_global flag says so);
 * worker threads pop queues from the global queue, drain a batch, and push
 * the queue back if it still has work. The global queue holds a reference
 * on the owning context for as long as the queue sits in it or is being
 * drained (see context.c).
 */
#ifndef SHOAL_MQ_H
#define SHOAL_MQ_H

#include <stddef.h>
#include <stdint.h>

struct shoal_message {
  uint32_t source; /* sender handle (0: the runtime itself) */
  int32_t session; /* request/response pairing, 0 for none */
  void *data;      /* payload, owned by whoever holds the message */
  uint32_t size;   /* payload bytes */
  uint32_t type;   /* enum shoal_ptype */
};

struct shoal_mq;

void shoal_globalmq_init(void);
void shoal_globalmq_exit(void);
/* Appends q to the global queue (the caller passes its context reference). */
void shoal_globalmq_push(struct shoal_mq *q);
/* Pops the first queue with work, or NULL; the reference moves to the caller. */
struct shoal_mq *shoal_globalmq_pop(void);
/* Cheap racy check for spinning workers. */
int shoal_globalmq_nonempty(void);

/* Creates an empty queue that belongs to `owner` (a context). The new queue
 * is marked in_global so nothing schedules it before its service is ready;
 * call shoal_mq_ready() once the service can run. */
struct shoal_mq *shoal_mq_create(void *owner);
/* Frees the ring; the queue must be drained first (shoal_mq_pop_batch). */
void shoal_mq_release(struct shoal_mq *q);
void *shoal_mq_owner(struct shoal_mq *q);
/* Appends a message. Returns 1 when the queue was idle and must now be pushed
 * to the global queue by the caller (after taking a context reference). */
int shoal_mq_push(struct shoal_mq *q, const struct shoal_message *m);
/* Pops a batch into out and returns its size: the queue length shifted
 * right by `shift` (the worker's fairness weight; shift < 0 means one
 * message), at least 1 and at most max. */
int shoal_mq_pop_batch(struct shoal_mq *q, struct shoal_message *out, int max, int shift);
/* After a batch: returns 1 when the queue still has work (it stays
 * in_global and the caller must push it back), 0 when it went idle. */
int shoal_mq_finish(struct shoal_mq *q);
/* Marks a freshly created queue idle (or schedules it when it has work):
 * returns 1 when the caller must push it to the global queue. */
int shoal_mq_ready(struct shoal_mq *q);
size_t shoal_mq_length(struct shoal_mq *q);
/* High-water mark of the length (for overload warnings and stats). */
size_t shoal_mq_peak(struct shoal_mq *q);

#endif
