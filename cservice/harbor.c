/*
 * harbor - the C service that carries messages between nodes.
 *
 * Started by bootstrap when the config has `cluster` (see docs/cluster.md):
 *
 *   cluster = "1@127.0.0.1:7001,2@127.0.0.1:7002,3@127.0.0.1:7003"
 *   cluster_secret_env = "SHOAL_CLUSTER_SECRET"   -- the secret's variable
 *   heartbeat_ms = 1000  heartbeat_misses = 3     -- silent peer = lost
 *   harbor_queue_kb = 16384                       -- bound per peer node
 *   harbor_max_message_kb = 65536                 -- largest message
 *   harbor_max_unproven = 64                      -- accepted, not yet proven
 *   remote_debug = false                          -- DEBUG from other nodes
 *
 * The core hands every message for another node's handle to the harbor
 * (core/remote.c); the harbor frames it (cservice/harbor_wire.h) onto the
 * one TCP connection to that node. The lower node id dials, the higher
 * accepts (and dials too after a grace period, for a lower node that has
 * not heard of it; of two connections both keep the one the lower id
 * dialed); both prove they know the secret (HMAC over both nonces) before a
 * byte of traffic moves.
 *
 * No caller hangs on a dead node: the harbor records every request it
 * forwards (harbor_pending.c) and, when the node is lost, answers each one
 * with an ERROR naming the node, at once. A node is lost when its
 * connection closes or fails, or when nothing (not even a PING) has come
 * from it for heartbeat_ms * heartbeat_misses: a frozen process whose
 * socket stays open is caught by that. Sends to a lost node fail in the
 * sender (SHOAL_ENODEDOWN) until it is back; the dialer retries with
 * backoff (100 ms doubling to 2 s).
 *
 * Writes are batched: frames for a peer go to a buffer, written at once
 * when no other message for that node waits in the harbor's queue (the
 * core counts them); otherwise a message the harbor sends itself (behind
 * everything already queued) flushes all dirty buffers with one socket
 * write each.
 *
 * TEXT commands (from local or remote services; a request gets an answer):
 *   query NAME             -> ":%08x", the handle NAME has on this node
 *   register NAME [HANDLE] bind a cluster-global name (default: the sender)
 *                          and announce it to every node
 *   peer NODE HOST:PORT    learn (or change) a node's address
 *   nodes                  one line per peer node, for the console
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "harbor_int.h"

SHOAL_API void *harbor_create(void);
SHOAL_API int harbor_init(struct harbor *h, struct shoal_context *ctx, const char *args);
SHOAL_API void harbor_release(struct harbor *h);

const char *harbor_state_name(int s) {
  static const char *names[] = {"unknown", "connecting", "up", "lost"};
  return s >= 0 && s < 4 ? names[s] : "?";
}

/* Microseconds of a monotonic clock: PING carries it, PONG brings it back. */
static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t detect_ms(const struct harbor *h) { return (uint64_t)h->heartbeat_ms * h->misses; }

/* ---- output ---- */

uint8_t *harbor_obuf_reserve(struct obuf *b, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    b->data = shoal_realloc(b->data, cap);
    b->cap = cap;
  }
  uint8_t *p = b->data + b->len;
  b->len += n;
  return p;
}

static void update_gauge(struct harbor *h, int node) {
  struct peer *p = &h->peers[node];
  size_t sock = p->link && p->state == SHOAL_NODE_UP ? shoal_socket_buffered(p->link->sock) : 0;
  shoal_node_set_buffered(node, p->out.len + sock);
}

/* Hands node's buffer to the socket (ownership moves). The node stays in
 * the dirty list if it is there: the list's flush finds nothing to write. */
static void flush_peer(struct harbor *h, int node) {
  struct peer *p = &h->peers[node];
  if (p->out.len == 0 || p->link == NULL || p->link->hs != HS_UP) return;
  uint8_t *data = p->out.data;
  size_t len = p->out.len;
  memset(&p->out, 0, sizeof(p->out));
  p->bytes_out += len;
  shoal_socket_send(h->ctx, p->link->sock, data, len);
  update_gauge(h, node);
}

