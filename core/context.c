/*
 * context.c - service contexts and the message path.
 *
 * Send path: shoal_send -> shoal_context_push: under the handle table's read
 * lock, find the context and append to its queue; if the queue was idle,
 * take a context reference for the global queue and schedule it. No copy:
 * the payload pointer moves into the queue slot.
 *
 * A handle of another node goes to the harbor instead (remote.c).
 *
 * Dispatch path: a worker pops a queue from the global queue, pops a batch,
 * calls the callback for each message and frees each payload afterwards
 * (unless the callback kept it), then re-schedules the queue or drops the
 * global queue's reference.
 */
#include "context.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "handle.h"
#include "module.h"
#include "monitor.h"
#include "remote.h"
#include "start.h"
#include "clock.h"
#include "timer.h"

#define DISPATCH_BATCH 32 /* most messages popped under one queue lock */

struct shoal_context {
  uint32_t handle;             /* own handle, immutable */
  atomic_int ref;              /* see context.h */
  atomic_int exiting;          /* set by retire: drop, do not dispatch */
  struct shoal_mq *queue;      /* own message queue */
  struct shoal_module *mod;    /* module this service runs */
  void *instance;              /* module instance */
  shoal_cb cb;                 /* message callback (owner thread only) */
  void *cb_ud;                 /* callback argument */
  int session_id;              /* last allocated session (owner thread only) */
  atomic_ullong messages;      /* dispatched messages (stats) */
  atomic_ullong cpu_ns;        /* callback time (stats) */
  atomic_size_t mem;           /* memory the module reported */
  char label[64];              /* set once by the module at init (see shoal_set_label) */
};

static atomic_int total_contexts;

void shoal_context_init(void) { atomic_store(&total_contexts, 0); }

int shoal_context_total(void) { return atomic_load(&total_contexts); }

const char *shoal_strerror(int err) {
  switch (err) {
    case 0: return "ok";
#define SHOAL_ERRNO_STR(name, value, text) \
  case value: return text;
    SHOAL_ERRNO_LIST(SHOAL_ERRNO_STR)
#undef SHOAL_ERRNO_STR
    default: return "unknown error";
  }
}

/* The code byte of an ERROR holds -code: every code must fit in it. */
#define SHOAL_ERRNO_FITS(name, value, text) _Static_assert((value) < 0 && (value) >= -255, "SHOAL_E" #name);
SHOAL_ERRNO_LIST(SHOAL_ERRNO_FITS)
#undef SHOAL_ERRNO_FITS

void *shoal_context_error_payload(int code, const char *text, size_t len, size_t *size) {
  assert(code < 0 && code >= -255);
  if (code >= 0 || code < -255) code = SHOAL_ERAISED;
  unsigned char *p = shoal_malloc(len + 2);
  p[0] = (unsigned char)-code;
  if (len) memcpy(p + 1, text, len);
  p[len + 1] = '\0';
  *size = len + 1;
  return p;
}

void shoal_context_reply_error(uint32_t source, uint32_t to, int session, int code, const char *text, size_t len) {
  size_t size;
  void *payload = shoal_context_error_payload(code, text, len, &size);
  struct shoal_message m = {source, session, payload, (uint32_t)size, SHOAL_PTYPE_ERROR};
  if (shoal_context_push(to, &m) != 0) shoal_free(payload);
}

/* A message that will never be handled: answer a request with an error of
 * code so its caller fails now instead of at its timeout, then free the
 * payload. */
static void drop_message(uint32_t handle, struct shoal_message *m, int code, const char *why) {
  if (shoal_is_request((int)m->type, m->session) && m->source != 0) {
    char text[128];
    snprintf(text, sizeof(text), "service :%08x %s", handle, why);
    shoal_context_reply_error(handle, m->source, m->session, code, text, strlen(text));
  }
  shoal_socket_message_free((int)m->type, m->data, m->size); /* its data is an allocation of its own */
  /* A remote message waiting in a harbor that quit carries its payload. */
  if (m->type == SHOAL_PTYPE_HARBOR && m->data && m->size == sizeof(struct shoal_remote_message)) {
    struct shoal_remote_message *rm = m->data;
    shoal_node_dequeued(shoal_handle_node_of(rm->dest), rm->size);
    shoal_free(rm->data);
  }
  shoal_free(m->data);
}

