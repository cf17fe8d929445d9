/*
 * gate_read.c - frames in: what the gate does with the bytes a client
 * sends (see gate.c for the rest of the gate).
 *
 * Each DATA event is cut into frames (gate_frame.c). Before the watchdog
 * decides where a connection's frames go they are held, up to maxpacket +
 * 64 KiB; then each goes to the connection's target (its agent, or the
 * watchdog) as a CLIENT message.
 *
 * Back-pressure. Every client socket has a read window of
 * GATE_READ_WINDOW DATA messages (shoal_socket_set_window): the socket
 * server reads no further ahead of the gate than that, so the gate's
 * mailbox holds at most that many reads per connection however fast a
 * client sends. The gate counts a DATA event consumed once every frame in
 * it has gone out (and reports the count two at a time). And every GATE_CHECK_EVERY frames it looks at the
 * target's mailbox: with gate_agent_backlog messages waiting there, the
 * target is behind, so the connection waits. Its unparsed input is kept as
 * it came (the read buffers, not yet cut into messages), nothing more of
 * it is consumed, and so its socket stops reading once the window is full:
 * TCP makes the client wait. Every GATE_RESUME_MS the gate looks again;
 * once the target is down to a quarter of the backlog, the connection goes
 * on where it stopped.
 *
 * So what one connection can make the node hold is bounded: its window of
 * reads (4 x 64 KiB), gate_agent_backlog + GATE_CHECK_EVERY frames in its
 * target's mailbox, and its write buffer (gate_write_limit_kb).
 *
 * Known limit: a target shared by many connections counts all of them, so
 * when it is behind, each connection feeding it waits in turn.
 */
#include <string.h>

#include "gate_int.h"

/* ---- the wait list ---- */

static void wait_append(struct gate *g, struct gate_conn *c) {
  c->wprev = g->wait.wprev;
  c->wnext = &g->wait;
  g->wait.wprev->wnext = c;
  g->wait.wprev = c;
  c->waiting = 1;
}

static void wait_unlink(struct gate_conn *c) {
  if (!c->waiting) return;
  c->wprev->wnext = c->wnext;
  c->wnext->wprev = c->wprev;
  c->wprev = c->wnext = NULL;
  c->waiting = 0;
}

static void arm_resume(struct gate *g) {
  if (g->resume_session) return;
  int s = shoal_timeout(g->ctx, GATE_RESUME_MS);
  g->resume_session = s > 0 ? s : 0;
}

/* Whether c's target has at least mark messages waiting. One that cannot
 * be looked at (on another node, where the harbor bounds what is queued for
 * it; or gone, which the next send finds out) is not behind. */
static int target_behind(struct gate *g, struct gate_conn *c, size_t mark) {
  struct shoal_service_stat st;
  uint32_t dest = c->agent ? c->agent : g->watchdog;
  return shoal_stat(dest, &st) == 0 && st.mqlen >= mark;
}

/* ---- frames out ---- */

/* Sends a frame to the connection's agent (or the watchdog). Returns 0,
 * or -1 when the target is gone (c has then been dropped). */
static int send_frame(struct gate *g, struct gate_conn *c, void *body, uint32_t size) {
  uint32_t dest = c->agent ? c->agent : g->watchdog;
  /* -id is never SHOAL_SESSION_ALLOC: socket ids start at 16. */
  if (shoal_send(g->ctx, 0, dest, SHOAL_PTYPE_CLIENT, -c->id, body, size) == 0) {
    g->frames++;
    return 0;
  }
  gate_conn_log(g, SHOAL_LOG_WARN, "gate: connection %d (%s) closed: its %s :%08x is gone", c->id, c->addr,
                c->agent ? "agent" : "watchdog", dest);
  gate_drop_conn(g, c, "agent gone");
  return -1;
}

/* Hands a complete frame to the connection's target, or holds it until
 * the watchdog decides where frames go. Returns 0, or -1 when c has been
 * dropped (its target is gone, or too much was held). */