static void flush_all(struct harbor *h) {
  h->flush_scheduled = 0;
  for (int i = 0; i < h->ndirty; i++) {
    h->peers[h->dirty[i]].dirty = 0;
    flush_peer(h, h->dirty[i]);
  }
  h->ndirty = 0;
}

/* Marks node's buffer for the next flush, which runs after every message
 * already in the harbor's queue: a burst of sends becomes one write. */
void harbor_mark_dirty(struct harbor *h, int node) {
  struct peer *p = &h->peers[node];
  if (p->state != SHOAL_NODE_UP) return; /* held until the link is up */
  if (p->out.len >= FLUSH_EARLY) {
    flush_peer(h, node);
    return;
  }
  if (!p->dirty) {
    p->dirty = 1;
    h->dirty[h->ndirty++] = node;
  }
  if (!h->flush_scheduled) {
    h->flush_scheduled = 1;
    shoal_send(h->ctx, 0, h->self, SHOAL_PTYPE_HARBOR, 0, NULL, 0);
  }
}

/* Appends a NAME frame: handle, then the name (no NUL). */
void harbor_put_name(struct obuf *b, const char *name, uint32_t handle) {
  size_t n = strlen(name);
  uint8_t *f = harbor_obuf_reserve(b, 9 + n);
  wire_head(f, WIRE_NAME, 4 + n);
  wire_put32(f + 5, handle);
  memcpy(f + 9, name, n);
}

/* Sends a small control frame on a link now (handshake, refusal). */
void harbor_send_frame_now(struct harbor *h, struct link *l, int kind, const void *body, size_t n) {
  uint8_t *buf = shoal_malloc(5 + n);
  wire_head(buf, kind, n);
  if (n) memcpy(buf + 5, body, n);
  shoal_socket_send(h->ctx, l->sock, buf, 5 + n);
}

/* Appends one message (split into FIRST + MOREs when large) to node's buffer. */
static void encode_message(struct peer *p, int type, uint32_t source, uint32_t dest, int session, const uint8_t *data,
                           size_t size) {
  size_t first = size <= WIRE_CHUNK ? size : WIRE_CHUNK;
  int big = size > WIRE_CHUNK;
  size_t head = WIRE_MSG_HEAD + (big ? 4 : 0);
  uint8_t *f = harbor_obuf_reserve(&p->out, 4 + head + first);
  wire_head(f, big ? WIRE_FIRST : WIRE_MSG, head - 1 + first);
  f[5] = (uint8_t)type;
  wire_put32(f + 6, source);
  wire_put32(f + 10, dest);
  wire_put32(f + 14, (uint32_t)session);
  if (big) wire_put32(f + 18, (uint32_t)size);
  wire_put32(f + head, 0); /* the 4 reserved bytes before the payload: never heap garbage on the wire */
  memcpy(f + 4 + head, data, first);
  for (size_t off = first; off < size; off += WIRE_CHUNK) {
    size_t part = size - off < WIRE_CHUNK ? size - off : WIRE_CHUNK;
    uint8_t *m = harbor_obuf_reserve(&p->out, 5 + part);
    wire_head(m, WIRE_MORE, part);
    memcpy(m + 5, data + off, part);
  }
}

/* ---- node states ---- */

void harbor_set_state(struct harbor *h, int node, int state) {
  struct peer *p = &h->peers[node];
  p->state = state;
  p->since_ms = shoal_now();
  shoal_node_set_state(node, state);
}

struct fail_ctx {
  struct harbor *h;
  int node;
  const char *why;
};

static void fail_call(void *ud, uint32_t caller, int session) {
  struct fail_ctx *f = ud;
  char text[160];
  int n = snprintf(text, sizeof(text), "node %d %s", f->node, f->why);
  shoal_reply_error(f->h->ctx, caller, session, SHOAL_ENODEDOWN, text, (size_t)n);
}

/* Frees l. When l is the link being read, its reader stops after the
 * frame at hand (the reader's memory goes with l); any other link's freeing
 * leaves that read alone. */