static void context_free(struct shoal_context *ctx) {
  if (ctx->mod->release) ctx->mod->release(ctx->instance);
  struct shoal_message batch[DISPATCH_BATCH];
  int n, dropped = 0;
  while ((n = shoal_mq_pop_batch(ctx->queue, batch, DISPATCH_BATCH, 0)) > 0) {
    for (int i = 0; i < n; i++) drop_message(ctx->handle, &batch[i], SHOAL_EEXITING, "exited");
    dropped += n;
  }
  if (dropped) shoal_log(NULL, SHOAL_LOG_INFO, "service :%08x exited with %d messages unhandled", ctx->handle, dropped);
  shoal_mq_release(ctx->queue);
  shoal_free(ctx);
  if (atomic_fetch_sub(&total_contexts, 1) == 1) shoal_start_wakeup_all();
}

static void context_unref(struct shoal_context *ctx) {
  if (atomic_fetch_sub_explicit(&ctx->ref, 1, memory_order_acq_rel) == 1) context_free(ctx);
}

/* Grabs a reference to a live context, or NULL. */
static struct shoal_context *context_grab(uint32_t handle) {
  struct shoal_context *ctx = shoal_handle_lock_find(handle);
  if (ctx) atomic_fetch_add_explicit(&ctx->ref, 1, memory_order_relaxed);
  shoal_handle_unlock();
  return ctx;
}

int64_t shoal_context_new(const char *module, const char *args, char *err, size_t errlen) {
  const char *why = NULL;
  struct shoal_module *mod = shoal_module_query(module, &why);
  if (mod == NULL) {
    if (err) snprintf(err, errlen, "%s", why ? why : "module not found");
    return SHOAL_ENOMODULE;
  }
  struct shoal_context *ctx = shoal_malloc(sizeof(*ctx));
  memset(ctx, 0, sizeof(*ctx));
  atomic_init(&ctx->ref, 2); /* the handle table's and ours until init is done */
  atomic_init(&ctx->exiting, 0);
  ctx->mod = mod;
  ctx->instance = mod->create ? mod->create() : (void *)-1;
  ctx->queue = shoal_mq_create(ctx);
  atomic_fetch_add(&total_contexts, 1);
  ctx->handle = shoal_handle_register(ctx);
  if (ctx->handle == 0) {
    if (err) snprintf(err, errlen, "handle table full");
    atomic_store(&ctx->ref, 1);
    context_unref(ctx);
    return SHOAL_EFULL;
  }
  uint32_t handle = ctx->handle;
  int r = mod->init(ctx->instance, ctx, args ? args : "");
  if (r != 0) {
    if (err) snprintf(err, errlen, "%s init failed (%s)", module, shoal_strerror(r < 0 ? r : SHOAL_EINIT));
    shoal_context_retire(handle);
    context_unref(ctx);
    return SHOAL_EINIT;
  }
  /* Messages may have arrived during init; schedule them now. */
  if (shoal_mq_ready(ctx->queue)) {
    atomic_fetch_add_explicit(&ctx->ref, 1, memory_order_relaxed);
    shoal_globalmq_push(ctx->queue);
    shoal_start_wakeup();
  }
  context_unref(ctx);
  return handle;
}

