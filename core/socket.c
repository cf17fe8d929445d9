/*
 * socket.c - the socket server (see socket.h and shoal.h).
 *
 * Threads: one thread at a time is *the poller*: it holds the poll token,
 * calls epoll_wait and handles what is ready (reads, accepts, EPOLLOUT
 * flushes, closes) and the commands that other threads post through a pipe
 * of fixed-size commands (writes of <= PIPE_BUF bytes are atomic, so any
 * thread may post). Every state change of every socket happens under the
 * token, so the handlers below are single-threaded as a dedicated socket
 * thread's would be. The poller is usually a worker that ran out of
 * messages (like Go's netpoller): the events it reads become messages
 * whose receivers it then runs itself, through its hand-off slot, with no
 * thread switch between the read and the service. An idle worker blocks in
 * epoll_wait instead of on the scheduler's condition variable (one at a
 * time; shoal_socket_wake breaks the wait when work arrives). A worker
 * that keeps finding messages polls between them once the last poll is
 * some tens of microseconds old, and the timer thread polls when nobody
 * did for a millisecond, so sockets are served even when every worker is
 * busy (see start.c). There is no socket thread.
 *
 * The one exception is sending (socket_write.c): a worker that sends to a
 * socket with an empty write buffer writes to the kernel itself, under the
 * socket's spinlock, so a reply does not wait for the poller. What the
 * kernel does not take goes to the socket's write buffer, which the poller
 * drains on EPOLLOUT. The poller takes the same lock to close a socket, so
 * no sender ever writes to a closed (and maybe reused) fd.
 *
 * Socket ids grow monotonically from SOCKET_FIRST_ID; a slot is id %
 * max_sockets and remembers its id, so a stale id never reaches a new
 * socket in the same slot.
 *
 * Creating sockets (listen, connect, UDP, address resolution) is in
 * socket_open.c; the slot table and its locking rules stay here.
 *
 * Limits: config `max_sockets` (default 16384) open sockets. The write
 * buffer's limits are in socket_write.c. A close waits for the write
 * buffer to drain for at most `socket_close_timeout_ms` (default 3000):
 * a peer that advertises a zero window must not keep its socket, and the
 * buffer, forever. Lingering closes sit in a list in deadline order (every
 * deadline is now + the same timeout), so each poll looks at its head only.
 *
 * Read flow control: an owner that sets a read window
 * (shoal_socket_set_window) has at most that many DATA messages of the
 * socket waiting for it; with the window full the fd leaves EPOLLIN, the
 * kernel's receive buffer fills and TCP tells the peer to wait. The owner
 * reopens it with shoal_socket_consumed. So a fast client cannot queue
 * more than window reads in its owner's mailbox.
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include "socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "context.h"
#include "env.h"
#include "shoal.h"
#include "socket_int.h"
#include "spinlock.h"

/* The smallest read. A read buffer only lives until the owner has handled
 * its DATA message, so a small one saves no memory; but a message a few
 * bytes longer than the read costs a second read, epoll event and DATA
 * message for its tail. At 64, a client's 66-byte frames took two reads
 * each (64, then 2: the short read shrank the size back to 64). */
#define MIN_READ 512
#define MAX_READ (64 * 1024)
#define MAX_EVENTS 64

static struct {
  int epfd;            /* epoll set */
  int pipe_rd;         /* command pipe, read end (the poller) */
  int pipe_wr;         /* command pipe, write end (any thread) */
  int spare_fd;        /* kept open to recover from EMFILE in accept */
  int max;             /* slots */
  struct sock *slots;  /* max slots */
  atomic_int next_id;  /* next id to hand out */
  uint64_t close_timeout_ns; /* how long a close waits for its write buffer to drain */
  struct sock *linger_head, *linger_tail; /* closes waiting to drain, oldest first (poller only) */
  uint64_t spin_ns;    /* busy-poll before a blocking epoll_wait (socket_spin_us) */
  atomic_int token;    /* 1 while a thread is the poller */
  atomic_int blocked;  /* 1 while the poller waits in epoll_wait with a timeout */
  atomic_int wake_pending; /* a C_WAKE is in the pipe and not yet read */
  atomic_int open;     /* slots in use: nothing to poll for while 0 */
  atomic_ullong last_poll; /* clock ns of the last poll's start */
} SS = {.epfd = -1, .pipe_rd = -1, .pipe_wr = -1, .spare_fd = -1};

