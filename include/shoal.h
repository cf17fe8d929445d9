/*
 * shoal.h - the only header a C service includes.
 *
 * A service is an actor: it owns a message queue and a callback. Messages
 * carry {source, session, type, data, size}; ownership of `data` moves with
 * the message: the sender allocates it with shoal_malloc, the runtime frees
 * it after the receiver's callback returns (unless the callback returns 1 to
 * keep it, in which case the receiver must shoal_free it).
 */
#ifndef SHOAL_H
#define SHOAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SHOAL_API __attribute__((visibility("default")))

/* Message types. Lua sees these same numbers, pushed from C. */
#define SHOAL_PTYPE_LIST(X) \
  X(TEXT, 0)                \
  X(RESPONSE, 1)            \
  X(ERROR, 2)               \
  X(CLIENT, 3)              \
  X(LUA, 4)                 \
  X(SOCKET, 5)              \
  X(SYSTEM, 6)              \
  X(HARBOR, 7)              \
  X(DEBUG, 8)

enum shoal_ptype {
#define SHOAL_PTYPE_ENUM(name, value) SHOAL_PTYPE_##name = value,
  SHOAL_PTYPE_LIST(SHOAL_PTYPE_ENUM)
#undef SHOAL_PTYPE_ENUM
  SHOAL_PTYPE_COUNT
};

/* Errors: 0 or a negative SHOAL_E* code everywhere. Listed once; Lua sees
 * them as shoal.errors.NAME (pushed from C). Every code is in -255..-1: it
 * travels as one byte at the head of an ERROR message (below). */
#define SHOAL_ERRNO_LIST(X)                                  \
  X(NOSERVICE, -1, "no such service")                        \
  X(INVAL, -2, "invalid argument")                           \
  X(NOMEM, -3, "out of memory")                              \
  X(TIMEOUT, -4, "timeout")                                  \
  X(EXITING, -5, "service is exiting")                       \
  X(NOMODULE, -6, "module not found")                        \
  X(INIT, -7, "service init failed")                         \
  X(NAMEEXIST, -8, "name already registered")                \
  X(TOOBIG, -9, "message too big")                           \
  X(FULL, -10, "resource limit reached")                     \
  X(NODEDOWN, -11, "node unreachable")                       \
  X(RAISED, -12, "the callee raised an error")               \
  X(STALE, -13, "stale registration (register again)")         \
  X(MALFORMED, -14, "frame too short, too long, or aad too long") \
  X(REPLAYED, -15, "frame sequence already seen (replay)")       \
  X(REORDERED, -16, "frame sequence ahead of the next expected (reordered or lost)") \
  X(FORGED, -17, "frame failed authentication (forged or corrupted)") \
  X(EXHAUSTED, -18, "sequence numbers used up: rekey")           \
  X(WRONGWAY, -19, "a sealer cannot open, an opener cannot seal") \
  X(BUSY, -20, "busy now: try again shortly")                     \
  X(NOTOWNER, -21, "not the owner (of an object or a lease)") \
  X(UNAVAIL, -22, "unavailable: the backend (etcd) has no quorum or cannot be reached")

enum shoal_errno {
#define SHOAL_ERRNO_ENUM(name, value, text) SHOAL_E##name = value,
  SHOAL_ERRNO_LIST(SHOAL_ERRNO_ENUM)
#undef SHOAL_ERRNO_ENUM
};

/* An ERROR message (the answer to a failed request) carries a code and a
 * text: byte 0 is -code (1..255), the text follows (not NUL-terminated in
 * size; the runtime's own allocation has a NUL after it). The code says
 * what failed, so no reader ever matches the text: SHOAL_ERAISED for an
 * error a handler raised (its text is the handler's, the callee is
 * alive), any other SHOAL_E* for one the runtime made (dead service, lost
 * node, timeout...). ERROR messages cross nodes unchanged. A payload
 * without a code byte (empty, or byte 0) reads as SHOAL_ERAISED: a forged
 * or foreign ERROR can never pass for a dead service. */