int shoal_context_push(uint32_t handle, struct shoal_message *m) {
  struct shoal_context *ctx = shoal_handle_lock_find(handle);
  if (ctx == NULL) {
    shoal_handle_unlock();
    /* Not a local service: another node's handle goes to the harbor, and
     * shoal_handle_make(node, 0) is that node's harbor. Checked only here,
     * so a local send pays nothing for the cluster. */
    if (shoal_handle_is_remote(handle)) return shoal_remote_push(handle, m);
    uint32_t harbor = shoal_remote_harbor();
    if (shoal_handle_local_of(handle) == 0 && handle != 0 && harbor != 0) return shoal_context_push(harbor, m);
    return SHOAL_ENOSERVICE;
  }
  int schedule = shoal_mq_push(ctx->queue, m);
  if (schedule) atomic_fetch_add_explicit(&ctx->ref, 1, memory_order_relaxed);
  shoal_handle_unlock();
  if (schedule && !shoal_start_handoff(ctx->queue)) {
    shoal_globalmq_push(ctx->queue);
    shoal_start_wakeup();
  }
  return 0;
}

int shoal_context_retire(uint32_t handle) {
  struct shoal_context *ctx = shoal_handle_remove(handle);
  if (ctx == NULL) return SHOAL_ENOSERVICE;
  atomic_store(&ctx->exiting, 1);
  context_unref(ctx);
  return 0;
}

int shoal_context_dispatch(struct shoal_monitor_slot *slot, struct shoal_mq *q, int weight) {
  struct shoal_context *ctx = shoal_mq_owner(q);
  struct shoal_message batch[DISPATCH_BATCH];
  int n = shoal_mq_pop_batch(q, batch, DISPATCH_BATCH, weight);
  uint64_t t0 = shoal_clock_ns();
  for (int i = 0; i < n; i++) {
    struct shoal_message *m = &batch[i];
    if (atomic_load_explicit(&ctx->exiting, memory_order_relaxed) || ctx->cb == NULL) {
      /* Exiting: gone for its callers. No callback: it never serves. */
      if (ctx->cb) drop_message(ctx->handle, m, SHOAL_EEXITING, "exited");
      else drop_message(ctx->handle, m, SHOAL_ENOSERVICE, "has no callback");
      continue;
    }
    shoal_monitor_enter(slot, m->source, ctx->handle);
    int keep = ctx->cb(ctx, ctx->cb_ud, (int)m->type, m->session, m->source, m->data, m->size);
    shoal_monitor_leave(slot);
    if (!keep) {
      shoal_socket_message_free((int)m->type, m->data, m->size);
      shoal_free(m->data);
    }
    /* Counted per message, not per batch: a batch of slow messages would
     * otherwise look like no progress at all (service/pulse.lua beats for
     * a service while this count moves). A plain store: one writer. */
    atomic_store_explicit(&ctx->messages, atomic_load_explicit(&ctx->messages, memory_order_relaxed) + 1,
                          memory_order_relaxed);
  }
  uint64_t t1 = shoal_clock_ns();
  atomic_store_explicit(&ctx->cpu_ns, atomic_load_explicit(&ctx->cpu_ns, memory_order_relaxed) + (t1 - t0),
                        memory_order_relaxed);
  if (shoal_mq_finish(q)) {
    shoal_globalmq_push(q); /* keeps the reference */
    shoal_start_wakeup();
  } else {
    context_unref(ctx);
  }
  return 1;
}

int shoal_context_signal(uint32_t handle, int signal) {
  struct shoal_context *ctx = context_grab(handle);
  if (ctx == NULL) return SHOAL_ENOSERVICE;
  if (ctx->mod->signal) ctx->mod->signal(ctx->instance, signal);
  context_unref(ctx);
  return 0;
}

