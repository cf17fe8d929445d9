/*
 * gate_ws.c - WebSocket clients on the gate's own port (gate_websocket):
 * the glue between the gate and gate_wsproto.c (the pure protocol).
 *
 * A connection of a WebSocket gate starts unannounced: the watchdog hears
 * of it ("open") only once it is known to be a TCP client or a WebSocket
 * one that finished its upgrade, so no frame can be written to it in the
 * wrong framing. Its first bytes decide: "GET " is an HTTP upgrade, read
 * up to SHOAL_WS_HEAD_MAX bytes and answered (101, or an error status and
 * the close); anything else is the TCP framing, fed on as if the
 * connection had just been accepted by a TCP gate. One that has decided
 * nothing within gate_ws_handshake_ms is closed.
 *
 * After the upgrade every binary WebSocket message is one of the gate's
 * frames: its payload is what a TCP frame's body would be, so held frames,
 * back-pressure, maxpacket, the AEAD mode and the agents are unchanged.
 * The socket is framed in the WebSocket mode (SHOAL_SOCKET_FRAME_WS), so
 * every writer's frame goes out as one binary WebSocket frame. The gate
 * answers a ping with a pong, a close with a close (then closes), and
 * sends a close frame with a code before any close of its own: 1000
 * kicked, 1001 idle or stopping, 1002 a protocol error, 1003 a text
 * message, 1009 an oversized message, 1008 a refused AEAD frame or too
 * much data before the watchdog answered, 1011 the agent is gone.
 */
#include <stdio.h>
#include <string.h>

#include "gate_int.h"
#include "gate_wsproto.h"

enum { WS_SNIFF, WS_HANDSHAKE, WS_OPEN };

struct gate_ws {
  int state;                     /* WS_SNIFF, WS_HANDSHAKE, WS_OPEN */
  int close_sent;                /* a close frame went out: no other */
  uint64_t deadline;             /* node ms by which the handshake must be done */
  struct gate_conn *conn;        /* its connection */
  struct gate_ws *prev, *next;   /* the gate's list of connections not yet decided, oldest first */
  size_t got;                    /* bytes of head so far */
  char *head;                    /* SHOAL_WS_HEAD_MAX bytes: the request head (or the first bytes while
                                    sniffing); freed once the connection is open */
  struct shoal_ws_parser parser; /* frames being read, once open */
};

static void pending_unlink(struct gate *g, struct gate_ws *w) {
  if (w->prev == NULL && g->ws_pending != w) return; /* not on the list */
  if (w->prev) w->prev->next = w->next;
  else g->ws_pending = w->next;
  if (w->next) w->next->prev = w->prev;
  else g->ws_pending_tail = w->prev;
  w->prev = w->next = NULL;
}

void gate_ws_accept(struct gate *g, struct gate_conn *c) {
  struct gate_ws *w = shoal_malloc(sizeof(*w));
  memset(w, 0, sizeof(*w));
  w->conn = c;
  w->head = shoal_malloc(SHOAL_WS_HEAD_MAX);
  w->deadline = shoal_now() + g->ws_handshake_ms;
  shoal_ws_init(&w->parser, g->maxpacket, shoal_malloc, shoal_free);
  w->prev = g->ws_pending_tail;
  if (w->prev) w->prev->next = w;
  else g->ws_pending = w;
  g->ws_pending_tail = w;
  c->ws = w;
}

int gate_ws_open(const struct gate_conn *c) { return c->ws == NULL || c->ws->state == WS_OPEN; }

/* Writes bytes (copied) to c's socket as they are: an HTTP response or a
 * control frame, between whole frames of other writers. */
static void send_raw(struct gate *g, struct gate_conn *c, const void *data, size_t n) {
  void *copy = shoal_malloc(n);
  memcpy(copy, data, n);
  shoal_socket_send(g->ctx, c->id, copy, n);
}