static inline int shoal_error_code(const void *msg, size_t sz) {
  const unsigned char *p = (const unsigned char *)msg;
  return sz > 0 && p != NULL && p[0] != 0 ? -(int)p[0] : SHOAL_ERAISED;
}
/* The text of an ERROR payload (never NULL); its length goes to *len. */
static inline const char *shoal_error_text(const void *msg, size_t sz, size_t *len) {
  if (sz == 0 || msg == NULL) {
    *len = 0;
    return "";
  }
  *len = sz - 1;
  return (const char *)msg + 1;
}

/* Handle layout: the high 8 bits are the node id, the low 24 bits the
 * local id. Lua sees these same numbers, pushed from C (shoal.HANDLE_*). */
#define SHOAL_HANDLE_NODE_SHIFT 24
#define SHOAL_HANDLE_LOCAL_MASK 0xffffffu
#define SHOAL_HANDLE_NODE_MAX ((int)(0xffffffffu >> SHOAL_HANDLE_NODE_SHIFT)) /* highest node id: 255 */
static inline int shoal_handle_node_of(uint32_t handle) { return (int)(handle >> SHOAL_HANDLE_NODE_SHIFT); }
static inline uint32_t shoal_handle_local_of(uint32_t handle) { return handle & SHOAL_HANDLE_LOCAL_MASK; }
/* The handle of local id `local` on node `node` (local 0: that node's harbor). */
static inline uint32_t shoal_handle_make(int node, uint32_t local) {
  return ((uint32_t)node & 0xffu) << SHOAL_HANDLE_NODE_SHIFT | (local & SHOAL_HANDLE_LOCAL_MASK);
}

/* Log levels, lowest first, with the names the config and the console use.
 * Lua sees them as shoal.LOG_NAME. */
#define SHOAL_LOGLEVEL_LIST(X) \
  X(DEBUG, 0, "debug")         \
  X(INFO, 1, "info")           \
  X(WARN, 2, "warn")           \
  X(ERROR, 3, "error")

enum shoal_loglevel {
#define SHOAL_LOGLEVEL_ENUM(name, value, text) SHOAL_LOG_##name = value,
  SHOAL_LOGLEVEL_LIST(SHOAL_LOGLEVEL_ENUM)
#undef SHOAL_LOGLEVEL_ENUM
};

/* Signals a module's NAME_signal may receive, from any thread (so it must
 * be async-safe). Lua sees them as shoal.SIGNAL_NAME. */
#define SHOAL_SIGNAL_LIST(X) \
  X(INTERRUPT, 0)            /* break out of a stuck message (snlua) */ \
  X(STATS, 1)                /* log internal stats */

enum shoal_signal {
#define SHOAL_SIGNAL_ENUM(name, value) SHOAL_SIGNAL_##name = value,
  SHOAL_SIGNAL_LIST(SHOAL_SIGNAL_ENUM)
#undef SHOAL_SIGNAL_ENUM
};

/* The commands of SYSTEM messages: the payload is the word, START followed
 * by a NUL and the serialized arguments of a Lua service. Lua sees them as
 * shoal.SYSTEM_NAME. */
#define SHOAL_SYSTEM_START "START" /* start the service (snlua: run its file) */
#define SHOAL_SYSTEM_EXIT "EXIT"   /* graceful shutdown: finish and exit */
#define SHOAL_SYSTEM_REOPEN "REOPEN" /* the logger: reopen its file (SIGHUP) */

/* Is the SYSTEM payload msg/sz the command cmd (a SHOAL_SYSTEM_*), alone or
 * followed by a NUL and arguments? */
static inline int shoal_system_is(const void *msg, size_t sz, const char *cmd) {
  size_t n = strlen(cmd);
  return msg != NULL && sz >= n && memcmp(msg, cmd, n) == 0 && (sz == n || ((const char *)msg)[n] == '\0');
}