int shoal_stat(uint32_t handle, struct shoal_service_stat *out) {
  struct shoal_context *ctx = context_grab(handle);
  if (ctx == NULL) return SHOAL_ENOSERVICE;
  out->messages = atomic_load_explicit(&ctx->messages, memory_order_relaxed);
  out->cpu_ns = atomic_load_explicit(&ctx->cpu_ns, memory_order_relaxed);
  out->mqlen = shoal_mq_length(ctx->queue);
  out->mqpeak = shoal_mq_peak(ctx->queue);
  out->mem = atomic_load_explicit(&ctx->mem, memory_order_relaxed);
  snprintf(out->module, sizeof(out->module), "%s", ctx->mod->name);
  snprintf(out->label, sizeof(out->label), "%s", ctx->label[0] ? ctx->label : ctx->mod->name);
  context_unref(ctx);
  return 0;
}

/* ---- the public API of shoal.h that works on contexts ---- */

void shoal_callback(struct shoal_context *ctx, void *ud, shoal_cb cb) {
  ctx->cb = cb;
  ctx->cb_ud = ud;
}

uint32_t shoal_self(struct shoal_context *ctx) { return ctx->handle; }

void shoal_reply_error(struct shoal_context *ctx, uint32_t to, int session, int code, const char *text, size_t len) {
  shoal_context_reply_error(ctx->handle, to, session, code, text, len);
}

/* Called by the module's init, before anyone can read the label. */
void shoal_set_label(struct shoal_context *ctx, const char *label) {
  snprintf(ctx->label, sizeof(ctx->label), "%s", label ? label : "");
}

void shoal_set_memory(struct shoal_context *ctx, size_t bytes) {
  atomic_store_explicit(&ctx->mem, bytes, memory_order_relaxed);
}

static int new_session(struct shoal_context *ctx) {
  int s = ++ctx->session_id;
  if (s <= 0 || s == 0x7fffffff) s = ctx->session_id = 1;
  return s;
}

int shoal_send(struct shoal_context *ctx, uint32_t source, uint32_t dest, int type, int session,
               void *data, size_t sz) {
  if (sz > 0xffffffffu) {
    shoal_free(data);
    return SHOAL_ETOOBIG;
  }
  int alloc = session == SHOAL_SESSION_ALLOC;
  if (alloc) session = ctx ? new_session(ctx) : 0;
  if (source == 0 && ctx) source = ctx->handle;
  struct shoal_message m = {source, session, data, (uint32_t)sz, (uint32_t)type};
  int r = shoal_context_push(dest, &m);
  if (r != 0) {
    shoal_free(data);
    return r;
  }
  /* 0, or the new session: a caller-chosen session may be negative (a
   * gate's -conn) and must not read as an error code. */
  return alloc ? session : 0;
}

int shoal_sendname(struct shoal_context *ctx, uint32_t source, const char *dest, int type,
                   int session, void *data, size_t sz) {
  uint32_t h = shoal_handle_findname(dest);
  if (h == 0) {
    shoal_free(data);
    return SHOAL_ENOSERVICE;
  }
  return shoal_send(ctx, source, h, type, session, data, sz);
}

int shoal_timeout(struct shoal_context *ctx, uint32_t ms) {
  int session = new_session(ctx);
  if (shoal_timer_add(ctx->handle, session, ms) != 0) return SHOAL_EINVAL;
  return session;
}

int64_t shoal_launch(struct shoal_context *ctx, const char *module, const char *args) {
  char err[256];
  int64_t h = shoal_context_new(module, args, err, sizeof(err));
  if (h < 0) shoal_log(ctx, SHOAL_LOG_ERROR, "launch %s %s: %s", module, args ? args : "", err);
  return h;
}

int shoal_kill(uint32_t handle) { return shoal_context_retire(handle); }

void shoal_exit(struct shoal_context *ctx) { shoal_context_retire(ctx->handle); }

int shoal_name(const char *name, uint32_t handle) { return shoal_handle_bindname(handle, name); }

uint32_t shoal_query(const char *name) { return shoal_handle_findname(name); }

int shoal_list(uint32_t *out, int max) { return shoal_handle_list(out, max); }

int shoal_interrupt(uint32_t handle) { return shoal_context_signal(handle, SHOAL_SIGNAL_INTERRUPT); }
