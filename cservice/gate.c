/*
 * gate - the C service that faces game clients.
 *
 * Launch (from a watchdog service, which owns the gate):
 *
 *   shoal.launch("gate", "watchdog=:0100000a host=0.0.0.0 port=8888 maxconn=1024 "
 *                        "maxpacket=65535 header=2 idle=60000 nodelay=1 backlog=1024")
 *
 *   watchdog   handle (":0100000a" or decimal) or ".name" of the owner; required
 *   host, port address to listen on (port 0: any free port; see "listen" below)
 *   maxconn    connections open at once; one more is closed at once (default 1024)
 *   maxpacket  largest frame body accepted (default 65535; at most 65535 with
 *              header=2 and 64 MiB with header=4)
 *   header     2 or 4: bytes of the big-endian length prefix (default 2)
 *   idle       ms without a byte from the client before it is closed (default
 *              60000; 0 disables)
 *   nodelay    1: TCP_NODELAY on every connection (default 1)
 *   backlog    listen backlog (default 1024)
 *
 * Wire format: every frame is a length header then that many body bytes; a
 * zero-length frame is a valid empty message.
 *
 * Gate -> watchdog, TEXT messages (session 0):
 *   "listen <addr>"          the gate listens on addr (host:port), sent once
 *   "open <conn> <addr>"     a client connected; conn is its id, which is
 *                            its socket id (16 and up): the gate marks the
 *                            socket framed, so an agent or logic service
 *                            writes whole frames to it itself
 *                            (shoal_socket_send_frame), no hop via the gate
 *   "close <conn> <reason>"  the connection is gone (reason is free text)
 *
 * Watchdog -> gate, TEXT commands:
 *   "forward <conn> <agent>" frames of conn go to agent (handle, :hex or
 *                            .name) as PTYPE_CLIENT, session = -conn,
 *                            source = the gate
 *   "accept <conn>"          frames of conn go to the watchdog (same form)
 *   "kick <conn>"            close conn (pending writes are flushed first)
 *   "cipher <conn> <c2s> <s2c>[ <ack>]"
 *                            the AEAD mode (gate_cipher.c): keys in hex;
 *                            ack, the last clear frame, is written at the
 *                            switch; later frames are opened / sealed
 * Unknown commands are logged and ignored. A new connection is read at once
 * (so a reset or a bad header is seen at once), but its frames are held in
 * the gate, in order, until the first forward or accept: no frame reaches
 * anyone before its agent is ready. At most maxpacket + 64 KiB may be held
 * (counting 32 bytes a frame); a client that sends more before the answer
 * is closed. A
 * client that closes before the answer has its held frames delivered first.
 *
 * Writes: a service of this node writes a frame to a client's socket
 * itself (shoal_socket_send_frame; gateserver.write/send in Lua). Services
 * that cannot (C senders, other nodes) send it to the gate, which writes it:
 * Anyone -> gate, PTYPE_CLIENT (a frame for a client):
 *   session = -conn, payload = body
 *   session = 0, payload = 4-byte big-endian conn, then the body (Lua
 *                                  senders, whose API sends no negative
 *                                  sessions)
 * Frames for connections that are gone are dropped.
 *
 * Copies: a frame's body is copied once, from the socket's read buffer into
 * a body-sized payload (cservice/gate_frame.c), and that pointer is the
 * message the agent gets. A reply is copied once, into the buffer that
 * holds its header and goes to the kernel.
 *
 * Failures close only the connection concerned, with a log line: a header
 * announcing more than maxpacket, a stream that ends inside a frame, a
 * connection over maxconn, a client silent for idle ms, a socket error, a
 * write buffer past gate_write_limit_kb (the client does not read what the
 * node writes to it), a forward target that is gone, too much sent before
 * the watchdog answered. Per-connection log lines are limited to LOG_BURST
 * per second; the rest are counted and summarised.
 *
 * Closing: a connection the gate closes is gone for the watchdog at once
 * ("close" event), but it counts against maxconn until its socket is
 * really closed: the socket server flushes what is queued for at most
 * socket_close_timeout_ms, then aborts it, and only its CLOSE frees the
 * connection. So clients that stop reading cannot pile up sockets past
 * maxconn. Each client socket's write buffer is capped at
 * gate_write_limit_kb (config, default 1024; 0: the node's
 * socket_limit_kb): past it the connection is aborted, with one log line.
 *
 * Back-pressure (gate_read.c): a client socket reads at most
 * GATE_READ_WINDOW reads ahead of the gate, and a connection whose agent
 * has gate_agent_backlog (config, default 1024) messages waiting stops
 * being read until the agent is down to a quarter of that.
 *
 * The idle check runs on a periodic shoal_timeout (a tenth of idle, 10 ms to
 * 1 s); connections sit in a list ordered by their last read, so a check
 * only looks at the ones that expired.
 *
 * WebSocket (node config gate_websocket; gate_ws.c): the same port also
 * takes RFC 6455 clients. A connection is announced ("open") only once
 * its first bytes said which it is: "GET " is an upgrade (answered, then
 * each binary message is one frame and the socket is framed in the
 * WebSocket mode), anything else the TCP framing from its first byte.
 *
 * Known limits: one gate is one service, so its work (parsing every read,
 * writing every frame) runs on one worker at a time; run several gates on
 * several ports to spread it. A client dribbling one byte at a time keeps
 * its connection from idling out, holding at most maxpacket bytes. A
 * connection whose agent stays behind for idle ms is closed as idle.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate_frame.h"
#include "gate_int.h"
#include "shoal.h"

#define LOG_BURST 20        /* per-connection log lines per second before summarising */
#define MAX_COMMAND 255     /* longest TEXT command accepted */
#define DEFAULT_MAXCONN 1024
#define DEFAULT_IDLE_MS 60000
#define MAX_MAXCONN (1 << 20)