/* Is a message with this type and session a request, one that is owed an
 * answer (RESPONSE or ERROR)? */
static inline int shoal_is_request(int type, int session) {
  return session > 0 && type != SHOAL_PTYPE_RESPONSE && type != SHOAL_PTYPE_ERROR;
}

/* Flags for shoal_send's session argument handling. */
#define SHOAL_SESSION_ALLOC (-1) /* allocate a fresh session for a request */

struct shoal_context;

/* Returns 0 to let the runtime free msg, 1 to keep it (then the receiver owns it). */
typedef int (*shoal_cb)(struct shoal_context *ctx, void *ud, int type, int session,
                        uint32_t source, const void *msg, size_t sz);

SHOAL_API const char *shoal_strerror(int err);

/* Sends a message. `data` ownership moves to the runtime even on error (it is
 * freed). session SHOAL_SESSION_ALLOC allocates a new session and returns
 * it; any other session is sent as given and 0 is returned. A negative
 * SHOAL_E* means it was not delivered. source 0 means ctx. */
SHOAL_API int shoal_send(struct shoal_context *ctx, uint32_t source, uint32_t dest, int type,
                         int session, void *data, size_t sz);
/* Same, with the destination given as a name (".local" or a handle ":%08x"). */
SHOAL_API int shoal_sendname(struct shoal_context *ctx, uint32_t source, const char *dest,
                             int type, int session, void *data, size_t sz);
SHOAL_API void shoal_callback(struct shoal_context *ctx, void *ud, shoal_cb cb);
SHOAL_API uint32_t shoal_self(struct shoal_context *ctx);
/* Sets the label shown in stats and the console's list (copied, cut at 63). */
SHOAL_API void shoal_set_label(struct shoal_context *ctx, const char *label);
/* Reports the service's own memory use (bytes) for stats. */
SHOAL_API void shoal_set_memory(struct shoal_context *ctx, size_t bytes);

/* Answers request `session` of `to` with an ERROR of code (a SHOAL_E*:
 * SHOAL_ERAISED when the request itself failed, another code when the
 * runtime or a resource failed it) and the len bytes at text (copied).
 * Errors are ignored: the caller may be gone. */
SHOAL_API void shoal_reply_error(struct shoal_context *ctx, uint32_t to, int session, int code, const char *text,
                                 size_t len);
/* Delivers a RESPONSE with a fresh session to ctx after ms milliseconds. */
SHOAL_API int shoal_timeout(struct shoal_context *ctx, uint32_t ms);
/* Starts a C service; returns its handle or a negative error. */
SHOAL_API int64_t shoal_launch(struct shoal_context *ctx, const char *module, const char *args);
SHOAL_API int shoal_kill(uint32_t handle);
SHOAL_API void shoal_exit(struct shoal_context *ctx);
SHOAL_API int shoal_name(const char *name, uint32_t handle);
SHOAL_API uint32_t shoal_query(const char *name); /* 0 when not found */
/* Settings: every key of the config schema (core/config_keys.h), checked
 * at start, read with its type (a value the file did not set is the
 * schema's default; a key not in the schema aborts: a reader's typo). */
enum shoal_config_type { SHOAL_CONFIG_INT, SHOAL_CONFIG_BOOL, SHOAL_CONFIG_STRING };
SHOAL_API int64_t shoal_config_int(const char *key);
SHOAL_API int shoal_config_bool(const char *key);
SHOAL_API const char *shoal_config_string(const char *key); /* never NULL; valid until exit */
/* The key's enum shoal_config_type, or -1 when the schema has no such key. */
SHOAL_API int shoal_config_type(const char *key);
/* A raw setting as text, also the game's own keys (NULL when unset). */
SHOAL_API const char *shoal_getenv(const char *key);
/* Walks a search path ("a/?.lua;b/?.lua"): writes the next candidate file
 * for name into out and returns where to continue (pass it back as
 * pathlist), or NULL when no pattern is left. Patterns without '?' or too
 * long for out are skipped. */