/* ---- helpers ---- */

struct sock *socket_slot(int id) {
  if (id <= 0 || SS.slots == NULL) return NULL;
  return &SS.slots[id % SS.max];
}

void socket_post(int type, int id, uint32_t owner, int arg) {
  struct cmd c = {type, id, owner, arg};
  for (;;) {
    ssize_t n = write(SS.pipe_wr, &c, sizeof(c));
    if (n == (ssize_t)sizeof(c)) return;
    if (n < 0 && errno == EINTR) continue;
    shoal_log(NULL, SHOAL_LOG_ERROR, "socket: command pipe write failed: %s", strerror(errno));
    return;
  }
}

/* Reserves a free slot; returns it with state S_RESERVED, or NULL. */
struct sock *socket_reserve(void) {
  for (int tries = 0; tries < SS.max; tries++) {
    int id = atomic_fetch_add(&SS.next_id, 1);
    if (id < SOCKET_FIRST_ID) { /* wrapped: restart the sequence */
      atomic_store(&SS.next_id, SOCKET_FIRST_ID);
      continue;
    }
    struct sock *s = &SS.slots[id % SS.max];
    int expected = S_FREE;
    if (atomic_compare_exchange_strong(&s->state, &expected, S_RESERVED)) {
      atomic_fetch_add_explicit(&SS.open, 1, memory_order_relaxed);
      shoal_spin_lock(&s->lock);
      s->id = id;
      s->fd = -1;
      socket_write_reset(s);
      s->closing = s->shut_write = s->want_write = s->peer_closed = 0;
      atomic_store_explicit(&s->window, 0, memory_order_relaxed);
      s->read_stalled = s->lingering = 0;
      atomic_store(&s->unread, 0);
      s->read_size = MIN_READ;
      s->frame_header = 0;
      s->cipher = NULL;
      s->cipher_ud = NULL;
      atomic_store(&s->bytes_in, 0);
      atomic_store(&s->bytes_out, 0);
      s->peer[0] = '\0';
      shoal_spin_unlock(&s->lock);
      return s;
    }
  }
  return NULL;
}

int socket_forward(struct sock *s, int type, int ud, char *data, const char *text) {
  size_t tlen = text ? strlen(text) + 1 : 0;
  struct shoal_socket_message *m = shoal_malloc(sizeof(*m) + tlen);
  m->type = type;
  m->id = s->id;
  m->ud = ud;
  m->buffer = data;
  if (text) {
    m->buffer = (char *)(m + 1);
    memcpy(m->buffer, text, tlen);
  }
  struct shoal_message msg = {0, 0, m, (uint32_t)(sizeof(*m) + tlen), SHOAL_PTYPE_SOCKET};
  if (shoal_context_push(atomic_load(&s->owner), &msg) != 0) {
    if (data) shoal_free(data);
    shoal_free(m);
    return -1;
  }
  return 0;
}

/* The lingering list: sockets closing with a write buffer to drain. */
static void linger_add(struct sock *s) {
  if (s->lingering) return;
  s->close_deadline = shoal_clock_ns() + SS.close_timeout_ns;
  s->linger_next = NULL;
  s->linger_prev = SS.linger_tail;
  if (SS.linger_tail) SS.linger_tail->linger_next = s;
  else SS.linger_head = s;
  SS.linger_tail = s;
  s->lingering = 1;
}