static void send_close(struct gate *g, struct gate_conn *c, int code, const char *reason) {
  if (c->ws->close_sent) return;
  c->ws->close_sent = 1;
  unsigned char f[2 + SHOAL_WS_CONTROL_MAX];
  size_t n = shoal_ws_close_frame(code, reason, f);
  send_raw(g, c, f, n);
}

static int code_for(const char *reason) {
  if (reason == NULL || strcmp(reason, "idle timeout") == 0) return SHOAL_WS_CLOSE_GOING_AWAY;
  if (strcmp(reason, "kicked") == 0 || strcmp(reason, "closed by the client") == 0) return SHOAL_WS_CLOSE_NORMAL;
  if (strcmp(reason, "truncated frame") == 0) return SHOAL_WS_CLOSE_PROTOCOL;
  if (strcmp(reason, "oversized frame") == 0) return SHOAL_WS_CLOSE_TOO_BIG;
  if (strcmp(reason, "agent gone") == 0 || strcmp(reason, "bad agent") == 0) return SHOAL_WS_CLOSE_INTERNAL;
  return SHOAL_WS_CLOSE_POLICY;
}

void gate_ws_drop(struct gate *g, struct gate_conn *c, const char *reason) {
  struct gate_ws *w = c->ws;
  if (w->state == WS_OPEN) send_close(g, c, code_for(reason), reason ? reason : "the gate is stopping");
  pending_unlink(g, w);
  shoal_ws_reset(&w->parser);
}

void gate_ws_forget(struct gate *g, struct gate_conn *c) {
  if (c->ws == NULL) return;
  pending_unlink(g, c->ws);
  shoal_ws_reset(&c->ws->parser);
  shoal_free(c->ws->head);
  shoal_free(c->ws);
  c->ws = NULL;
}

/* c is decided (a TCP client, or upgraded): framed, announced. */
static void announce(struct gate *g, struct gate_conn *c, int mode) {
  pending_unlink(g, c->ws);
  shoal_free(c->ws->head);
  c->ws->head = NULL;
  shoal_socket_set_frame(c->id, g->header | mode);
  gate_announce(g, c);
}

static void refuse(struct gate *g, struct gate_conn *c, int status, const char *why, const char *reply) {
  g->ws_refused++;
  gate_conn_log(g, SHOAL_LOG_WARN, "gate: connection %d (%s) closed: WebSocket handshake refused: %d %s", c->id,
                c->addr, status, why);
  send_raw(g, c, reply, strlen(reply));
  gate_drop_conn(g, c, NULL);
}

void gate_ws_data(struct gate *g, struct gate_conn *c, struct shoal_socket_message *m) {
  struct gate_ws *w = c->ws;
  const char *data = m->buffer;
  size_t n = (size_t)m->ud, off = 0;
  static const char get[] = "GET ";
  if (w->state == WS_SNIFF) {
    while (off < n && w->got < 4) {
      w->head[w->got] = data[off++];
      if (w->head[w->got] != get[w->got]) {
        /* Not an upgrade: the TCP framing, from its first byte. */
        size_t first = w->got + 1;
        char copy[4];
        memcpy(copy, w->head, first);
        announce(g, c, 0);
        gate_ws_forget(g, c);
        if (c->closing) return; /* the watchdog is gone */
        if (gate_read_bytes(g, c, copy, first) != 0) return;
        gate_read_data_from(g, c, m, off);
        return;
      }
      w->got++;
    }
    if (w->got < 4) {
      gate_read_consumed(c);
      return;
    }
    w->state = WS_HANDSHAKE;
  }
  size_t before = w->got - off; /* head bytes that came before data[0] (off of them were sniffed from it) */
  size_t take = n - off < SHOAL_WS_HEAD_MAX - w->got ? n - off : SHOAL_WS_HEAD_MAX - w->got;
  memcpy(w->head + w->got, data + off, take);
  w->got += take;
  char reply[512];
  const char *why = NULL;
  size_t used = 0;
  struct shoal_ws_policy policy = {g->ws_path, g->ws_origins};
  int status = shoal_ws_handshake(w->head, w->got, &policy, &used, reply, sizeof(reply), &why);
  if (status == 0) {
    gate_read_consumed(c);
    return;
  }
  if (status != 101) {
    refuse(g, c, status, why, reply);
    return;
  }
  send_raw(g, c, reply, strlen(reply));
  w->state = WS_OPEN;
  g->ws_opened++;
  if (shoal_log_enabled(SHOAL_LOG_DEBUG))
    shoal_log(g->ctx, SHOAL_LOG_DEBUG, "gate: connection %d (%s) upgraded to a WebSocket", c->id, c->addr);
  announce(g, c, SHOAL_SOCKET_FRAME_WS);
  if (c->closing) return; /* the watchdog is gone */
  /* The bytes after the head are its first frames. */
  gate_read_data_from(g, c, m, used - before);
}