SHOAL_API const char *shoal_path_next(const char *pathlist, const char *name, char *out, size_t outlen);
SHOAL_API uint64_t shoal_now(void);                  /* ms since node start */
SHOAL_API uint64_t shoal_clock_ns(void);             /* monotonic ns (TSC), for durations */
SHOAL_API uint64_t shoal_starttime(void);            /* unix time (s) of node start */
SHOAL_API void shoal_abort(int exit_code);           /* shut the node down */

/* Per-service statistics. */
struct shoal_service_stat {
  uint64_t messages; /* messages dispatched */
  uint64_t cpu_ns;   /* time spent in the callback */
  size_t mqlen;      /* messages waiting */
  size_t mqpeak;     /* highest queue length seen */
  size_t mem;        /* memory the service reported (Lua heap for snlua) */
  char module[32];   /* module name */
  char label[64];    /* what the service calls itself (snlua: "name args") */
};
SHOAL_API int shoal_stat(uint32_t handle, struct shoal_service_stat *out);
/* Copies up to max live local handles into out; returns the count. */
SHOAL_API int shoal_list(uint32_t *out, int max);
/* Asks a service stuck in a message to give up (snlua raises an error). */
SHOAL_API int shoal_interrupt(uint32_t handle);

/* ---- sockets (core/socket.c): epoll, polled by idle workers; events arrive as
 * SHOAL_PTYPE_SOCKET messages whose payload is a struct
 * shoal_socket_message. Every function is safe from any thread. */

enum shoal_socket_event {
  SHOAL_SOCKET_DATA = 1,    /* bytes arrived: buffer/ud = data/size (the receiver frees buffer) */
  SHOAL_SOCKET_CONNECT = 2, /* connect finished, or start() took effect; buffer: peer address */
  SHOAL_SOCKET_CLOSE = 3,   /* ud 0: the peer closed its side (the socket stays open until
                               closed); ud SHOAL_SOCKET_GONE: the socket is closed and its id
                               dead (close() finished, or it was aborted) */
  SHOAL_SOCKET_ACCEPT = 4,  /* listener accepted ud = new socket id; buffer: peer address */
  SHOAL_SOCKET_ERROR = 5,   /* the socket failed; buffer: reason; it is closed */
  SHOAL_SOCKET_UDP = 6,     /* datagram: buffer/ud = data/size, then the NUL-terminated sender
                               address (the receiver frees buffer) */
  SHOAL_SOCKET_WARNING = 7, /* write buffer passed the high-water mark: ud = buffered KB */
};

/* CLOSE's ud when the socket itself is gone, not only the peer's side. */
#define SHOAL_SOCKET_GONE 1

struct shoal_socket_message {
  int type;     /* enum shoal_socket_event */
  int id;       /* socket id */
  int ud;       /* see the event */
  char *buffer; /* see the event; NUL-terminated text for CONNECT/ACCEPT/ERROR */
};

/* Frees the buffer a SOCKET message (ptype, msg, sz as delivered) owns,
 * DATA and UDP events, and clears it; anything else is left alone. The
 * runtime calls it after the receiver's callback returns 0 (and for a
 * message dropped undelivered), so a receiver reads the buffer in its
 * callback and frees nothing; one that keeps the buffer sets it to NULL. */
SHOAL_API void shoal_socket_message_free(int ptype, void *msg, size_t sz);

/* Listens on host:port (host NULL or "" = 0.0.0.0). The socket is paused:
 * shoal_socket_start makes it deliver ACCEPT events to ctx. Returns the
 * socket id or a negative SHOAL_E* (the reason is logged). */
SHOAL_API int shoal_socket_listen(struct shoal_context *ctx, const char *host, int port, int backlog);
/* Starts delivering events of socket id to ctx (accepted sockets start
 * paused so their owner can hand them to another service first). */