static void linger_remove(struct sock *s) {
  if (!s->lingering) return;
  if (s->linger_prev) s->linger_prev->linger_next = s->linger_next;
  else SS.linger_head = s->linger_next;
  if (s->linger_next) s->linger_next->linger_prev = s->linger_prev;
  else SS.linger_tail = s->linger_prev;
  s->linger_prev = s->linger_next = NULL;
  s->lingering = 0;
}

/* Closes and frees a socket (the poller). */
static void close_socket(struct sock *s) {
  linger_remove(s);
  if (s->fd >= 0) epoll_ctl(SS.epfd, EPOLL_CTL_DEL, s->fd, NULL);
  shoal_spin_lock(&s->lock);
  socket_free_wbufs(s);
  socket_frame_release(s);
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  s->id = 0;
  atomic_store(&s->state, S_FREE);
  shoal_spin_unlock(&s->lock);
  atomic_fetch_sub_explicit(&SS.open, 1, memory_order_relaxed);
}

/* Closes with a reset (SO_LINGER 0): the kernel drops what it still holds
 * for a peer that does not read, instead of keeping it for minutes. */
static void reset_socket(struct sock *s) {
  if (s->fd >= 0) {
    struct linger lg = {1, 0};
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  close_socket(s);
}

static void watch(struct sock *s, int events) {
  struct epoll_event ev = {.events = (uint32_t)events, .data.u64 = (uint64_t)(uint32_t)s->id};
  if (epoll_ctl(SS.epfd, EPOLL_CTL_MOD, s->fd, &ev) != 0 && errno == ENOENT)
    epoll_ctl(SS.epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

static int read_events(struct sock *s) {
  return (s->peer_closed || s->read_stalled ? 0 : EPOLLIN) | (s->want_write ? EPOLLOUT : 0);
}

/* Registers interest, or leaves the epoll set when there is none: a
 * half-closed socket would otherwise report EPOLLHUP again and again. */
static void rewatch(struct sock *s) {
  int events = read_events(s);
  if (events) watch(s, events);
  else epoll_ctl(SS.epfd, EPOLL_CTL_DEL, s->fd, NULL);
}

void socket_addr_text(const struct sockaddr *sa, char *out, size_t outlen) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  }
  snprintf(out, outlen, "%s:%d", host, port);
}

/* ---- the poller's handlers (the caller holds the token) ---- */

static void fail(struct sock *s, const char *why) {
  char text[160];
  snprintf(text, sizeof(text), "%s", why);
  socket_forward(s, SHOAL_SOCKET_ERROR, 0, NULL, text);
  close_socket(s);
}

/* After the write buffer emptied: finish a pending close or shutdown. */
static void after_flush(struct sock *s) {
  if (s->closing) {
    socket_forward(s, SHOAL_SOCKET_CLOSE, SHOAL_SOCKET_GONE, NULL, NULL);
    close_socket(s);
    return;
  }
  if (s->shut_write) shutdown(s->fd, SHUT_WR);
  s->want_write = 0;
  rewatch(s);
}

static void on_writable(struct sock *s) {
  shoal_spin_lock(&s->lock);
  int r = socket_flush(s);
  int empty = s->head == NULL;
  shoal_spin_unlock(&s->lock);
  if (r != 0) {
    fail(s, strerror(errno));
    return;
  }
  if (empty) after_flush(s);
}

static void on_readable(struct sock *s) {
  int size = s->read_size;
  char *buf = shoal_malloc((size_t)size);
  ssize_t n;
  do {
    n = read(s->fd, buf, (size_t)size);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    shoal_free(buf);
    if (errno != EAGAIN && errno != EWOULDBLOCK) fail(s, strerror(errno));
    return;
  }
  if (n == 0) {
    /* The peer closed (or half-closed) its side: no more data. The owner
     * hears CLOSE and may still write (a reply to the last request) until
     * it closes the socket. */
    shoal_free(buf);
    s->peer_closed = 1;
    rewatch(s);
    if (socket_forward(s, SHOAL_SOCKET_CLOSE, 0, NULL, NULL) != 0) close_socket(s);
    return;
  }
  atomic_fetch_add_explicit(&s->bytes_in, (uint64_t)n, memory_order_relaxed);
  /* Adapt: a full read means more is waiting; a small one, less. */
  if (n == size && size < MAX_READ) s->read_size = size * 2;
  else if (n < size / 4 && size > MIN_READ) s->read_size = size / 2;
  /* Counted before the owner can consume it, so its count never goes
   * below what the poller saw (see shoal_socket_consumed). */
  int window = atomic_load_explicit(&s->window, memory_order_relaxed);
  int unread = window ? atomic_fetch_add_explicit(&s->unread, 1, memory_order_acq_rel) + 1 : 0;
  if (socket_forward(s, SHOAL_SOCKET_DATA, (int)n, buf, NULL) != 0) {
    close_socket(s); /* owner gone */
    return;
  }
  if (window && unread >= window) {
    s->read_stalled = 1; /* until the owner consumes some (C_RESUME) */
    rewatch(s);
  }
}

static void on_accept(struct sock *ls) {
  for (int i = 0; i < 64; i++) {
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    int fd = accept4(ls->fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      if (errno == EMFILE || errno == ENFILE) {
        /* Out of descriptors: take the pending connection with the spare
         * fd and close it, so the listener does not spin on it. */
        shoal_log(NULL, SHOAL_LOG_ERROR, "socket: accept on %s: %s (connection refused)", ls->peer, strerror(errno));
        if (SS.spare_fd >= 0) {
          close(SS.spare_fd);
          int tmp = accept(ls->fd, NULL, NULL);
          if (tmp >= 0) close(tmp);
          SS.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
      }
      return; /* EAGAIN: drained */
    }
    struct sock *s = socket_reserve();
    if (s == NULL) {
      shoal_log(NULL, SHOAL_LOG_ERROR, "socket: limit of %d open sockets reached, connection refused on %s",
                SS.max, ls->peer);
      close(fd);
      continue;
    }
    s->fd = fd;
    socket_addr_text((struct sockaddr *)&sa, s->peer, sizeof(s->peer));
    atomic_store(&s->owner, atomic_load(&ls->owner));
    struct epoll_event ev = {.events = 0, .data.u64 = (uint64_t)(uint32_t)s->id};
    epoll_ctl(SS.epfd, EPOLL_CTL_ADD, fd, &ev); /* paused until start */
    atomic_store(&s->state, S_PACCEPT);
    if (socket_forward(ls, SHOAL_SOCKET_ACCEPT, s->id, NULL, s->peer) != 0) {
      close_socket(s);
      close_socket(ls);
      return;
    }
  }
}

/* A connect finished or an accepted socket was started: read it, write
 * what was queued meanwhile, tell the owner. */
static void become_connected(struct sock *s) {
  atomic_store(&s->state, S_CONNECTED);
  shoal_spin_lock(&s->lock);
  s->want_write = s->head != NULL;
  shoal_spin_unlock(&s->lock);
  watch(s, read_events(s));
  socket_forward(s, SHOAL_SOCKET_CONNECT, 0, NULL, s->peer);
}

static void on_connected(struct sock *s) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    char why[128];
    snprintf(why, sizeof(why), "connect to %s: %s", s->peer, strerror(err));
    fail(s, why);
    return;
  }
  become_connected(s);
}