int gate_ws_next(struct gate *g, struct gate_conn *c, const char *data, size_t n, size_t *used, void **body,
                 uint32_t *size) {
  struct gate_ws *w = c->ws;
  size_t off = 0;
  for (;;) {
    size_t u = 0;
    int r = shoal_ws_feed(&w->parser, data + off, n - off, &u, body, size);
    off += u;
    *used = off;
    switch (r) {
      case SHOAL_WS_MESSAGE:
        return SHOAL_GATE_FRAME_READY;
      case SHOAL_WS_MORE:
        return SHOAL_GATE_FRAME_MORE;
      case SHOAL_WS_PING: {
        unsigned char f[SHOAL_WS_HEADER_MAX + SHOAL_WS_CONTROL_MAX];
        size_t h = shoal_ws_frame_header(0xa, w->parser.ctl_len, f);
        memcpy(f + h, w->parser.ctl, w->parser.ctl_len);
        send_raw(g, c, f, h + w->parser.ctl_len);
        break;
      }
      case SHOAL_WS_PONG:
        break;
      case SHOAL_WS_CLOSE:
        if (shoal_log_enabled(SHOAL_LOG_DEBUG))
          shoal_log(g->ctx, SHOAL_LOG_DEBUG, "gate: connection %d (%s) sent a WebSocket close (code %d)", c->id,
                    c->addr, w->parser.close_code);
        send_close(g, c, w->parser.close_code ? w->parser.close_code : SHOAL_WS_CLOSE_NORMAL, "");
        gate_drop_conn(g, c, "closed by the client");
        return GATE_WS_DROPPED;
      default: {
        int code = shoal_ws_close_code(r);
        gate_conn_log(g, SHOAL_LOG_WARN, "gate: connection %d (%s) closed: WebSocket %s (close code %d)", c->id,
                      c->addr, shoal_ws_strerror(r), code);
        send_close(g, c, code, shoal_ws_strerror(r));
        gate_drop_conn(g, c, r == SHOAL_WS_ETOOBIG ? "oversized frame" : r == SHOAL_WS_ETEXT ? "text frame"
                                                                                            : "websocket protocol error");
        return GATE_WS_DROPPED;
      }
    }
    if (off == n) return SHOAL_GATE_FRAME_MORE;
  }
}

size_t gate_ws_pending(const struct gate_conn *c) { return shoal_ws_pending(&c->ws->parser); }

void gate_ws_tick(struct gate *g, uint64_t now) {
  while (g->ws_pending && g->ws_pending->deadline <= now) {
    struct gate_ws *w = g->ws_pending;
    struct gate_conn *c = w->conn;
    gate_conn_log(g, SHOAL_LOG_INFO, "gate: connection %d (%s) closed: %s within %u ms", c->id, c->addr,
                  w->state == WS_SNIFF ? "no first bytes" : "WebSocket handshake not finished", g->ws_handshake_ms);
    pending_unlink(g, w);
    g->ws_refused++;
    gate_drop_conn(g, c, NULL);
  }
}