static int deliver(struct gate *g, struct gate_conn *c, void *body, uint32_t size) {
  if (c->decided) return send_frame(g, c, body, size);
  size_t limit = (size_t)g->maxpacket + GATE_HELD_MIN; /* one frame of the largest size always fits */
  if (c->held_bytes + size + GATE_HELD_OVERHEAD > limit) {
    shoal_free(body);
    gate_conn_log(g, SHOAL_LOG_WARN,
                  "gate: connection %d (%s) closed: more than %zu bytes sent before the watchdog answered", c->id,
                  c->addr, limit);
    gate_drop_conn(g, c, "too much data before accept");
    return -1;
  }
  struct gate_held_frame *h = shoal_malloc(sizeof(*h));
  h->next = NULL;
  h->body = body;
  h->size = size;
  if (c->held_tail) c->held_tail->next = h;
  else c->held = h;
  c->held_tail = h;
  c->held_bytes += size + GATE_HELD_OVERHEAD;
  return 0;
}

/* Cuts data[0..n) into frames for c. Returns the bytes used: n, or less
 * when c's target fell behind (c now waits; the rest is for later; it may
 * also wait with all n used); -1 when c was dropped. */
static long feed(struct gate *g, struct gate_conn *c, const char *data, size_t n) {
  size_t off = 0;
  while (off < n) {
    size_t used;
    void *body;
    uint32_t size;
    int r = c->ws ? gate_ws_next(g, c, data + off, n - off, &used, &body, &size)
                  : shoal_gate_frame_feed(&c->parser, data + off, n - off, &used, &body, &size);
    off += used;
    if (r == GATE_WS_DROPPED) return -1;
    if (r == SHOAL_GATE_FRAME_READY) {
      if (c->opener && gate_cipher_open(g, c, &body, &size) != 0) return -1;
      if (deliver(g, c, body, size) != 0) return -1;
      if (c->decided && ++c->since_check >= GATE_CHECK_EVERY) {
        c->since_check = 0;
        if (target_behind(g, c, g->agent_backlog)) {
          wait_append(g, c);
          g->waits++;
          arm_resume(g);
          return (long)off;
        }
      }
    } else if (r == SHOAL_GATE_FRAME_MORE) {
      break;
    } else {
      if (r == SHOAL_GATE_FRAME_ETOOBIG)
        gate_conn_log(g, SHOAL_LOG_WARN,
                      "gate: connection %d (%s) closed: oversized frame (header says %u bytes, maxpacket %u)", c->id,
                      c->addr, c->parser.size, g->maxpacket);
      else
        gate_conn_log(g, SHOAL_LOG_WARN, "gate: connection %d (%s) closed: %s", c->id, c->addr,
                      shoal_gate_frame_strerror(r));
      gate_drop_conn(g, c, r == SHOAL_GATE_FRAME_ETOOBIG ? "oversized frame" : "bad frame");
      return -1;
    }
  }
  return (long)n;
}

/* One more DATA event of c is consumed; reported a few at a time. */
void gate_read_consumed(struct gate_conn *c) {
  if (++c->unreported < GATE_REPORT_EVERY) return;
  shoal_socket_consumed(c->id, c->unreported);
  c->unreported = 0;
}

/* Keeps data[off..len) (a DATA buffer, owned from now on) for later. */
static void hold_input(struct gate_conn *c, char *data, size_t off, size_t len) {
  struct gate_chunk *k = shoal_malloc(sizeof(*k));
  k->next = NULL;
  k->data = data;
  k->off = off;
  k->len = len;
  if (c->chunks_tail) c->chunks_tail->next = k;
  else c->chunks = k;
  c->chunks_tail = k;
}

void gate_read_data(struct gate *g, struct gate_conn *c, struct shoal_socket_message *m) {
  if (!gate_ws_open(c)) gate_ws_data(g, c, m);
  else gate_read_data_from(g, c, m, 0);
}

void gate_read_data_from(struct gate *g, struct gate_conn *c, struct shoal_socket_message *m, size_t off) {
  size_t n = (size_t)m->ud;
  if (c->waiting || c->chunks) {
    hold_input(c, m->buffer, off, n);
    m->buffer = NULL;
    return;
  }
  long used = off < n ? feed(g, c, m->buffer + off, n - off) : 0;
  if (used < 0) return; /* dropped: its socket is closing and reads no more for it */
  if (off + (size_t)used < n) {
    hold_input(c, m->buffer, off + (size_t)used, n);
    m->buffer = NULL;
    return;
  }
  gate_read_consumed(c);
}