void harbor_link_free(struct harbor *h, struct link *l, int abort_socket) {
  if (l == h->reading) {
    h->stop_feed = 1;
    h->reading = NULL;
  }
  for (int i = 0; i < h->nlinks; i++) {
    if (h->links[i] == l) {
      h->links[i] = h->links[--h->nlinks];
      break;
    }
  }
  if (abort_socket) shoal_socket_abort(h->ctx, l->sock);
  link_reader_free(l->reader);
  shoal_free(l);
}

/* When to dial node again. A higher node normally waits to be dialed, and
 * dials itself only after a grace period: it may know a lower node (from
 * the registry) that does not know it. */
void harbor_schedule_dial(struct harbor *h, int node) {
  struct peer *p = &h->peers[node];
  p->next_dial_ms = shoal_now() + p->backoff_ms + (node < h->node ? 1000 : 0);
}

/* The node is gone: fail every call waiting on it, refuse new sends. */
void harbor_peer_lost(struct harbor *h, int node, const char *why) {
  struct peer *p = &h->peers[node];
  if (p->link) {
    harbor_link_free(h, p->link, 1);
    p->link = NULL;
  }
  char reason[120];
  snprintf(reason, sizeof(reason), "lost: %s", why);
  struct fail_ctx f = {h, node, reason};
  size_t waiting = pending_count(p->calls);
  pending_drain(p->calls, UINT64_MAX, fail_call, &f);
  p->out.len = 0; /* the requests in it were failed above; one-way sends are dropped */
  shoal_node_set_buffered(node, 0);
  int was = p->state;
  harbor_set_state(h, node, SHOAL_NODE_LOST);
  snprintf(p->reason, sizeof(p->reason), "%s", why);
  if (was != SHOAL_NODE_LOST)
    shoal_log(h->ctx, SHOAL_LOG_WARN, "harbor: node %d lost: %s (%zu waiting calls failed)", node, why, waiting);
  harbor_schedule_dial(h, node);
  p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
}

static void announce_names(struct harbor *h, int node) {
  struct peer *p = &h->peers[node];
  for (int i = 0; i < h->nnames; i++) harbor_put_name(&p->out, h->names[i].name, h->names[i].handle);
}

/* A link finished its handshake: it becomes node's connection. */
void harbor_link_up(struct harbor *h, struct link *l) {
  struct peer *p = &h->peers[l->node];
  struct link *old = p->link;
  if (old && old != l) {
    if (old->hs != HS_UP) {
      harbor_link_free(h, old, 1); /* our dial, not needed any more */
    } else if (memcmp(old->boot, l->boot, WIRE_BOOT) != 0) {
      harbor_peer_lost(h, l->node, "it restarted (a connection from a new process)");
    } else {
      /* Both dialed: a second connection between the same processes. Both
       * sides keep the one the lower node id dialed and close the other. */
      int keep_new = h->node < l->node ? l->dialed : !l->dialed;
      struct link *drop = keep_new ? old : l;
      shoal_log(h->ctx, SHOAL_LOG_DEBUG, "harbor: node %d: closing a second connection", l->node);
      harbor_link_free(h, drop, 1);
      if (!keep_new) return;
    }
  }
  p->link = l;
  l->hs = HS_UP;
  link_reader_allow_messages(l->reader); /* also the frames after WELCOME in this read */
  l->last_recv_ms = shoal_now();
  p->last_ping_ms = 0;
  p->backoff_ms = BACKOFF_MIN_MS;
  shoal_socket_nodelay(h->ctx, l->sock);
  shoal_log(h->ctx, SHOAL_LOG_INFO, "harbor: node %d up (%s)", l->node, l->addr);
  announce_names(h, l->node);
  harbor_set_state(h, l->node, SHOAL_NODE_UP);
  flush_peer(h, l->node); /* what queued while connecting */
}

struct link *harbor_link_new(struct harbor *h, int sock, int node, int hs, const char *addr) {
  if (h->nlinks == MAX_LINKS) {
    shoal_log(h->ctx, SHOAL_LOG_ERROR, "harbor: %d connections open, refusing %s", MAX_LINKS, addr);
    shoal_socket_abort(h->ctx, sock);
    return NULL;
  }
  struct link *l = shoal_malloc(sizeof(*l));
  memset(l, 0, sizeof(*l));
  l->sock = sock;
  l->node = node;
  l->hs = hs;
  l->started_ms = shoal_now();
  l->reader = link_reader_new(h->max_message);
  snprintf(l->addr, sizeof(l->addr), "%s", addr);
  h->links[h->nlinks++] = l;
  return l;
}

