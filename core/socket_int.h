/*
 * socket_int.h - what the files of the socket server share: core/socket.c
 * (the slot table and the poller), core/socket_write.c (the write side:
 * sending, the write buffer and its limits), core/socket_open.c (creating
 * sockets, resolving addresses) and core/socket_frame.c. Private to them.
 */
#ifndef SHOAL_SOCKET_INT_H
#define SHOAL_SOCKET_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "spinlock.h"

enum state {
  S_FREE = 0,    /* unused slot */
  S_RESERVED,    /* being set up by a caller */
  S_PLISTEN,     /* listening, paused until start */
  S_LISTEN,      /* listening, delivering ACCEPT */
  S_CONNECTING,  /* connect in progress */
  S_CONNECTED,   /* open, reading */
  S_PACCEPT,     /* accepted, paused until start */
  S_UDP,         /* bound UDP socket */
};

struct wbuf {
  struct wbuf *next; /* next buffer to write */
  char *data;        /* owned */
  size_t off;        /* bytes already written */
  size_t sz;         /* total bytes */
};

struct sock {
  atomic_int state;           /* enum state */
  int id;                     /* full id (slot = id % max) */
  int fd;                     /* file descriptor */
  atomic_uint owner;          /* service receiving events */
  struct shoal_spinlock lock; /* guards the write side below */
  struct wbuf *head, *tail;   /* write buffer */
  size_t wb_size;             /* bytes in the write buffer */
  size_t warn_mark;           /* next WARNING threshold */
  size_t limit;               /* hard limit of the write buffer (the owner's, or the node's) */
  int own_limit;              /* limit was set by the owner, who reports the close itself */
  int closing;                /* close once the write buffer is empty */
  int shut_write;             /* shutdown(SHUT_WR) once it is empty */
  atomic_int window;          /* read window: DATA messages the owner may have unconsumed; 0: none */
  atomic_int unread;          /* DATA messages forwarded and not yet consumed (with a window) */
  int want_write;             /* EPOLLOUT registered (poller only) */
  int peer_closed;            /* read EOF: the peer sends no more (poller only) */
  int read_stalled;           /* the window is full: EPOLLIN is off (poller only) */
  int read_size;              /* adaptive read size (poller only) */
  int frame_header;           /* 2 or 4: a framed socket (socket_frame.c); 0: raw */
  const struct shoal_frame_cipher *cipher; /* seals every frame written (socket_frame.c); NULL: none */
  void *cipher_ud;            /* the cipher's state, owned (freed with the slot) */
  uint64_t close_deadline;    /* clock ns when a lingering close is aborted (poller only) */
  struct sock *linger_prev, *linger_next; /* the lingering list, oldest first (poller only) */
  int lingering;              /* on that list (poller only) */
  atomic_ullong bytes_in;     /* stats */
  atomic_ullong bytes_out;    /* stats */
  char peer[64];              /* peer address, or the local one for listeners */
};

/* The first socket id (and where ids start again after INT_MAX): a gate's
 * connection id is its socket id, and as a session -id must never be
 * SHOAL_SESSION_ALLOC (-1) nor look like a SHOAL_E* code. */
#define SOCKET_FIRST_ID 16

/* C_FORCE_CLOSE: the write buffer passed its limit (the sender already
 * dropped it); C_RESUME: the owner consumed DATA, so a full read window
 * may have room again. */
enum cmd_type { C_START, C_CLOSE, C_SHUTDOWN, C_WRITE, C_WATCH, C_FORCE_CLOSE, C_ABORT, C_WAKE, C_RESUME };

struct cmd {
  int type;       /* enum cmd_type */
  int id;         /* socket id */
  uint32_t owner; /* new owner (C_START) */
  int arg;        /* C_WATCH: epoll events; C_FORCE_CLOSE: the limit passed, KB */
};

/* The slot of id (check s->id == id under the lock before trusting it). */
struct sock *socket_slot(int id);
/* Reserves a free slot in state S_RESERVED, or NULL when all are in use. */
struct sock *socket_reserve(void);
/* Posts a command to the poller (any thread). */
void socket_post(int type, int id, uint32_t owner, int arg);
/* "ip:port" of an address. */
void socket_addr_text(const struct sockaddr *sa, char *out, size_t outlen);
/* Open sockets allowed (config max_sockets). */
int socket_max(void);
/* Sends an event to the socket's owner. text (may be NULL) is copied after
 * the struct; data (DATA/UDP) is handed over. Returns 0, or -1 when the
 * owner is gone (data is then freed). */
int socket_forward(struct sock *s, int type, int ud, char *data, const char *text);

/* The write side (socket_write.c). */
/* Reads the write-side config (socket_warn_kb, socket_limit_kb). */
void socket_write_init(void);
/* Resets the write side of a slot being reserved (caller holds its lock). */
void socket_write_reset(struct sock *s);
/* Writes what the kernel takes from the write buffer (caller holds the
 * lock); returns 0, or -1 on a write error (errno). */
int socket_flush(struct sock *s);
/* Frees the write buffer (caller holds the lock, or owns the slot). */
void socket_free_wbufs(struct sock *s);
struct shoal_frame_cipher;
/* shoal_socket_send's work once the caller holds s->lock and has checked
 * that s->id is the id it means: writes or queues data (owned, freed on
 * every path) and releases the lock. Frames that must keep their order
 * against something done under the lock (sealing) go through it. With ops
 * not NULL, the cipher (ops, ud) is installed in the same hold of the lock
 * once data is written or queued (on failure the caller still owns ud). */
int socket_send_locked(struct sock *s, void *data, size_t sz, const struct shoal_frame_cipher *ops, void *ud);
/* Installs / frees a framed socket's cipher (caller holds the lock, or
 * owns the slot). */
void socket_frame_install(struct sock *s, const struct shoal_frame_cipher *ops, void *ud);
void socket_frame_release(struct sock *s);

/* A per-socket WARN line (any thread), at most SOCKET_LOG_BURST a second
 * node-wide: a crowd of bad peers cannot flood the log. The lines over
 * that are counted and the count is reported with the next line. */
#define SOCKET_LOG_BURST 20
void socket_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