SHOAL_API int shoal_socket_start(struct shoal_context *ctx, int id);
/* Connects without blocking; CONNECT (or ERROR) arrives later. */
SHOAL_API int shoal_socket_connect(struct shoal_context *ctx, const char *host, int port);
/* Takes an already-open stream fd (a socketpair end, a pipe) into the
 * socket server, owned by ctx and paused until shoal_socket_start, like an
 * accepted socket; it is made non-blocking and close-on-exec. Returns the
 * socket id or a negative SHOAL_E* (fd closed). */
SHOAL_API int shoal_socket_adopt(struct shoal_context *ctx, int fd, const char *peer);
/* Queues data (ownership moves, even on error). Never blocks. Returns 0,
 * or a negative SHOAL_E* when the socket is gone or closing (ENOSERVICE)
 * or this send took its write buffer past the hard limit (EFULL: the
 * buffer is dropped, the socket is aborted and its owner gets ERROR). */
SHOAL_API int shoal_socket_send(struct shoal_context *ctx, int id, void *data, size_t sz);
/* Caps socket id's write buffer at limit bytes, below the node's
 * socket_limit_kb (which stays the ceiling; 0: back to it). Past the cap a
 * send fails as above; the ERROR's text names the limit, and the socket
 * server logs nothing: the owner, who chose the cap, reports it. Returns 0
 * or SHOAL_ENOSERVICE. */
SHOAL_API int shoal_socket_set_limit(int id, size_t limit);
/* Closes after the pending writes are flushed, but waits at most
 * socket_close_timeout_ms for them (then the socket is aborted, with a log
 * line); CLOSE (ud SHOAL_SOCKET_GONE) arrives either way. */
SHOAL_API void shoal_socket_close(struct shoal_context *ctx, int id);
/* Closes now with a reset, dropping unsent data (a peer that stopped
 * reading); CLOSE (ud SHOAL_SOCKET_GONE) arrives. */
SHOAL_API void shoal_socket_abort(struct shoal_context *ctx, int id);
/* Read flow control, for an owner that may fall behind a fast peer: at
 * most window DATA messages of socket id wait for the owner (0: no limit,
 * the default). With the window full the socket stops reading (its fd
 * leaves EPOLLIN; the kernel's buffer fills and TCP makes the peer wait)
 * until the owner reports DATA handled with shoal_socket_consumed. An
 * owner that sets a window must report every DATA message it gets, or the
 * socket stops reading for good. Returns 0, SHOAL_EINVAL (window < 0) or
 * SHOAL_ENOSERVICE. */
SHOAL_API int shoal_socket_set_window(int id, int window);
/* The owner is done with n DATA messages of socket id: reading resumes if
 * the window was full. Ignored when the socket is gone or has no window. */
SHOAL_API void shoal_socket_consumed(int id, int n);
/* Bytes waiting in the socket's write buffer (0 when it is gone). */
SHOAL_API size_t shoal_socket_buffered(int id);
/* Half-close: no more writes after the pending ones; reads go on. */
SHOAL_API void shoal_socket_shutdown(struct shoal_context *ctx, int id);
/* A UDP socket bound to host:port (port 0: any); UDP events go to ctx. */
SHOAL_API int shoal_socket_udp(struct shoal_context *ctx, const char *host, int port);
/* Sends a datagram (data ownership moves). */
SHOAL_API int shoal_socket_udp_send(struct shoal_context *ctx, int id, const char *host, int port,
                                    void *data, size_t sz);
/* Per-socket figures (for the console's `net`). */
struct shoal_socket_info {
  int id;              /* socket id */
  int kind;            /* 'L' listen, 'l' paused listen, 'C' connected, 'c' connecting, 'U' udp, 'A' accepted (paused) */
  uint32_t owner;      /* service receiving its events */
  uint64_t bytes_in;   /* bytes read */
  uint64_t bytes_out;  /* bytes written */
  size_t buffered;     /* bytes waiting in the write buffer */
  char peer[64];       /* peer address, or the local one for listeners and UDP */
};
/* Copies up to max sockets' figures into out; returns the count. */
SHOAL_API int shoal_socket_info_list(struct shoal_socket_info *out, int max);
/* Disables Nagle on a TCP socket. */
SHOAL_API void shoal_socket_nodelay(struct shoal_context *ctx, int id);

