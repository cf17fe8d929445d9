/*
 * remote.c - the core side of cross-node messaging (see remote.h).
 *
 * Everything here is read on the send path of any worker, so it is a few
 * atomics per node and no lock: the harbor writes states and buffered
 * counts, senders read them. The queue bound is checked before the push, so
 * it can be passed by at most one message per concurrent sender: a bound,
 * not an exact limit.
 */
#include "remote.h"

#include <stdatomic.h>
#include <stddef.h>

#include "alloc.h"
#include "context.h"
#include "handle.h"
#include "shoal.h"

#define NODES (SHOAL_HANDLE_NODE_MAX + 1) /* indexed by node id */

static struct {
  atomic_uint harbor;               /* the harbor's handle, 0 if none */
  atomic_size_t limit;              /* bytes per node */
  atomic_int state[NODES];          /* enum shoal_node_state */
  atomic_size_t queued[NODES];      /* payload bytes in the harbor's queue */
  atomic_size_t messages[NODES];    /* messages in the harbor's queue */
  atomic_size_t buffered[NODES];    /* bytes in the harbor's buffers and socket */
} R;

void shoal_remote_init(void) {
  atomic_store(&R.harbor, 0);
  atomic_store(&R.limit, 0);
  for (int i = 0; i < NODES; i++) {
    atomic_store(&R.state[i], SHOAL_NODE_UNKNOWN);
    atomic_store(&R.queued[i], 0);
    atomic_store(&R.messages[i], 0);
    atomic_store(&R.buffered[i], 0);
  }
}

uint32_t shoal_remote_harbor(void) { return atomic_load_explicit(&R.harbor, memory_order_acquire); }

int shoal_remote_push(uint32_t handle, struct shoal_message *m) {
  int node = (int)(handle >> SHOAL_HANDLE_NODE_SHIFT);
  uint32_t harbor = shoal_remote_harbor();
  int state = atomic_load_explicit(&R.state[node], memory_order_acquire);
  if (harbor == 0 || state == SHOAL_NODE_UNKNOWN || state == SHOAL_NODE_LOST) return SHOAL_ENODEDOWN;
  if (shoal_node_queued(node) + m->size > atomic_load_explicit(&R.limit, memory_order_relaxed)) return SHOAL_EFULL;
  struct shoal_remote_message *rm = shoal_malloc(sizeof(*rm));
  rm->dest = handle;
  rm->type = (int)m->type;
  rm->data = m->data;
  rm->size = m->size;
  atomic_fetch_add_explicit(&R.queued[node], m->size, memory_order_relaxed);
  atomic_fetch_add_explicit(&R.messages[node], 1, memory_order_relaxed);
  struct shoal_message hm = {m->source, m->session, rm, sizeof(*rm), SHOAL_PTYPE_HARBOR};
  if (shoal_context_push(harbor, &hm) != 0) {
    atomic_fetch_sub_explicit(&R.queued[node], m->size, memory_order_relaxed);
    atomic_fetch_sub_explicit(&R.messages[node], 1, memory_order_relaxed);
    shoal_free(rm);
    return SHOAL_ENODEDOWN;
  }
  return 0;
}

/* ---- the harbor's side (shoal.h) ---- */

uint32_t shoal_node_self(void) { return shoal_handle_node(); }

int shoal_harbor_attach(struct shoal_context *ctx, size_t queue_limit) {
  unsigned expected = 0;
  if (!atomic_compare_exchange_strong(&R.harbor, &expected, shoal_self(ctx))) return SHOAL_ENAMEEXIST;
  atomic_store(&R.limit, queue_limit);
  return 0;
}

void shoal_harbor_detach(struct shoal_context *ctx) {
  unsigned expected = shoal_self(ctx);
  if (!atomic_compare_exchange_strong(&R.harbor, &expected, 0)) return;
  for (int i = 0; i < NODES; i++) atomic_store(&R.state[i], SHOAL_NODE_UNKNOWN);
}

static int valid_node(int node) { return node > 0 && node < NODES; }

void shoal_node_set_state(int node, int state) {
  if (valid_node(node)) atomic_store_explicit(&R.state[node], state, memory_order_release);
}

size_t shoal_node_dequeued(int node, size_t bytes) {
  if (!valid_node(node)) return 0;
  atomic_fetch_sub_explicit(&R.queued[node], bytes, memory_order_relaxed);
  return atomic_fetch_sub_explicit(&R.messages[node], 1, memory_order_relaxed) - 1;
}

void shoal_node_set_buffered(int node, size_t bytes) {
  if (valid_node(node)) atomic_store_explicit(&R.buffered[node], bytes, memory_order_relaxed);
}

size_t shoal_node_queued(int node) {
  if (!valid_node(node)) return 0;
  return atomic_load_explicit(&R.queued[node], memory_order_relaxed) +
         atomic_load_explicit(&R.buffered[node], memory_order_relaxed);
}