void harbor_dial(struct harbor *h, int node) {
  struct peer *p = &h->peers[node];
  if (p->link || p->port == 0) return;
  const char *host = p->host;
  char ip[64];
  if (!harbor_host_is_numeric(host)) {
    char err[96];
    if (h->resolver == NULL) h->resolver = harbor_resolver_new(); /* the first peer known by name */
    int r = harbor_resolver_get(h->resolver, node, host, ip, sizeof(ip), err, sizeof(err));
    if (r == 0) {
      p->next_dial_ms = shoal_now(); /* being resolved: the next tick asks again */
      return;
    }
    if (r < 0) {
      char why[200];
      snprintf(why, sizeof(why), "cannot resolve %s: %s", host, err);
      harbor_peer_lost(h, node, why);
      return;
    }
    host = ip;
  }
  int sock = shoal_socket_connect(h->ctx, host, p->port);
  char addr[96];
  snprintf(addr, sizeof(addr), "%s:%d", p->host, p->port);
  if (sock < 0) {
    harbor_peer_lost(h, node, "cannot open a socket to dial");
    return;
  }
  p->link = harbor_link_new(h, sock, node, HS_DIALING, addr);
  if (p->link) p->link->dialed = 1;
}

/* ---- incoming ---- */

struct feed_ctx {
  struct harbor *h;
  struct link *l;
};

static void on_link_frame(void *ud, int kind, const uint8_t *b, size_t n) {
  struct feed_ctx *f = ud;
  struct harbor *h = f->h;
  struct link *l = f->l;
  if (kind == WIRE_HELLO) return harbor_on_hello(h, l, b, n);
  if (kind == WIRE_PROOF) return harbor_on_proof(h, l, b, n);
  if (kind == WIRE_WELCOME) return harbor_on_welcome(h, l, b, n);
  if (kind == WIRE_REFUSE) return harbor_on_refuse(h, l, b, n);
  if (l->hs != HS_UP) return harbor_refuse(h, l, "traffic before the handshake", 1);
  struct peer *p = &h->peers[l->node];
  if (kind == WIRE_PING && n == 8) {
    uint8_t *o = harbor_obuf_reserve(&p->out, 13);
    wire_head(o, WIRE_PONG, 8);
    memcpy(o + 5, b, 8);
    harbor_mark_dirty(h, l->node);
  } else if (kind == WIRE_PONG && n == 8) {
    uint64_t sent = wire_get64(b), now = now_us();
    p->rtt_us = now >= sent ? now - sent : 0;
  } else if (kind == WIRE_NAME && n > 4 && n < 4 + 64) {
    char name[64];
    memcpy(name, b + 4, n - 4);
    name[n - 4] = '\0';
    uint32_t handle = wire_get32(b);
    /* A name a live local service holds is not moved (shoal_name refuses). */
    int r = shoal_handle_node_of(handle) != l->node ? SHOAL_EINVAL : shoal_name(name, handle);
    if (r != 0)
      shoal_log(h->ctx, SHOAL_LOG_WARN, "harbor: node %d announced name '%s' for :%08x: refused (%s)", l->node, name,
                handle, r == SHOAL_ENAMEEXIST ? "the name is bound to a live service here" : shoal_strerror(r));
  } else {
    shoal_log(h->ctx, SHOAL_LOG_WARN, "harbor: node %d sent an unknown frame kind %d (%zu bytes), ignored", l->node,
              kind, n);
  }
}

/* The name of a message type, for log lines. */
static const char *ptype_name(int type) {
#define PTYPE_NAME(name, value) value == type ? #name :
  return SHOAL_PTYPE_LIST(PTYPE_NAME) "user";
#undef PTYPE_NAME
}

/* A peer sent a type this node does not take from other nodes (their
 * payloads are pointers or runtime plumbing, or remote debugging is off):
 * dropped, logged, and a request answered so its caller does not wait. */