SHOAL_API void *gate_create(void);
SHOAL_API int gate_init(struct gate *g, struct shoal_context *ctx, const char *args);
SHOAL_API void gate_release(struct gate *g);

/* ---- logging ---- */

/* The lines over LOG_BURST a second are counted and reported once the
 * second is over. */
static void flush_log_window(struct gate *g, uint64_t now) {
  if (now - g->log_window < 1000) return;
  if (g->log_dropped > 0)
    shoal_log(g->ctx, SHOAL_LOG_WARN, "gate: %d more connection log lines suppressed in the last second",
              g->log_dropped);
  g->log_window = now;
  g->log_count = g->log_dropped = 0;
}

void gate_conn_log(struct gate *g, int level, const char *fmt, ...) {
  if (!shoal_log_enabled(level)) return;
  flush_log_window(g, shoal_now());
  if (g->log_count >= LOG_BURST) {
    g->log_dropped++;
    return;
  }
  g->log_count++;
  char text[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  shoal_log(g->ctx, level, "%s", text);
}

/* ---- connections: hash by id, idle list ---- */

struct gate_conn *gate_find_conn(struct gate *g, int id) {
  struct gate_conn *c = g->buckets[(uint32_t)id & g->mask];
  while (c && c->id != id) c = c->hnext;
  return c;
}

/* Leaves c on its own, so a second unlink changes nothing. */
static void idle_unlink(struct gate_conn *c) {
  c->prev->next = c->next;
  c->next->prev = c->prev;
  c->prev = c->next = c;
}

static void idle_append(struct gate *g, struct gate_conn *c) {
  c->prev = g->idle.prev;
  c->next = &g->idle;
  g->idle.prev->next = c;
  g->idle.prev = c;
}

/* Sends a TEXT event to the watchdog; returns shoal_send's result. */
static int notify(struct gate *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int notify(struct gate *g, const char *fmt, ...) {
  char text[160];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  if (n < 0) return SHOAL_EINVAL;
  if ((size_t)n >= sizeof(text)) n = (int)sizeof(text) - 1;
  char *data = shoal_malloc((size_t)n);
  memcpy(data, text, (size_t)n);
  return shoal_send(g->ctx, 0, g->watchdog, SHOAL_PTYPE_TEXT, 0, data, (size_t)n);
}

void gate_drop_conn(struct gate *g, struct gate_conn *c, const char *reason) {
  if (c->closing) return;
  c->closing = 1;
  int announced = gate_ws_open(c);
  if (c->ws) gate_ws_drop(g, c, reason); /* its close frame goes before the close */
  shoal_socket_close(g->ctx, c->id);
  if (reason && !g->exiting && announced) notify(g, "close %d %s", c->id, reason);
  idle_unlink(c);
  gate_read_forget(g, c);
}

/* c's socket is gone: c is forgotten and no longer counted. reason (may
 * be NULL) goes to the watchdog if c was still open. */
static void forget_conn(struct gate *g, struct gate_conn *c, const char *reason) {
  if (!c->closing) {
    if (reason && !g->exiting && gate_ws_open(c)) notify(g, "close %d %s", c->id, reason);
    idle_unlink(c);
    gate_read_forget(g, c);
  }
  struct gate_conn **p = &g->buckets[(uint32_t)c->id & g->mask];
  while (*p != c) p = &(*p)->hnext;
  *p = c->hnext;
  gate_cipher_forget(c);
  gate_ws_forget(g, c);
  shoal_free(c);
  g->count--;
}

/* ---- connections: events ---- */

static void on_accept(struct gate *g, int sock, const char *addr) {
  if (g->count >= g->maxconn) {
    g->refused++;
    gate_conn_log(g, SHOAL_LOG_WARN, "gate: connection from %s refused: maxconn %d reached", addr ? addr : "?",
                  g->maxconn);
    shoal_socket_close(g->ctx, sock);
    return;
  }
  struct gate_conn *c = shoal_malloc(sizeof(*c));
  memset(c, 0, sizeof(*c));
  c->id = sock;
  c->last = shoal_now();
  snprintf(c->addr, sizeof(c->addr), "%s", addr ? addr : "?");
  shoal_gate_frame_init(&c->parser, g->header, g->maxpacket, shoal_malloc, shoal_free);
  uint32_t b = (uint32_t)c->id & g->mask;
  c->hnext = g->buckets[b];
  g->buckets[b] = c;
  idle_append(g, c);
  g->count++;
  g->opened++;
  if (g->nodelay) shoal_socket_nodelay(g->ctx, sock);
  /* Bounded both ways: what the node writes to a client that does not
   * read, and how far the socket reads ahead of the gate. */
  if (g->write_limit) shoal_socket_set_limit(sock, g->write_limit);
  shoal_socket_set_window(sock, GATE_READ_WINDOW);
  /* Read at once, so a reset or a bad header shows at once; the frames are
   * held until the watchdog decides where they go. */
  shoal_socket_start(g->ctx, sock);
  /* A WebSocket gate's connection is framed and announced once its first
   * bytes said which it is (gate_ws.c). */
  if (g->websocket) {
    gate_ws_accept(g, c);
    return;
  }
  /* Framed: the agent and logic services write frames to it themselves. */
  shoal_socket_set_frame(sock, g->header);
  gate_announce(g, c);
}

void gate_announce(struct gate *g, struct gate_conn *c) {
  if (notify(g, "open %d %s", c->id, c->addr) < 0) {
    gate_conn_log(g, SHOAL_LOG_ERROR, "gate: connection %d from %s closed: the watchdog :%08x is gone", c->id,
                  c->addr, g->watchdog);
    gate_drop_conn(g, c, NULL);
  }
}

/* A socket event. m is the message's payload: a DATA buffer the gate
 * keeps is taken from it (set to NULL). */
static void on_socket(struct gate *g, struct shoal_socket_message *m) {
  struct gate_conn *c = m->type == SHOAL_SOCKET_ACCEPT ? NULL : gate_find_conn(g, m->id);
  switch (m->type) {
    case SHOAL_SOCKET_DATA:
      /* A closing connection's reads are dropped, unconsumed: its socket
       * stops reading once its window is full. */
      if (c == NULL || c->closing) break;
      c->last = shoal_now();
      idle_unlink(c);
      idle_append(g, c);
      gate_read_data(g, c, m);
      break;
    case SHOAL_SOCKET_ACCEPT:
      if (m->id == g->listen_id && !g->exiting) on_accept(g, m->ud, m->buffer);
      else shoal_socket_close(g->ctx, m->ud);
      break;
    case SHOAL_SOCKET_CLOSE:
      if (c && m->ud == SHOAL_SOCKET_GONE) {
        forget_conn(g, c, "closed"); /* closed by the gate, or (if open) by someone else */
      } else if (c) {
        if (!c->closing) gate_read_eof(g, c);
      } else if (m->id == g->listen_id) {
        shoal_log(g->ctx, SHOAL_LOG_ERROR, "gate: the listener on %s:%d closed", g->host, g->port);
        g->listen_id = -1;
      }
      break;
    case SHOAL_SOCKET_ERROR:
      if (c) {
        char reason[128];
        snprintf(reason, sizeof(reason), "error: %s", m->buffer ? m->buffer : "socket error");
        if (!c->closing)
          gate_conn_log(g, SHOAL_LOG_WARN, "gate: connection %d (%s) closed: %s", c->id, c->addr,
                        m->buffer ? m->buffer : "socket error");
        forget_conn(g, c, reason);
      } else if (m->id == g->listen_id) {
        shoal_log(g->ctx, SHOAL_LOG_ERROR, "gate: the listener on %s:%d failed: %s", g->host, g->port,
                  m->buffer ? m->buffer : "?");
        g->listen_id = -1;
      }
      break;
    default: /* CONNECT (start took effect), WARNING (the socket server logs it; the cap is enforced
                at the write), UDP */
      break;
  }
}

/* ---- writing ---- */

/* Fails a request (session > 0) now rather than at its caller's timeout. */
static void refuse_request(struct gate *g, uint32_t source, int session) {
  static const char why[] = "the gate answers no requests: send TEXT commands and CLIENT frames";
  if (session > 0) shoal_reply_error(g->ctx, source, session, SHOAL_EINVAL, why, sizeof(why) - 1);
}

static uint32_t get_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A frame for a client from a service that does not write to the socket
 * itself (a C service, or one on another node). */
static void on_client(struct gate *g, int session, uint32_t source, const void *msg, size_t sz) {
  int id;
  const char *body = msg;
  size_t n = sz;
  if (session < 0 && session != INT_MIN) {
    id = -session;
  } else if (session == 0 && sz >= 4 && get_be32(msg) > 0 && get_be32(msg) <= 0x7fffffffu) {
    id = (int)get_be32(msg);
    body += 4;
    n -= 4;
  } else {
    shoal_log(g->ctx, SHOAL_LOG_WARN, "gate: client frame from :%08x without a connection id (session %d, %zu bytes), dropped",
              source, session, sz);
    refuse_request(g, source, session);
    return;
  }
  struct gate_conn *c = gate_find_conn(g, id);
  if (c == NULL || c->closing) {
    if (shoal_log_enabled(SHOAL_LOG_DEBUG))
      shoal_log(g->ctx, SHOAL_LOG_DEBUG, "gate: frame for connection %d, which is gone, dropped", id);
    return;
  }
  if (shoal_socket_send_frame(g->ctx, id, body, n) == SHOAL_EINVAL)
    gate_conn_log(g, SHOAL_LOG_WARN,
                  "gate: frame of %zu bytes from :%08x for connection %d does not fit a %d-byte header%s, dropped", n,
                  source, id, g->header, c->opener ? " once sealed" : "");
}

/* ---- commands ---- */

static uint32_t parse_handle(const char *s) {
  if (s == NULL || s[0] == '\0') return 0;
  if (s[0] == '.' || s[0] == ':') return shoal_query(s);
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*end != '\0' || v == 0 || v > 0xffffffffUL) return 0;
  return (uint32_t)v;
}

static int parse_conn(const char *s) {
  if (s == NULL) return 0;
  char *end;
  long v = strtol(s, &end, 10);
  if (*end != '\0' || v <= 0 || v > 0x7fffffffL) return 0;
  return (int)v;
}

static void on_command(struct gate *g, uint32_t source, int session, char *msg, size_t sz) {
  char line[MAX_COMMAND + 1];
  if (sz >= 6 && memcmp(msg, "cipher", 6) == 0) {
    /* Longer than other commands (it may carry a frame), and never logged
     * as text even when malformed: it holds keys. */
    gate_cipher_command(g, source, session, msg, sz);
    return;
  }
  if (session > 0 && sz == 5 && memcmp(msg, "stats", 5) == 0) { /* service/metrics.lua */
    char text[256];
    int n = snprintf(text, sizeof(text), "open=%d opened=%llu refused=%llu frames=%llu waits=%llu ciphered=%llu forgeries=%llu",
                     g->count, (unsigned long long)g->opened, (unsigned long long)g->refused,
                     (unsigned long long)g->frames, (unsigned long long)g->waits, (unsigned long long)g->ciphered,
                     (unsigned long long)g->forgeries);
    char *reply = shoal_malloc((size_t)n + 1);
    memcpy(reply, text, (size_t)n + 1);
    shoal_send(g->ctx, 0, source, SHOAL_PTYPE_RESPONSE, session, reply, (size_t)n);
    return;
  }
  if (session > 0) { /* only cipher and stats answer: a call of another command fails at once, not run */
    static const char why[] = "only the cipher command may be a request: send the others one-way";
    shoal_reply_error(g->ctx, source, session, SHOAL_EINVAL, why, sizeof(why) - 1);
    return;
  }
  if (sz > MAX_COMMAND) {
    shoal_log(g->ctx, SHOAL_LOG_WARN, "gate: command of %zu bytes from :%08x is too long, ignored", sz, source);
    return;
  }
  memcpy(line, msg, sz);
  line[sz] = '\0';
  char *save = NULL;
  char *cmd = strtok_r(line, " ", &save);
  char *a1 = cmd ? strtok_r(NULL, " ", &save) : NULL;
  char *a2 = a1 ? strtok_r(NULL, " ", &save) : NULL;
  char *extra = a2 ? strtok_r(NULL, " ", &save) : NULL;
  int known = cmd && (strcmp(cmd, "forward") == 0 || strcmp(cmd, "accept") == 0 || strcmp(cmd, "kick") == 0);
  int want_args = known && strcmp(cmd, "forward") == 0 ? 2 : 1;
  int got_args = (a1 != NULL) + (a2 != NULL);
  if (!known || got_args != want_args || extra) {
    memcpy(line, msg, sz); /* strtok cut it */
    shoal_log(g->ctx, SHOAL_LOG_WARN, "gate: %s command '%s' from :%08x, ignored (forward CONN AGENT, accept CONN, kick CONN, cipher CONN C2S S2C [ACK])",
              known ? "malformed" : "unknown", line, source);
    return;
  }
  int id = parse_conn(a1);
  struct gate_conn *c = id ? gate_find_conn(g, id) : NULL;
  if (c == NULL || c->closing || !gate_ws_open(c)) {
    /* Normal when the client left while the watchdog was deciding. */
    if (shoal_log_enabled(SHOAL_LOG_DEBUG))
      shoal_log(g->ctx, SHOAL_LOG_DEBUG, "gate: %s %s: no such connection", cmd, a1);
    return;
  }
  if (strcmp(cmd, "kick") == 0) {
    if (shoal_log_enabled(SHOAL_LOG_DEBUG))
      shoal_log(g->ctx, SHOAL_LOG_DEBUG, "gate: connection %d (%s) kicked by :%08x", c->id, c->addr, source);
    gate_drop_conn(g, c, "kicked");
  } else if (strcmp(cmd, "accept") == 0) {
    c->agent = 0;
    gate_read_decide(g, c);
  } else {
    uint32_t agent = parse_handle(a2);
    if (agent == 0) {
      shoal_log(g->ctx, SHOAL_LOG_WARN, "gate: forward %d: bad agent '%s' from :%08x, connection closed", id, a2, source);
      gate_drop_conn(g, c, "bad agent");
      return;
    }
    c->agent = agent;
    gate_read_decide(g, c);
  }
}

/* ---- timer, exit ---- */

static uint32_t tick_ms(const struct gate *g) {
  uint32_t every = g->idle_ms;
  if (g->websocket && (every == 0 || g->ws_handshake_ms < every)) every = g->ws_handshake_ms;
  if (every == 0) return 1000;
  uint32_t t = every / 10;
  return t < 10 ? 10 : t > 1000 ? 1000 : t;
}

/* timer_session 0 when shoal_timeout failed: no session matches it */
static void arm_tick(struct gate *g) {
  int s = shoal_timeout(g->ctx, tick_ms(g));
  g->timer_session = s > 0 ? s : 0;
}

static void on_tick(struct gate *g) {
  g->timer_session = 0;
  if (g->exiting) return;
  uint64_t now = shoal_now();
  flush_log_window(g, now);
  if (g->websocket) gate_ws_tick(g, now);
  if (g->idle_ms) {
    while (g->idle.next != &g->idle) {
      struct gate_conn *c = g->idle.next;
      if (now - c->last < g->idle_ms) break;
      gate_conn_log(g, SHOAL_LOG_INFO, "gate: connection %d (%s) closed: idle for %llu ms (limit %u ms)", c->id,
                    c->addr, (unsigned long long)(now - c->last), g->idle_ms);
      gate_drop_conn(g, c, "idle timeout");
    }
  }
  arm_tick(g);
}

/* The listener first: the socket server runs commands in order, so no
 * client can connect after it saw its connection close. Closing
 * connections are forgotten too: the gate will not hear their CLOSE. */
static void close_all(struct gate *g) {
  if (g->listen_id >= 0) shoal_socket_close(g->ctx, g->listen_id);
  g->listen_id = -1;
  for (uint32_t b = 0; b <= g->mask; b++) {
    while (g->buckets[b]) {
      struct gate_conn *c = g->buckets[b];
      gate_drop_conn(g, c, NULL);
      forget_conn(g, c, NULL);
    }
  }
}

static void on_exit_request(struct gate *g) {
  if (g->exiting) return;
  shoal_log(g->ctx, SHOAL_LOG_INFO,
            "gate: stopping: %d connections open, %llu served, %llu refused, %llu waits for a busy agent, %llu "
            "encrypted, %llu closed for a refused frame",
            g->count, (unsigned long long)g->opened, (unsigned long long)g->refused, (unsigned long long)g->waits,
            (unsigned long long)g->ciphered, (unsigned long long)g->forgeries);
  if (g->websocket)
    shoal_log(g->ctx, SHOAL_LOG_INFO, "gate: WebSocket: %llu upgraded, %llu refused or timed out before they were open",
              (unsigned long long)g->ws_opened, (unsigned long long)g->ws_refused);
  g->exiting = 1;
  close_all(g);
  shoal_exit(g->ctx);
}

static int gate_cb(struct shoal_context *ctx, void *ud, int type, int session, uint32_t source, const void *msg,
                   size_t sz) {
  struct gate *g = ud;
  switch (type) {
    case SHOAL_PTYPE_SOCKET:
      /* The payload is the gate's to change: on_socket may take a DATA buffer. */
      if (sz >= sizeof(struct shoal_socket_message)) on_socket(g, (struct shoal_socket_message *)msg);
      return 0;
    case SHOAL_PTYPE_CLIENT:
      on_client(g, session, source, msg, sz);
      return 0;
    case SHOAL_PTYPE_TEXT:
      on_command(g, source, session, (char *)msg, sz); /* the payload is the gate's: a cipher command is wiped */
      return 0;
    case SHOAL_PTYPE_RESPONSE:
      if (session == g->timer_session && session != 0) on_tick(g);
      else if (session == g->resume_session && session != 0) gate_read_resume(g);
      return 0;
    case SHOAL_PTYPE_SYSTEM:
      if (shoal_system_is(msg, sz, SHOAL_SYSTEM_EXIT)) on_exit_request(g);
      return 0;
    case SHOAL_PTYPE_ERROR:
      return 0;
    default:
      shoal_log(ctx, SHOAL_LOG_WARN, "gate: message of type %d from :%08x ignored", type, source);
      refuse_request(g, source, session);
      return 0;
  }
}

/* ---- life cycle ---- */

void *gate_create(void) {
  struct gate *g = shoal_malloc(sizeof(*g));
  memset(g, 0, sizeof(*g));
  g->listen_id = -1;
  g->idle.prev = g->idle.next = &g->idle;
  g->wait.wprev = g->wait.wnext = &g->wait;
  return g;
}

void gate_release(struct gate *g) {
  if (g->buckets && (g->listen_id >= 0 || g->count > 0)) {
    /* Killed without EXIT: do not leak the sockets. */
    shoal_log(NULL, SHOAL_LOG_INFO, "gate :%08x killed: closing its listener and %d connections", shoal_self(g->ctx),
              g->count);
    close_all(g);
  }
  shoal_free(g->buckets);
  shoal_free(g);
}

/* Parses "key=value ..." into g; logs and returns -1 on a bad one. */
static int parse_args(struct gate *g, const char *args) {
  char buf[512];
  if (strlen(args) >= sizeof(buf)) {
    shoal_log(g->ctx, SHOAL_LOG_ERROR, "gate: arguments too long");
    return -1;
  }
  snprintf(buf, sizeof(buf), "%s", args);
  const char *watchdog = NULL;
  long maxpacket = -1, idle = g->idle_ms, header = g->header, port = 0, maxconn = g->maxconn;
  long nodelay = g->nodelay, backlog = g->backlog;
  const struct {
    const char *name; /* key */
    long lo, hi;      /* accepted range */
    long *out;        /* where the value goes */
  } keys[] = {{"port", 0, 65535, &port},         {"maxconn", 1, MAX_MAXCONN, &maxconn},
              {"maxpacket", 0, SHOAL_GATE_FRAME_MAX4, &maxpacket}, {"header", 2, 4, &header},
              {"idle", 0, 0x7fffffffL, &idle},   {"nodelay", 0, 1, &nodelay},
              {"backlog", 1, 65535, &backlog}};
  char *save = NULL;
  for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
    char *eq = strchr(tok, '=');
    if (eq == NULL) {
      shoal_log(g->ctx, SHOAL_LOG_ERROR, "gate: argument '%s' is not key=value", tok);
      return -1;
    }
    *eq = '\0';
    const char *key = tok, *val = eq + 1;
    if (strcmp(key, "watchdog") == 0) {
      watchdog = val;
      g->watchdog = parse_handle(val);
      continue;
    }
    if (strcmp(key, "host") == 0) {
      snprintf(g->host, sizeof(g->host), "%s", val);
      continue;
    }
    size_t k = 0, nkeys = sizeof(keys) / sizeof(keys[0]);
    while (k < nkeys && strcmp(key, keys[k].name) != 0) k++;
    if (k == nkeys) {
      shoal_log(g->ctx, SHOAL_LOG_ERROR,
                "gate: unknown argument '%s' (watchdog host port maxconn maxpacket header idle nodelay backlog)", key);
      return -1;
    }
    char *end;
    long num = strtol(val, &end, 10);
    if (val[0] == '\0' || *end != '\0' || num < keys[k].lo || num > keys[k].hi) {
      shoal_log(g->ctx, SHOAL_LOG_ERROR, "gate: %s=%s: expected a number in %ld..%ld", key, val, keys[k].lo,
                keys[k].hi);
      return -1;
    }
    *keys[k].out = num;
  }
  if (watchdog == NULL || g->watchdog == 0) {
    shoal_log(g->ctx, SHOAL_LOG_ERROR, "gate: %s",
              watchdog ? "watchdog= is not a handle or a known .name" : "watchdog=HANDLE|.name is required");
    return -1;
  }
  if (header != 2 && header != 4) {
    shoal_log(g->ctx, SHOAL_LOG_ERROR, "gate: header=%ld: expected 2 or 4", header);
    return -1;
  }
  uint32_t cap = header == 2 ? SHOAL_GATE_FRAME_MAX2 : SHOAL_GATE_FRAME_MAX4;
  if (maxpacket < 0) maxpacket = header == 2 ? SHOAL_GATE_FRAME_MAX2 : 1024 * 1024;
  if ((uint32_t)maxpacket > cap) {
    shoal_log(g->ctx, SHOAL_LOG_ERROR, "gate: maxpacket=%ld does not fit a %ld-byte header (at most %u)", maxpacket,
              header, cap);
    return -1;
  }
  g->port = (int)port;
  g->maxconn = (int)maxconn;
  g->maxpacket = (uint32_t)maxpacket;
  g->header = (int)header;
  g->idle_ms = (uint32_t)idle;
  g->nodelay = (int)nodelay;
  g->backlog = (int)backlog;
  return 0;
}