static void on_udp(struct sock *s) {
  for (int i = 0; i < 64; i++) {
    char buf[65536];
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    ssize_t n = recvfrom(s->fd, buf, sizeof(buf), 0, (struct sockaddr *)&sa, &len);
    if (n < 0) return;
    char from[64];
    socket_addr_text((struct sockaddr *)&sa, from, sizeof(from));
    size_t flen = strlen(from) + 1;
    char *data = shoal_malloc((size_t)n + flen);
    memcpy(data, buf, (size_t)n);
    memcpy(data + n, from, flen); /* the sender's address follows the data */
    atomic_fetch_add_explicit(&s->bytes_in, (uint64_t)n, memory_order_relaxed);
    if (socket_forward(s, SHOAL_SOCKET_UDP, (int)n, data, NULL) != 0) {
      close_socket(s);
      return;
    }
  }
}

static void on_event(uint32_t id, uint32_t events) {
  struct sock *s = socket_slot((int)id);
  if (s == NULL || s->id != (int)id) return; /* closed earlier in this batch */
  switch (atomic_load(&s->state)) {
    case S_LISTEN:
      on_accept(s);
      break;
    case S_CONNECTING:
      on_connected(s);
      break;
    case S_UDP:
      on_udp(s);
      break;
    case S_CONNECTED:
      if (events & EPOLLOUT) {
        on_writable(s);
        if (s->id != (int)id) return;
      }
      if (!s->peer_closed && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        if ((events & EPOLLERR) && !(events & EPOLLIN)) {
          int err = 0;
          socklen_t len = sizeof(err);
          getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
          fail(s, strerror(err ? err : EIO));
        } else if (s->read_stalled) {
          /* A hang-up while the window is full: the data before it waits
           * for the owner. epoll reports hang-ups whatever the interest,
           * level-triggered, so leave the set; C_RESUME adds it back and
           * the hang-up is seen then. */
          epoll_ctl(SS.epfd, EPOLL_CTL_DEL, s->fd, NULL);
        } else {
          on_readable(s);
        }
      }
      break;
    case S_PACCEPT:
    case S_PLISTEN:
      /* Paused sockets are in the set with no events, but epoll reports
       * hang-ups and errors regardless, level-triggered: leave the set
       * until start (watch() adds it back, and the condition is seen then). */
      epoll_ctl(SS.epfd, EPOLL_CTL_DEL, s->fd, NULL);
      break;
    default:
      break;
  }
}