static void refuse_type(struct harbor *h, int node, struct link_message *m) {
  char text[160];
  int n = snprintf(text, sizeof(text), "node %d refuses messages of type %d (%s) from other nodes%s", h->node, m->type,
                   ptype_name(m->type), m->type == SHOAL_PTYPE_DEBUG ? " (remote_debug is off)" : "");
  harbor_quiet_log(h, &h->refused[m->type & 0xff], SHOAL_LOG_WARN, "harbor: node %d sent :%08x -> :%08x: %s", node, m->source, m->dest, text);
  if (shoal_is_request(m->type, m->session)) shoal_reply_error(h->ctx, m->source, m->session, SHOAL_EINVAL, text, (size_t)n);
  shoal_free(m->data);
}

static void on_link_message(void *ud, struct link_message *m) {
  struct feed_ctx *f = ud;
  struct harbor *h = f->h;
  int node = f->l->node;
  struct peer *p = &h->peers[node];
  if (f->l->hs != HS_UP) { /* the reader refuses messages before the handshake: not reached */
    shoal_free(m->data);
    return harbor_refuse(h, f->l, "traffic before the handshake", 1);
  }
  if (!h->accepts[m->type & 0xff]) return refuse_type(h, node, m);
  int request = shoal_is_request(m->type, m->session);
  if (!request && m->session > 0) pending_remove(p->calls, m->dest, m->session); /* an answer */
  uint32_t local = shoal_handle_local_of(m->dest);
  if (local == 0) { /* for the harbor itself */
    if (m->type == SHOAL_PTYPE_TEXT) harbor_on_command(h, m->source, m->session, m->data, m->size);
    shoal_free(m->data);
    return;
  }
  uint32_t dest = shoal_handle_make(h->node, local);
  int r = shoal_send(h->ctx, m->source, dest, m->type, m->session, m->data, m->size);
  if (r < 0 && request) {
    char text[128];
    int n = snprintf(text, sizeof(text), "service :%08x on node %d: %s", dest, h->node, shoal_strerror(r));
    shoal_reply_error(h->ctx, m->source, m->session, r, text, (size_t)n);
  }
}

static struct link *find_link(struct harbor *h, int sock) {
  for (int i = 0; i < h->nlinks; i++)
    if (h->links[i]->sock == sock) return h->links[i];
  return NULL;
}

static void link_closed(struct harbor *h, struct link *l, const char *why) {
  struct peer *p = l->node ? &h->peers[l->node] : NULL;
  if (p && p->link == l) {
    harbor_peer_lost(h, l->node, why); /* frees l (the socket is gone already) */
  } else {
    /* a registry probe or a port scan: not worth a line at info */
    shoal_log(h->ctx, SHOAL_LOG_DEBUG, "harbor: connection %s closed before its handshake: %s", l->addr, why);
    harbor_link_free(h, l, 1);
  }
}

static void on_socket(struct harbor *h, const struct shoal_socket_message *sm) {
  if (sm->type == SHOAL_SOCKET_ACCEPT) return harbor_accept(h, sm->ud, sm->buffer ? sm->buffer : "?");
  struct link *l = find_link(h, sm->id);
  if (l == NULL) return;
  switch (sm->type) {
    case SHOAL_SOCKET_CONNECT:
      if (l->hs == HS_DIALING) l->hs = HS_WAIT_HELLO;
      break;
    case SHOAL_SOCKET_DATA: {
      char err[128];
      struct feed_ctx f = {h, l};
      struct link_handler lh = {on_link_frame, on_link_message};
      l->last_recv_ms = shoal_now();
      if (l->node) h->peers[l->node].bytes_in += (uint64_t)sm->ud;
      h->stop_feed = 0;
      h->reading = l;
      int r = link_reader_feed(l->reader, (const uint8_t *)sm->buffer, (size_t)sm->ud, &lh, &f, &h->stop_feed, err,
                               sizeof(err));
      h->reading = NULL;
      if (r != 0) { /* l is alive: a freed link stops its read with 0 */
        char why[160];
        snprintf(why, sizeof(why), "protocol error: %s", err);
        if (l->hs == HS_UP) harbor_peer_lost(h, l->node, why);
        else harbor_refuse(h, l, why, 0);
      }
      break;
    }
    case SHOAL_SOCKET_CLOSE:
      link_closed(h, l, "connection closed by the peer");
      break;
    case SHOAL_SOCKET_ERROR: {
      char why[128];
      snprintf(why, sizeof(why), "%s %s", l->hs == HS_DIALING ? "connect failed:" : "socket error:",
               sm->buffer ? sm->buffer : "?");
      link_closed(h, l, why);
      break;
    }
    default:
      break;
  }
}