/* Framed sockets (core/socket_frame.c): every write is one frame, a
 * big-endian length header of 2 or 4 bytes then the body. The gate marks
 * its client connections so; then any service of the node writes a frame
 * to a client itself, in one call and one buffer. */
/* Marks socket id framed with header (2 or 4) bytes of length. Returns 0,
 * SHOAL_EINVAL for another header size, SHOAL_ENOSERVICE when it is gone.
 * header | SHOAL_SOCKET_FRAME_WS: every frame is a WebSocket binary frame
 * (RFC 6455, server side: FIN, opcode 2, no mask) whose body is at most
 * what a header of that size could announce (the gate's WebSocket
 * connections: the same limits as its TCP ones). */
#define SHOAL_SOCKET_FRAME_WS 0x100
SHOAL_API int shoal_socket_set_frame(int id, int header);
/* Writes one frame of body[0..sz) (copied) to framed socket id. Returns 0;
 * SHOAL_ENOSERVICE when the socket is gone or not framed; SHOAL_EINVAL when
 * sz does not fit its header; SHOAL_EFULL as shoal_socket_send. */
SHOAL_API int shoal_socket_send_frame(struct shoal_context *ctx, int id, const void *body, size_t sz);
/* Writes the length header (2 or 4 bytes, big-endian) of a size-byte body
 * into out; returns its length, or 0 when size does not fit. */
static inline size_t shoal_frame_header(int header, size_t size, unsigned char out[4]) {
  if (header == 2 && size <= 0xffffu) {
    out[0] = (unsigned char)(size >> 8);
    out[1] = (unsigned char)size;
    return 2;
  }
  if (header == 4 && size <= 0xffffffffu) {
    out[0] = (unsigned char)(size >> 24);
    out[1] = (unsigned char)(size >> 16);
    out[2] = (unsigned char)(size >> 8);
    out[3] = (unsigned char)size;
    return 4;
  }
  return 0;
}

/* ---- cross-node messaging (core/remote.c), for the harbor service ----
 * A handle's high 8 bits are its node id. A message for another node's
 * handle reaches the node's harbor as a SHOAL_PTYPE_HARBOR message whose
 * payload is a struct shoal_remote_message; its source and session are the
 * original sender's. shoal_handle_make(node, 0) (local id 0) names that
 * node's harbor. shoal_send to a node that is not up returns SHOAL_ENODEDOWN; over
 * the per-node queue bound it returns SHOAL_EFULL. */
struct shoal_remote_message {
  uint32_t dest; /* remote handle */
  int type;      /* the message's own type */
  void *data;    /* its payload: the harbor must shoal_free it */
  size_t size;
};
enum shoal_node_state {
  SHOAL_NODE_UNKNOWN = 0,    /* no harbor knows it: sends fail */
  SHOAL_NODE_CONNECTING = 1, /* first connection under way: sends queue */
  SHOAL_NODE_UP = 2,         /* connected and answering */
  SHOAL_NODE_LOST = 3,       /* was up or tried, now gone: sends fail fast */
};
SHOAL_API uint32_t shoal_node_self(void);
/* Makes ctx the node's harbor; queue_limit bounds the bytes per node. */
SHOAL_API int shoal_harbor_attach(struct shoal_context *ctx, size_t queue_limit);
SHOAL_API void shoal_harbor_detach(struct shoal_context *ctx);
SHOAL_API void shoal_node_set_state(int node, int state);
/* The harbor took one message of `bytes` payload for node off its queue;
 * returns how many more for node are still queued (0: the last one, so a
 * write now batches everything there is). */