static void on_command(const struct cmd *c) {
  if (c->type == C_WAKE) {
    /* Cleared once the wake-up is read, so at most one is in the pipe. */
    atomic_store(&SS.wake_pending, 0);
    return;
  }
  struct sock *s = socket_slot(c->id);
  if (s == NULL || s->id != c->id) return; /* the socket went meanwhile */
  int state = atomic_load(&s->state);
  switch (c->type) {
    case C_START:
      atomic_store(&s->owner, c->owner);
      if (state == S_PLISTEN) {
        atomic_store(&s->state, S_LISTEN);
        watch(s, EPOLLIN);
      } else if (state == S_PACCEPT) {
        become_connected(s);
      }
      break;
    case C_WATCH: {
      struct epoll_event ev = {.events = (uint32_t)c->arg, .data.u64 = (uint64_t)(uint32_t)s->id};
      epoll_ctl(SS.epfd, EPOLL_CTL_ADD, s->fd, &ev);
      break;
    }
    case C_WRITE:
      if (state == S_CONNECTED && !s->want_write) {
        s->want_write = 1;
        rewatch(s);
      }
      break;
    case C_SHUTDOWN:
      shoal_spin_lock(&s->lock);
      s->shut_write = 1;
      int empty = s->head == NULL;
      shoal_spin_unlock(&s->lock);
      if (empty && s->fd >= 0) shutdown(s->fd, SHUT_WR);
      break;
    case C_RESUME: {
      int window = atomic_load_explicit(&s->window, memory_order_relaxed);
      if (s->read_stalled && (window == 0 || atomic_load_explicit(&s->unread, memory_order_acquire) < window)) {
        s->read_stalled = 0;
        rewatch(s);
      }
      break;
    }
    case C_CLOSE:
    case C_FORCE_CLOSE:
    case C_ABORT: {
      shoal_spin_lock(&s->lock);
      s->closing = 1;
      if (c->type != C_CLOSE) socket_free_wbufs(s);
      int pending = s->head != NULL && state == S_CONNECTED;
      shoal_spin_unlock(&s->lock);
      if (pending) {
        /* Drain first, but not forever: see expire_lingering. */
        s->want_write = 1;
        rewatch(s);
        linger_add(s);
      } else if (c->type == C_FORCE_CLOSE) {
        char why[96];
        snprintf(why, sizeof(why), "write buffer over its limit of %d KB (the peer does not read)", c->arg);
        socket_forward(s, SHOAL_SOCKET_ERROR, 0, NULL, why);
        reset_socket(s);
      } else {
        socket_forward(s, SHOAL_SOCKET_CLOSE, SHOAL_SOCKET_GONE, NULL, NULL);
        if (c->type == C_ABORT) reset_socket(s);
        else close_socket(s);
      }
      break;
    }
    default:
      break;
  }
}