/* ---- outgoing (from local services, through the core) ---- */

static void on_remote(struct harbor *h, uint32_t source, int session, struct shoal_remote_message *rm) {
  int node = shoal_handle_node_of(rm->dest);
  size_t behind = shoal_node_dequeued(node, rm->size);
  struct peer *p = &h->peers[node];
  int request = shoal_is_request(rm->type, session);
  if (p->state != SHOAL_NODE_UP && p->state != SHOAL_NODE_CONNECTING) {
    if (request) {
      char text[160];
      int n = snprintf(text, sizeof(text), "node %d is %s%s%s", node, harbor_state_name(p->state), p->reason[0] ? ": " : "",
                       p->reason);
      shoal_reply_error(h->ctx, source, session, SHOAL_ENODEDOWN, text, (size_t)n);
    }
    shoal_free(rm->data);
    return;
  }
  if ((unsigned)rm->type > 255) { /* the wire has one byte for it: 261 would arrive as 5 (SOCKET) */
    char text[128];
    int n = snprintf(text, sizeof(text), "message type %d cannot cross nodes (types 0..255)", rm->type);
    shoal_log(h->ctx, SHOAL_LOG_WARN, "harbor: :%08x -> :%08x: %s", source, rm->dest, text);
    if (request) shoal_reply_error(h->ctx, source, session, SHOAL_EINVAL, text, (size_t)n);
    shoal_free(rm->data);
    return;
  }
  if (rm->size > h->max_message) {
    if (request) {
      char text[128];
      int n = snprintf(text, sizeof(text), "message of %zu bytes over the cluster limit of %zu", rm->size,
                       h->max_message);
      shoal_reply_error(h->ctx, source, session, SHOAL_ETOOBIG, text, (size_t)n);
    }
    shoal_free(rm->data);
    return;
  }
  if (request) pending_add(p->calls, source, session, shoal_now());
  encode_message(p, rm->type, source, rm->dest, session, rm->data, rm->size);
  shoal_free(rm->data);
  /* The last message queued for node goes out now, with whatever is
   * buffered before it; a burst still in the queue waits for the flush
   * message behind it and becomes one write. flush_peer sets the gauge. */
  if (behind == 0 && p->state == SHOAL_NODE_UP) {
    flush_peer(h, node);
  } else {
    shoal_node_set_buffered(node, p->out.len);
    harbor_mark_dirty(h, node);
  }
}

/* ---- the clock ---- */

/* timer_session 0 when shoal_timeout failed: no session matches it */
static void arm_tick(struct harbor *h) {
  int s = shoal_timeout(h->ctx, h->heartbeat_ms / 4 > 10 ? h->heartbeat_ms / 4 : 10);
  h->timer_session = s > 0 ? s : 0;
}

static void on_tick(struct harbor *h) {
  uint64_t now = shoal_now();
  harbor_handshake_tick(h, now);
  for (int node = 1; node <= MAX_NODE; node++) {
    struct peer *p = &h->peers[node];
    if (p->state == SHOAL_NODE_UNKNOWN || node == h->node) continue;
    if (p->state == SHOAL_NODE_UP) {
      uint64_t silent = now - p->link->last_recv_ms;
      if (silent > detect_ms(h)) {
        char why[96];
        snprintf(why, sizeof(why), "silent for %llu ms (%u heartbeats missed)", (unsigned long long)silent, h->misses);
        harbor_peer_lost(h, node, why);
        continue;
      }
      if (now - p->last_ping_ms >= h->heartbeat_ms) {
        p->last_ping_ms = now;
        uint8_t *o = harbor_obuf_reserve(&p->out, 13);
        wire_head(o, WIRE_PING, 8);
        wire_put64(o + 5, now_us());
        harbor_mark_dirty(h, node);
      }
      update_gauge(h, node);
    } else if (p->state == SHOAL_NODE_CONNECTING && now - p->since_ms > detect_ms(h) + 1000) {
      harbor_peer_lost(h, node, p->port ? "no connection yet" : "no address known");
    }
    if (p->state != SHOAL_NODE_UP && p->link == NULL && p->port && now >= p->next_dial_ms) {
      p->next_dial_ms = now + BACKOFF_MAX_MS; /* until this dial ends */
      harbor_dial(h, node);
    }
  }
  if (now - h->last_sweep_ms > h->call_timeout_ms) {
    /* callers gave up at their own timeout: forget their entries */
    h->last_sweep_ms = now;
    for (int node = 1; node <= MAX_NODE; node++)
      if (h->peers[node].calls && now > 2ull * h->call_timeout_ms) {
        pending_drain(h->peers[node].calls, now - 2ull * h->call_timeout_ms, NULL, NULL);
      }
  }
  arm_tick(h);
}