/* The address the listener really got (port 0 picks one). */
static void listen_address(struct gate *g, char *out, size_t outlen) {
  snprintf(out, outlen, "%s:%d", g->host[0] ? g->host : "0.0.0.0", g->port);
  if (g->port != 0) return;
  for (int cap = 256; cap <= (1 << 21); cap *= 4) {
    struct shoal_socket_info *list = shoal_malloc(sizeof(*list) * (size_t)cap);
    int n = shoal_socket_info_list(list, cap);
    int found = 0;
    for (int i = 0; i < n; i++) {
      if (list[i].id == g->listen_id) {
        snprintf(out, outlen, "%s", list[i].peer);
        found = 1;
        break;
      }
    }
    shoal_free(list);
    if (found || n < cap) return;
  }
}

int gate_init(struct gate *g, struct shoal_context *ctx, const char *args) {
  g->ctx = ctx;
  /* The schema (core/config_keys.h) has checked the ranges. */
  g->write_limit = (size_t)shoal_config_int("gate_write_limit_kb") * 1024u;
  g->agent_backlog = (size_t)shoal_config_int("gate_agent_backlog");
  g->websocket = shoal_config_bool("gate_websocket");
  g->ws_path = shoal_config_string("gate_ws_path");
  g->ws_origins = shoal_config_string("gate_ws_origins");
  g->ws_handshake_ms = (uint32_t)shoal_config_int("gate_ws_handshake_ms");
  snprintf(g->host, sizeof(g->host), "0.0.0.0");
  g->header = 2;
  g->maxconn = DEFAULT_MAXCONN;
  g->idle_ms = DEFAULT_IDLE_MS;
  g->nodelay = 1;
  g->backlog = 1024;
  if (parse_args(g, args ? args : "") != 0) return SHOAL_EINVAL;
  uint32_t nb = 16;
  while (nb < (uint32_t)g->maxconn * 2) nb <<= 1;
  g->buckets = shoal_malloc(sizeof(*g->buckets) * nb);
  memset(g->buckets, 0, sizeof(*g->buckets) * nb);
  g->mask = nb - 1;
  g->listen_id = shoal_socket_listen(ctx, g->host, g->port, g->backlog);
  if (g->listen_id < 0) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "gate: cannot listen on %s:%d", g->host, g->port);
    g->listen_id = -1;
    return SHOAL_EINVAL;
  }
  shoal_callback(ctx, g, gate_cb);
  shoal_socket_start(ctx, g->listen_id);
  char addr[96];
  listen_address(g, addr, sizeof(addr));
  shoal_log(ctx, SHOAL_LOG_INFO,
            "gate: listening on %s (maxconn %d, maxpacket %u, header %d, idle %u ms, write limit %zu KB%s%s)", addr,
            g->maxconn, g->maxpacket, g->header, g->idle_ms, g->write_limit / 1024,
            g->websocket ? ", WebSocket too at path " : "", g->websocket ? g->ws_path : "");
  notify(g, "listen %s", addr);
  arm_tick(g);
  g->log_window = shoal_now();
  return 0;
}