/* Aborts the closes whose write buffer did not drain in time: the peer
 * does not read (a zero receive window), and waiting longer would let it
 * keep the socket and the buffer for as long as it likes. */
static void expire_lingering(uint64_t now) {
  while (SS.linger_head && SS.linger_head->close_deadline <= now) {
    struct sock *s = SS.linger_head;
    shoal_spin_lock(&s->lock);
    size_t unsent = s->wb_size;
    socket_free_wbufs(s);
    shoal_spin_unlock(&s->lock);
    socket_log("socket %d (%s): close timed out after %llu ms with %zu bytes unsent (the peer does not read), "
               "aborted", s->id, s->peer, (unsigned long long)(SS.close_timeout_ns / 1000000u), unsent);
    socket_forward(s, SHOAL_SOCKET_CLOSE, SHOAL_SOCKET_GONE, NULL, NULL);
    reset_socket(s);
  }
}

/* ---- the poller ---- */

static int take_token(void) {
  int expected = 0;
  if (atomic_load_explicit(&SS.token, memory_order_relaxed) != 0) return 0;
  return atomic_compare_exchange_strong_explicit(&SS.token, &expected, 1, memory_order_acquire,
                                                 memory_order_relaxed);
}

static void drop_token(void) { atomic_store_explicit(&SS.token, 0, memory_order_release); }

/* Handles n events from epoll_wait (the caller holds the token). */
static void handle_events(const struct epoll_event *events, int n) {
  for (int i = 0; i < n; i++) {
    if (events[i].data.u64 == 0) {
      /* At most 256 commands per round keeps socket events flowing. */
      struct cmd c;
      for (int k = 0; k < 256; k++) {
        ssize_t r = read(SS.pipe_rd, &c, sizeof(c));
        if (r != (ssize_t)sizeof(c)) break; /* EAGAIN: drained */
        on_command(&c);
      }
    } else {
      on_event((uint32_t)events[i].data.u64, events[i].events);
    }
  }
}

/* One round as the poller: waits up to timeout_ms (0: not at all), handles
 * what is ready. The caller holds the token. Returns the events handled. */
static int poll_once(int timeout_ms) {
  struct epoll_event events[MAX_EVENTS];
  atomic_store_explicit(&SS.last_poll, shoal_clock_ns(), memory_order_relaxed);
  int n = epoll_wait(SS.epfd, events, MAX_EVENTS, timeout_ms);
  if (timeout_ms != 0) atomic_store(&SS.blocked, 0);
  if (n < 0) {
    if (errno != EINTR) shoal_log(NULL, SHOAL_LOG_ERROR, "socket: epoll_wait: %s", strerror(errno));
    return 0;
  }
  handle_events(events, n);
  if (SS.linger_head) expire_lingering(shoal_clock_ns());
  return n;
}

int shoal_socket_poll(uint64_t age_ns) {
  /* Without sockets there is nothing to poll: commands only concern
   * sockets, and a C_WAKE goes only to a poller that waits anyway. */
  if (atomic_load_explicit(&SS.open, memory_order_relaxed) == 0) return 0;
  if (age_ns) {
    uint64_t last = atomic_load_explicit(&SS.last_poll, memory_order_relaxed);
    if (shoal_clock_ns() - last < age_ns) return 0;
  }
  if (!take_token()) return 0;
  int n = poll_once(0);
  drop_token();
  return n;
}