/* Node shutdown: the harbor leaves last (but for the logger), so other
 * services' exit hooks (a registry leave, a last save) can still reach other
 * nodes; at the latest EXIT_GRACE_MS after the EXIT. */
static void exit_when_alone(struct harbor *h) {
  uint32_t live[4];
  if (shoal_list(live, 4) <= 2 || shoal_now() >= h->exit_by_ms) {
    shoal_exit(h->ctx);
    return;
  }
  h->exit_session = shoal_timeout(h->ctx, 10);
}

static int harbor_cb(struct shoal_context *ctx, void *ud, int type, int session, uint32_t source, const void *msg,
                     size_t sz) {
  struct harbor *h = ud;
  switch (type) {
    case SHOAL_PTYPE_HARBOR:
      if (sz == sizeof(struct shoal_remote_message)) on_remote(h, source, session, (void *)msg);
      else if (sz == 0 && source == h->self) flush_all(h);
      return 0;
    case SHOAL_PTYPE_SOCKET:
      if (sz >= sizeof(struct shoal_socket_message)) on_socket(h, msg);
      return 0;
    case SHOAL_PTYPE_TEXT:
      harbor_on_command(h, source, session, msg, sz);
      return 0;
    case SHOAL_PTYPE_RESPONSE:
      if (session == h->timer_session && session != 0) on_tick(h);
      else if (h->exiting && session == h->exit_session) exit_when_alone(h);
      return 0;
    case SHOAL_PTYPE_SYSTEM:
      /* Node shutdown: stay a moment so other services' exit hooks (a
       * registry leave, a last save) can still reach other nodes. */
      if (shoal_system_is(msg, sz, SHOAL_SYSTEM_EXIT) && !h->exiting) {
        h->exiting = 1;
        h->exit_by_ms = shoal_now() + EXIT_GRACE_MS;
        exit_when_alone(h);
      }
      return 0;
    default:
      if (session > 0) harbor_fail(h, source, session, "harbor: unexpected message type");
      return 0;
  }
}

/* ---- life cycle ---- */

void *harbor_create(void) {
  struct harbor *h = shoal_malloc(sizeof(*h));
  memset(h, 0, sizeof(*h));
  h->listen_sock = -1;
  return h;
}

void harbor_release(struct harbor *h) {
  if (h->ctx) shoal_harbor_detach(h->ctx);
  harbor_resolver_free(h->resolver);
  while (h->nlinks > 0) harbor_link_free(h, h->links[0], 1);
  for (int i = 0; i <= MAX_NODE; i++) {
    struct peer *p = &h->peers[i];
    if (p->calls) {
      struct fail_ctx f = {h, i, "lost: this node's harbor stopped"};
      pending_drain(p->calls, UINT64_MAX, fail_call, &f);
      pending_free(p->calls);
    }
    shoal_free(p->out.data);
  }
  if (h->listen_sock >= 0) shoal_socket_close(h->ctx, h->listen_sock);
  shoal_free(h);
}

