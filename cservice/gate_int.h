/*
 * gate_int.h - what the gate's files share: cservice/gate.c (connections,
 * commands, timers, life cycle) and cservice/gate_read.c (frames in:
 * parsing, holding before the watchdog decides, back-pressure). Private to
 * the gate.
 */
#ifndef SHOAL_GATE_INT_H
#define SHOAL_GATE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "gate_frame.h"
#include "shoal.h"

/* Read window of every client socket: DATA messages (each at most 64 KiB)
 * that may wait in the gate's mailbox or be held for a connection. It
 * bounds the gate's queue at about GATE_READ_WINDOW per connection. The
 * gate reports what it consumed GATE_REPORT_EVERY events at a time (one
 * call less per event): with fewer than that unreported, a full window
 * always has events in the gate still to consume, whose report reopens it. */
#define GATE_READ_WINDOW 4
#define GATE_REPORT_EVERY 2
/* Frames delivered to a connection's target between two looks at the
 * target's mailbox: the look (shoal_stat) costs more than a frame. */
#define GATE_CHECK_EVERY 64
/* While connections wait for their targets, their mailboxes are looked at
 * again this often (ms). */
#define GATE_RESUME_MS 2

/* A frame read before the watchdog decided where frames go. */
struct gate_held_frame {
  struct gate_held_frame *next; /* next frame, in arrival order */
  void *body;                   /* the payload (owned), NULL when empty */
  uint32_t size;                /* body bytes */
};

/* Bytes read but not parsed yet: a connection waits for its target. */
struct gate_chunk {
  struct gate_chunk *next; /* next chunk, in arrival order */
  char *data;              /* a DATA buffer (owned) */
  size_t off, len;         /* parsed so far; its size */
};

struct gate_conn {
  int id;                  /* connection id = its socket id (16 and up, see socket_int.h) */
  int decided;             /* forward/accept seen: frames go out as they come */
  int peer_closed;         /* the client closed its side: finish once the held input went out */
  int closing;             /* closed by the gate; counted until its socket is gone */
  int waiting;             /* on the wait list: its target is behind, its input is held */
  uint32_t agent;          /* frames go here; 0: to the watchdog */
  uint32_t since_check;    /* frames delivered since the last look at the target's mailbox */
  int unreported;          /* DATA events consumed and not yet reported to the socket server */
  struct gate_held_frame *held, *held_tail; /* frames waiting for the decision */
  size_t held_bytes;       /* their size, with GATE_HELD_OVERHEAD each */
  struct gate_chunk *chunks, *chunks_tail; /* input held while waiting, not yet consumed */
  uint64_t last;           /* node ms of the last read (or of the accept) */
  struct gate_conn *hnext; /* hash chain by id */
  struct gate_conn *prev, *next;   /* idle list, least recently read first */
  struct gate_conn *wprev, *wnext; /* wait list */
  struct shoal_gate_frame parser;  /* frames being read */
  struct shoal_crypto_aead *opener; /* AEAD mode: opens every frame parsed (gate_cipher.c); NULL: clear */
  struct gate_ws *ws;      /* a WebSocket gate's connection: its handshake and frames (gate_ws.c); NULL: TCP */
  char addr[64];           /* peer address, for logs */
};

#define GATE_HELD_MIN (64 * 1024) /* held before the watchdog decides: this plus maxpacket */
#define GATE_HELD_OVERHEAD 32     /* counted per held frame, so empty frames count too */

struct gate {
  struct shoal_context *ctx; /* own context */
  uint32_t watchdog;         /* owner: gets events and unforwarded frames */
  int listen_id;             /* listener socket id, -1 when none */
  char host[64];             /* listen host */
  int port;                  /* listen port (as configured; 0 = any) */
  int backlog;               /* listen backlog */
  int header;                /* length header bytes: 2 or 4 */
  uint32_t maxpacket;        /* largest body accepted */
  int maxconn;               /* connections at once, closing ones included */
  uint32_t idle_ms;          /* idle timeout, 0: none */
  int nodelay;               /* TCP_NODELAY on connections */
  size_t write_limit;        /* cap of a connection's write buffer (gate_write_limit_kb), 0: the node's */
  size_t agent_backlog;      /* a target with this many messages waiting is behind (gate_agent_backlog) */
  int count;                 /* connections, closing ones included */
  struct gate_conn **buckets; /* connection id -> connection, chained */
  uint32_t mask;             /* buckets - 1 (a power of two minus one) */
  struct gate_conn idle;     /* idle list sentinel */
  struct gate_conn wait;     /* wait list sentinel */
  int timer_session;         /* session of the pending tick, 0 if none */
  int resume_session;        /* session of the pending resume check, 0 if none */
  int exiting;               /* EXIT seen */
  uint64_t log_window;       /* start (node ms) of the current log second */
  int log_count;             /* per-connection lines logged in that second */
  int log_dropped;           /* lines suppressed in that second */
  uint64_t opened, refused;  /* totals, for the exit line */
  uint64_t waits;            /* times a connection waited for its target, for the exit line */
  uint64_t ciphered;         /* connections switched to the AEAD mode, for the exit line */
  uint64_t forgeries;        /* connections closed for a refused AEAD frame, for the exit line */
  int websocket;             /* gate_websocket: WebSocket clients too, sniffed on the same port */
  const char *ws_path;       /* gate_ws_path */
  const char *ws_origins;    /* gate_ws_origins */
  uint32_t ws_handshake_ms;  /* gate_ws_handshake_ms */
  struct gate_ws *ws_pending, *ws_pending_tail; /* connections not yet decided, oldest first */
  uint64_t ws_opened, ws_refused; /* WebSocket upgrades done / refused or timed out, for the exit line */
  uint64_t frames;           /* client frames passed on to agents or the watchdog (stats) */
};