int shoal_socket_wait(int timeout_ms, int (*has_work)(void)) {
  /* No socket open: the worker sleeps on the scheduler's condition, as a
   * node without sockets always did; the timer thread's poll picks up the
   * first socket's commands. */
  if (atomic_load_explicit(&SS.open, memory_order_relaxed) == 0) return 0;
  if (!take_token()) return 0;
  /* Busy-poll a little first (socket_spin_us): an answer on a quiet link
   * usually comes within tens of microseconds, and catching it here saves
   * the wake-up (on a VM, an inter-processor interrupt) of a blocked
   * epoll_wait. */
  uint64_t until = SS.spin_ns ? shoal_clock_ns() + SS.spin_ns : 0;
  while (until && shoal_clock_ns() < until) {
    if (poll_once(0) > 0 || has_work()) {
      drop_token();
      return 1;
    }
  }
  /* Pairs with the fence in shoal_socket_wake: either the waker sees
   * blocked, or we see its work and do not block. */
  atomic_store(&SS.blocked, 1);
  atomic_thread_fence(memory_order_seq_cst);
  if (has_work()) {
    atomic_store(&SS.blocked, 0);
    poll_once(0);
  } else {
    poll_once(timeout_ms);
  }
  drop_token();
  return 1;
}

void shoal_socket_wake(void) {
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&SS.blocked, memory_order_relaxed) && !atomic_exchange(&SS.wake_pending, 1))
    socket_post(C_WAKE, 0, 0, 0);
}

/* ---- life cycle ---- */