int harbor_init(struct harbor *h, struct shoal_context *ctx, const char *args) {
  h->ctx = ctx;
  h->self = shoal_self(ctx);
  h->node = (int)shoal_node_self();
  /* The schema (core/config_keys.h) has checked the ranges. */
  h->heartbeat_ms = (uint32_t)shoal_config_int("heartbeat_ms");
  h->misses = (uint32_t)shoal_config_int("heartbeat_misses");
  h->call_timeout_ms = (uint32_t)shoal_config_int("call_timeout");
  size_t queue_limit = (size_t)shoal_config_int("harbor_queue_kb") * 1024;
  h->max_message = (size_t)shoal_config_int("harbor_max_message_kb") * 1024;
  h->max_unproven = (int)shoal_config_int("harbor_max_unproven");
  if (h->max_unproven < 1 || h->max_unproven > HARBOR_UNPROVEN_MAX) h->max_unproven = HARBOR_UNPROVEN_MAX;
  int debug_ok = shoal_config_bool("remote_debug");
  memset(h->accepts, 1, sizeof(h->accepts));
  h->accepts[SHOAL_PTYPE_SOCKET] = 0; /* payload: a pointer into the sender's memory */
  h->accepts[SHOAL_PTYPE_HARBOR] = 0; /* payload: a pointer (struct shoal_remote_message) */
  h->accepts[SHOAL_PTYPE_SYSTEM] = 0; /* the runtime's own signals (EXIT) */
  h->accepts[SHOAL_PTYPE_DEBUG] = (uint8_t)debug_ok; /* inspect and run code: only when the config says so */
  const char *envname = shoal_config_string("cluster_secret_env");
  const char *secret = getenv(envname);
  if (secret == NULL || *secret == '\0' || strlen(secret) >= sizeof(h->secret)) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "harbor: the cluster secret is missing: set the environment variable %s "
              "(named by cluster_secret_env) to the same secret on every node", envname);
    return SHOAL_EINVAL;
  }
  h->secretlen = strlen(secret);
  if (getrandom(h->boot, WIRE_BOOT, 0) != WIRE_BOOT) return SHOAL_EINIT;
  memcpy(h->secret, secret, h->secretlen);
  for (int i = 0; i <= MAX_NODE; i++) h->peers[i].calls = pending_new();
  const char *cluster = args && *args ? args : shoal_config_string("cluster");
  char listen_host[64] = "";
  int listen_port = 0;
  if (harbor_parse_cluster(h, cluster ? cluster : "", listen_host, sizeof(listen_host), &listen_port) != 0)
    return SHOAL_EINVAL;
  const char *listen = shoal_config_string("harbor");
  if (*listen) {
    char spec[128];
    snprintf(spec, sizeof(spec), "%d@%s", h->node, listen);
    int node;
    if (harbor_parse_peer(spec, &node, listen_host, sizeof(listen_host), &listen_port) != 0) {
      shoal_log(ctx, SHOAL_LOG_ERROR, "harbor: harbor = '%s' is not HOST:PORT", listen);
      return SHOAL_EINVAL;
    }
  }
  if (listen_port == 0) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "harbor: no address to listen on: node %d is not in `cluster` and `harbor` is unset",
              h->node);
    return SHOAL_EINVAL;
  }
  h->listen_sock = shoal_socket_listen(ctx, listen_host, listen_port, 128);
  if (h->listen_sock < 0) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "harbor: cannot listen on %s:%d", listen_host, listen_port);
    h->listen_sock = -1;
    return SHOAL_EINVAL;
  }
  if (shoal_harbor_attach(ctx, queue_limit) != 0) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "harbor: this node has a harbor already");
    return SHOAL_EINVAL;
  }
  shoal_callback(ctx, h, harbor_cb);
  shoal_socket_start(ctx, h->listen_sock);
  shoal_log(ctx, SHOAL_LOG_INFO, "harbor: node %d listening on %s:%d (heartbeat %u ms x %u)", h->node, listen_host,
            listen_port, h->heartbeat_ms, h->misses);
  for (int node = 1; node <= MAX_NODE; node++) {
    struct peer *p = &h->peers[node];
    if (p->port == 0) continue;
    char host[sizeof(p->host)];
    memcpy(host, p->host, sizeof(host));
    harbor_add_peer(h, node, host, p->port);
  }
  h->last_sweep_ms = shoal_now();
  arm_tick(h);
  return 0;
}