int gate_read_bytes(struct gate *g, struct gate_conn *c, const char *data, size_t n) {
  return feed(g, c, data, n) < 0 ? -1 : 0; /* c is not decided: it does not wait, all n are used */
}

/* c's target caught up: parse the input held for it, where it stopped,
 * until it is all consumed or the target falls behind again. */
static void resume(struct gate *g, struct gate_conn *c) {
  while (c->chunks) {
    struct gate_chunk *k = c->chunks;
    long used = feed(g, c, k->data + k->off, k->len - k->off);
    if (used < 0) return; /* dropped (its chunks with it) */
    k->off += (size_t)used;
    if (k->off < k->len) return; /* waiting again */
    c->chunks = k->next;
    if (c->chunks == NULL) c->chunks_tail = NULL;
    shoal_free(k->data);
    shoal_free(k);
    gate_read_consumed(c);
    if (c->waiting) return;
  }
  if (c->peer_closed) gate_read_eof(g, c);
}

void gate_read_resume(struct gate *g) {
  g->resume_session = 0;
  if (g->exiting) return;
  /* Each waiting connection is looked at once: one still behind goes to
   * the back of the list. */
  int n = 0;
  for (struct gate_conn *c = g->wait.wnext; c != &g->wait; c = c->wnext) n++;
  size_t low = g->agent_backlog / 4;
  for (int i = 0; i < n && g->wait.wnext != &g->wait; i++) {
    struct gate_conn *c = g->wait.wnext;
    wait_unlink(c);
    if (target_behind(g, c, low)) wait_append(g, c);
    else resume(g, c);
  }
  if (g->wait.wnext != &g->wait) arm_resume(g);
}

void gate_read_eof(struct gate *g, struct gate_conn *c) {
  if (c->waiting || c->chunks) {
    c->peer_closed = 1; /* after the input held before it */
    return;
  }
  if (!gate_ws_open(c)) { /* an unannounced connection leaves unannounced */
    if (shoal_log_enabled(SHOAL_LOG_DEBUG))
      shoal_log(g->ctx, SHOAL_LOG_DEBUG, "gate: connection %d (%s) closed by the client before it was open", c->id,
                c->addr);
    gate_drop_conn(g, c, NULL);
    return;
  }
  size_t pending = c->ws ? gate_ws_pending(c) : shoal_gate_frame_pending(&c->parser);
  if (pending == 0 && !c->decided) {
    c->peer_closed = 1; /* close once its held frames went out */
    return;
  }
  if (pending > 0) {
    gate_conn_log(g, SHOAL_LOG_WARN,
                  "gate: connection %d (%s) closed: truncated frame (%zu bytes of an unfinished frame)", c->id,
                  c->addr, pending);
    gate_drop_conn(g, c, "truncated frame");
  } else {
    if (shoal_log_enabled(SHOAL_LOG_DEBUG))
      shoal_log(g->ctx, SHOAL_LOG_DEBUG, "gate: connection %d (%s) closed by the client", c->id, c->addr);
    gate_drop_conn(g, c, "closed by the client");
  }
}

void gate_read_decide(struct gate *g, struct gate_conn *c) {
  if (c->decided) return;
  c->decided = 1;
  while (c->held) {
    struct gate_held_frame *h = c->held;
    c->held = h->next;
    if (c->held == NULL) c->held_tail = NULL;
    c->held_bytes -= h->size + GATE_HELD_OVERHEAD;
    void *body = h->body;
    uint32_t size = h->size;
    shoal_free(h);
    if (send_frame(g, c, body, size) != 0) return;
  }
  if (c->peer_closed) gate_read_eof(g, c);
}

void gate_read_forget(struct gate *g, struct gate_conn *c) {
  (void)g;
  wait_unlink(c);
  shoal_gate_frame_reset(&c->parser);
  while (c->held) {
    struct gate_held_frame *h = c->held;
    c->held = h->next;
    shoal_free(h->body);
    shoal_free(h);
  }
  c->held_tail = NULL;
  c->held_bytes = 0;
  while (c->chunks) {
    struct gate_chunk *k = c->chunks;
    c->chunks = k->next;
    shoal_free(k->data);
    shoal_free(k);
  }
  c->chunks_tail = NULL;
}
