/*
 * context.h - service contexts: the actor, its queue, its module instance,
 * its callback and its statistics.
 *
 * A context is reference counted: the handle table holds one reference, the
 * global queue another while the context's queue is scheduled or being
 * drained, and anyone who grabs it briefly (signal, stats) one more. The
 * last reference frees it: the module's release runs, every request still
 * queued is answered with an ERROR message, and the payloads are freed.
 */
#ifndef SHOAL_CONTEXT_H
#define SHOAL_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "mq.h"
#include "shoal.h"

struct shoal_monitor_slot;

void shoal_context_init(void);
/* Creates a service of `module` with `args`. Returns its handle, or a
 * negative SHOAL_E* with a reason written into err (when err != NULL). */
int64_t shoal_context_new(const char *module, const char *args, char *err, size_t errlen);
/* Pushes a message to a local handle. Returns 0 or SHOAL_ENOSERVICE (the
 * payload is then still the caller's). */
int shoal_context_push(uint32_t handle, struct shoal_message *m);
/* Worker entry: dispatches a batch of the scheduled queue q (whose global
 * reference the caller passes in), then re-schedules it or drops the
 * reference. weight: see shoal_mq_pop_batch. Returns 1. */
int shoal_context_dispatch(struct shoal_monitor_slot *slot, struct shoal_mq *q, int weight);
/* Removes a service from the handle table; it is freed once idle. */
int shoal_context_retire(uint32_t handle);
/* Delivers an async signal to the service's module (see module.h). */
int shoal_context_signal(uint32_t handle, int signal);
/* Live contexts (the node stops when this drops to 0 during shutdown). */
int shoal_context_total(void);
/* The payload of an ERROR message (see shoal.h): the code byte, then
 * text[0..len) (copied) and a NUL the size does not count. The caller
 * owns it (shoal_free). A code outside -255..-1 is a programmer error;
 * it is sent as SHOAL_ERAISED. */
void *shoal_context_error_payload(int code, const char *text, size_t len, size_t *size);
/* Answers a request with an ERROR of code and text[0..len) (copied). */
void shoal_context_reply_error(uint32_t source, uint32_t to, int session, int code, const char *text, size_t len);

#endif