struct shoal_crypto_aead;
struct gate_ws;

/* gate_ws_next's result when it dropped the connection. */
#define GATE_WS_DROPPED (-100)

/* gate.c */
/* The open or closing connection of socket id, or NULL. */
struct gate_conn *gate_find_conn(struct gate *g, int id);
/* Logs a per-connection line, at most LOG_BURST a second. */
void gate_conn_log(struct gate *g, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Closes c: its socket is closed (pending writes flushed, within the
 * socket server's close timeout), reason (may be NULL) goes to the
 * watchdog, its input is dropped; c stays counted until the socket is
 * gone. */
void gate_drop_conn(struct gate *g, struct gate_conn *c, const char *reason);
/* Sends c's "open" event (a watchdog that is gone drops c). */
void gate_announce(struct gate *g, struct gate_conn *c);

/* gate_read.c */
/* A DATA event of c's socket (the gate may keep m's buffer: it then sets
 * it to NULL). */
void gate_read_data(struct gate *g, struct gate_conn *c, struct shoal_socket_message *m);
/* The same for the DATA buffer's bytes from off on (the ones before were
 * the WebSocket handshake's, or sniffed). */
void gate_read_data_from(struct gate *g, struct gate_conn *c, struct shoal_socket_message *m, size_t off);
/* Feeds data[0..n) (not a DATA buffer; copied) to c, which has not been
 * decided yet. Returns 0, or -1 when c was dropped. */
int gate_read_bytes(struct gate *g, struct gate_conn *c, const char *data, size_t n);
/* One more DATA event of c is consumed (for the read window). */
void gate_read_consumed(struct gate_conn *c);
/* The client closed its side. */
void gate_read_eof(struct gate *g, struct gate_conn *c);
/* The watchdog decided where c's frames go: the held ones go out first. */
void gate_read_decide(struct gate *g, struct gate_conn *c);
/* The resume check: waiting connections whose targets caught up go on. */
void gate_read_resume(struct gate *g);
/* Frees c's held frames and input, and takes it off the wait list. */
void gate_read_forget(struct gate *g, struct gate_conn *c);

/* gate_cipher.c */
/* A "cipher CONN C2S S2C[ ACK]" command (msg[0..sz) starts with "cipher",
 * whatever follows; it is wiped when done). */
void gate_cipher_command(struct gate *g, uint32_t source, int session, char *msg, size_t sz);
/* Opens a frame of c (which has an opener) in place: *body / *size become
 * the plaintext (NULL / 0 when empty). Returns 0, or the refusal's code:
 * the frame is freed and c dropped, with a log line and its reason. */
int gate_cipher_open(struct gate *g, struct gate_conn *c, void **body, uint32_t *size);
/* Frees c's opener, if any. */
void gate_cipher_forget(struct gate_conn *c);

/* gate_ws.c */
/* c, just accepted by a WebSocket gate, waits for its first bytes. */
void gate_ws_accept(struct gate *g, struct gate_conn *c);
/* Whether c takes frames (a TCP connection, or a WebSocket one past its
 * handshake): the watchdog knows it. */
int gate_ws_open(const struct gate_conn *c);
/* A DATA event of c before it is open: sniffing, the handshake. */
void gate_ws_data(struct gate *g, struct gate_conn *c, struct shoal_socket_message *m);
/* Cuts the next message of open WebSocket c from data[0..n), handling
 * control frames: SHOAL_GATE_FRAME_READY (body/size set), _MORE, or
 * GATE_WS_DROPPED (c was closed with its close code and a log line). */
int gate_ws_next(struct gate *g, struct gate_conn *c, const char *data, size_t n, size_t *used, void **body,
                 uint32_t *size);
/* Bytes of an unfinished frame or message of open c. */
size_t gate_ws_pending(const struct gate_conn *c);
/* c is being dropped for reason (NULL: the gate stops): its close frame. */
void gate_ws_drop(struct gate *g, struct gate_conn *c, const char *reason);
/* Frees c's WebSocket state. */
void gate_ws_forget(struct gate *g, struct gate_conn *c);
/* Closes the connections past their handshake deadline. */
void gate_ws_tick(struct gate *g, uint64_t now);

#endif