int shoal_socket_init(void) {
  int max = (int)shoal_config_int("max_sockets"); /* 16..1M by the schema */
  if (max < 16 || max > (1 << 20)) max = max < 16 ? 16 : 1 << 20;
  SS.max = max;
  SS.slots = calloc((size_t)max, sizeof(struct sock));
  if (SS.slots == NULL) return SHOAL_ENOMEM;
  for (int i = 0; i < max; i++) {
    atomic_init(&SS.slots[i].state, S_FREE);
    shoal_spin_init(&SS.slots[i].lock);
    SS.slots[i].fd = -1;
  }
  atomic_store(&SS.next_id, SOCKET_FIRST_ID);
  socket_write_init();
  /* 0: a close with data still queued is aborted at the next poll. */
  SS.close_timeout_ns = (uint64_t)shoal_config_int("socket_close_timeout_ms") * 1000000u;
  SS.linger_head = SS.linger_tail = NULL;
  SS.spin_ns = (uint64_t)shoal_config_int("socket_spin_us") * 1000u;
  atomic_store(&SS.token, 0);
  atomic_store(&SS.blocked, 0);
  atomic_store(&SS.wake_pending, 0);
  atomic_store(&SS.open, 0);
  atomic_store(&SS.last_poll, 0);
  SS.epfd = epoll_create1(EPOLL_CLOEXEC);
  int fds[2];
  if (SS.epfd < 0 || pipe2(fds, O_CLOEXEC) != 0) return SHOAL_ENOMEM;
  SS.pipe_rd = fds[0];
  SS.pipe_wr = fds[1];
  fcntl(SS.pipe_rd, F_SETFL, fcntl(SS.pipe_rd, F_GETFL) | O_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
  epoll_ctl(SS.epfd, EPOLL_CTL_ADD, SS.pipe_rd, &ev);
  SS.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return 0;
}

void shoal_socket_exit(void) {
  if (SS.slots) {
    for (int i = 0; i < SS.max; i++) {
      struct sock *s = &SS.slots[i];
      if (atomic_load(&s->state) != S_FREE) {
        socket_free_wbufs(s);
        socket_frame_release(s);
        if (s->fd >= 0) close(s->fd);
      }
    }
    free(SS.slots);
    SS.slots = NULL;
  }
  if (SS.epfd >= 0) close(SS.epfd);
  if (SS.pipe_rd >= 0) close(SS.pipe_rd);
  if (SS.pipe_wr >= 0) close(SS.pipe_wr);
  if (SS.spare_fd >= 0) close(SS.spare_fd);
  SS.epfd = SS.pipe_rd = SS.pipe_wr = SS.spare_fd = -1;
}

int socket_max(void) { return SS.max; }

int shoal_socket_info_list(struct shoal_socket_info *out, int max) {
  int n = 0;
  for (int i = 0; SS.slots && i < SS.max && n < max; i++) {
    struct sock *s = &SS.slots[i];
    shoal_spin_lock(&s->lock);
    int state = atomic_load(&s->state);
    if (state != S_FREE && state != S_RESERVED) {
      static const char kinds[] = {'?', '?', 'l', 'L', 'c', 'C', 'A', 'U'};
      out[n].id = s->id;
      out[n].kind = kinds[state];
      out[n].owner = atomic_load(&s->owner);
      out[n].bytes_in = atomic_load(&s->bytes_in);
      out[n].bytes_out = atomic_load(&s->bytes_out);
      out[n].buffered = s->wb_size;
      snprintf(out[n].peer, sizeof(out[n].peer), "%s", s->peer);
      n++;
    }
    shoal_spin_unlock(&s->lock);
  }
  return n;
}

/* ---- the public API (any thread) ---- */

void shoal_socket_message_free(int ptype, void *msg, size_t sz) {
  if (ptype != SHOAL_PTYPE_SOCKET || msg == NULL || sz < sizeof(struct shoal_socket_message)) return;
  struct shoal_socket_message *m = msg;
  if (m->type == SHOAL_SOCKET_DATA || m->type == SHOAL_SOCKET_UDP) {
    shoal_free(m->buffer);
    m->buffer = NULL;
  }
}

int shoal_socket_start(struct shoal_context *ctx, int id) {
  struct sock *s = socket_slot(id);
  if (s == NULL || s->id != id) return SHOAL_ENOSERVICE;
  socket_post(C_START, id, shoal_self(ctx), 0);
  return 0;
}

/* A command for socket id to the poller, if id can name a socket. */
static void post_if_slot(int type, int id) {
  if (socket_slot(id)) socket_post(type, id, 0, 0);
}

void shoal_socket_close(struct shoal_context *ctx, int id) {
  (void)ctx;
  post_if_slot(C_CLOSE, id);
}

void shoal_socket_abort(struct shoal_context *ctx, int id) {
  (void)ctx;
  post_if_slot(C_ABORT, id);
}

void shoal_socket_shutdown(struct shoal_context *ctx, int id) {
  (void)ctx;
  post_if_slot(C_SHUTDOWN, id);
}

int shoal_socket_set_window(int id, int window) {
  if (window < 0) return SHOAL_EINVAL;
  struct sock *s = socket_slot(id);
  if (s == NULL) return SHOAL_ENOSERVICE;
  shoal_spin_lock(&s->lock);
  int mine = s->id == id;
  if (mine) atomic_store_explicit(&s->window, window, memory_order_relaxed);
  shoal_spin_unlock(&s->lock);
  if (mine) socket_post(C_RESUME, id, 0, 0); /* a wider window may free a stalled socket */
  return mine ? 0 : SHOAL_ENOSERVICE;
}

void shoal_socket_consumed(int id, int n) {
  struct sock *s = socket_slot(id);
  if (s == NULL || n <= 0) return;
  /* Under the lock, so a late count for a closed socket never reaches a
   * new one in the same slot. */
  shoal_spin_lock(&s->lock);
  int window = s->id == id ? atomic_load_explicit(&s->window, memory_order_relaxed) : 0;
  int before = window ? atomic_fetch_sub_explicit(&s->unread, n, memory_order_acq_rel) : 0;
  shoal_spin_unlock(&s->lock);
  /* Only the count that leaves a full window wakes the poller: the
   * poller stalls the socket exactly when its count fills it. */
  if (window && before >= window && before - n < window) socket_post(C_RESUME, id, 0, 0);
}
