/*
 * socket_int.h - what core/socket.c (the poller and the operations
 * on open sockets) shares with core/socket_open.c (creating sockets and
 * resolving addresses). Private to those two files.
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
  int closing;                /* close once the write buffer is empty */
  int shut_write;             /* shutdown(SHUT_WR) once it is empty */
  int want_write;             /* EPOLLOUT registered (poller only) */
  int peer_closed;            /* read EOF: the peer sends no more (poller only) */
  int read_size;              /* adaptive read size (poller only) */
  int frame_header;           /* 2 or 4: a framed socket (socket_frame.c); 0: raw */
  atomic_ullong bytes_in;     /* stats */
  atomic_ullong bytes_out;    /* stats */
  char peer[64];              /* peer address, or the local one for listeners */
};

/* The first socket id (and where ids start again after INT_MAX): a gate's
 * connection id is its socket id, and as a session -id must never be
 * SHOAL_SESSION_ALLOC (-1) nor look like a SHOAL_E* code. */
#define SOCKET_FIRST_ID 16

enum cmd_type { C_START, C_CLOSE, C_SHUTDOWN, C_WRITE, C_WATCH, C_FORCE_CLOSE, C_ABORT, C_WAKE };

struct cmd {
  int type;       /* enum cmd_type */
  int id;         /* socket id */
  uint32_t owner; /* new owner (C_START) */
  int arg;        /* C_WATCH: epoll events */
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

#endif