SHOAL_API size_t shoal_node_dequeued(int node, size_t bytes);
/* Bytes the harbor holds for node in its own buffers and the socket's. */
SHOAL_API void shoal_node_set_buffered(int node, size_t bytes);
/* Bytes counted against node's bound now. */
SHOAL_API size_t shoal_node_queued(int node);

SHOAL_API int shoal_log_enabled(int level);
/* The rate limit of a log line that others can cause at will (a stranger
 * on the harbor port, a client that does not read): at most `burst` lines
 * a second per limiter, the others counted. Safe from any thread; a
 * limiter starts zeroed. */
struct shoal_log_limit {
  uint64_t window_ms; /* start (node ms) of the current second */
  uint32_t count;     /* lines asked for in it */
  uint32_t dropped;   /* lines left out since the last one written */
};
/* 1: write the line now, and say that *dropped lines were left out before
 * it (when not 0); 0: leave it out (it is counted). */
static inline int shoal_log_limit_pass(struct shoal_log_limit *l, int burst, uint32_t *dropped) {
  uint64_t now = shoal_now();
  uint64_t w = __atomic_load_n(&l->window_ms, __ATOMIC_RELAXED);
  if (now - w >= 1000 && __atomic_compare_exchange_n(&l->window_ms, &w, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    __atomic_store_n(&l->count, 0, __ATOMIC_RELAXED);
  if (__atomic_fetch_add(&l->count, 1, __ATOMIC_RELAXED) >= (uint32_t)burst) {
    __atomic_fetch_add(&l->dropped, 1, __ATOMIC_RELAXED);
    return 0;
  }
  *dropped = __atomic_exchange_n(&l->dropped, 0, __ATOMIC_RELAXED);
  return 1;
}
/* The node's log level (enum shoal_loglevel); set it at run time. */
SHOAL_API int shoal_log_getlevel(void);
SHOAL_API void shoal_log_setlevel(int level);
/* Logs len bytes of text as they are (NUL bytes included; the logger escapes
 * them and cuts the line at SHOAL_LOG_LINE_MAX). */
SHOAL_API void shoal_log_text(struct shoal_context *ctx, int level, const char *text, size_t len);
SHOAL_API void shoal_log(struct shoal_context *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* One log message is one line of at most SHOAL_LOG_LINE_MAX bytes of text
 * (after escaping); a longer one is cut and ends with SHOAL_LOG_CUT_MARK. */
#define SHOAL_LOG_LINE_MAX 8192
#define SHOAL_LOG_CUT_MARK "...[cut: line over 8192 bytes]"
/* Room shoal_log_escape needs: the text, the mark and a NUL. */
#define SHOAL_LOG_ESCAPED_MAX (SHOAL_LOG_LINE_MAX + sizeof(SHOAL_LOG_CUT_MARK))
/* Writes the len bytes at text into out (SHOAL_LOG_ESCAPED_MAX bytes) as
 * one printable line, so no message can start a forged line or drive the
 * terminal that shows the log: \n \r \t stay visible as those two
 * characters, other control bytes (and DEL and the C1 controls) become
 * \xHH, bytes that are not UTF-8 become \xHH; valid UTF-8 and backslashes
 * are kept; line ends at the very end are dropped. Over SHOAL_LOG_LINE_MAX bytes the line is cut (never inside an
 * escape or a character) and SHOAL_LOG_CUT_MARK added. Returns the length
 * written; out is NUL-terminated. The logger calls it on every line it
 * writes, so each line is escaped exactly once, whoever sent it. */
SHOAL_API size_t shoal_log_escape(char *out, const char *text, size_t len);

/* Allocation: aborts on out-of-memory. */
SHOAL_API void *shoal_malloc(size_t sz);
SHOAL_API void *shoal_realloc(void *p, size_t sz);
SHOAL_API void shoal_free(void *p);
SHOAL_API char *shoal_strdup(const char *s);

#endif
