/*
 * socket_write.c - the write side of the socket server: shoal_socket_send,
 * the per-socket write buffer and its limits (see socket.c for the poller
 * that drains it on EPOLLOUT).
 *
 * A worker that sends to a socket with an empty write buffer writes to the
 * kernel itself, under the socket's spinlock, so a reply does not wait for
 * the poller. What the kernel does not take goes to the write buffer. The
 * poller takes the same lock to flush and to close, so no sender ever
 * writes to a closed (and maybe reused) fd.
 *
 * Limits: a write buffer past `socket_warn_kb` (default 1024) sends the
 * owner a WARNING (and again at each doubling). Past the socket's hard
 * limit - `socket_limit_kb` (default 16384), or what its owner set with
 * shoal_socket_set_limit (the gate: `gate_write_limit_kb`) - the buffer is
 * dropped at once and the socket is aborted: a peer that does not read
 * cannot make the node hold more than that for it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "env.h"
#include "shoal.h"
#include "socket_int.h"
#include "spinlock.h"

static struct {
  size_t warn_bytes;          /* first WARNING mark */
  size_t limit_bytes;         /* hard limit of a write buffer, unless the owner set one */
  struct shoal_log_limit log_limit; /* socket_log lines: SOCKET_LOG_BURST a second */
} W;

void socket_write_init(void) {
  W.warn_bytes = (size_t)shoal_config_int("socket_warn_kb") * 1024u;
  /* 16 MiB by default: what one peer that stops reading may cost. Harbor
   * links are bounded lower, by harbor_queue_kb (counting their socket's
   * buffer; the config refuses one over socket_limit_kb), so they never
   * reach it; gate clients have their own cap. */
  W.limit_bytes = (size_t)shoal_config_int("socket_limit_kb") * 1024u;
  memset(&W.log_limit, 0, sizeof(W.log_limit));
}

void socket_write_reset(struct sock *s) {
  s->head = s->tail = NULL;
  s->wb_size = 0;
  s->warn_mark = W.warn_bytes;
  s->limit = W.limit_bytes;
  s->own_limit = 0;
}

void socket_log(const char *fmt, ...) {
  if (!shoal_log_enabled(SHOAL_LOG_WARN)) return;
  uint32_t dropped;
  if (!shoal_log_limit_pass(&W.log_limit, SOCKET_LOG_BURST, &dropped)) return;
  char text[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  if (dropped > 0)
    shoal_log(NULL, SHOAL_LOG_WARN, "%s (and %u such lines left out)", text, dropped);
  else
    shoal_log(NULL, SHOAL_LOG_WARN, "%s", text);
}

void socket_free_wbufs(struct sock *s) {
  struct wbuf *w = s->head;
  while (w) {
    struct wbuf *next = w->next;
    shoal_free(w->data);
    shoal_free(w);
    w = next;
  }
  s->head = s->tail = NULL;
  s->wb_size = 0;
}

int socket_flush(struct sock *s) {
  while (s->head) {
    struct wbuf *w = s->head;
    ssize_t n = write(s->fd, w->data + w->off, w->sz - w->off);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -1;
    }
    atomic_fetch_add_explicit(&s->bytes_out, (uint64_t)n, memory_order_relaxed);
    w->off += (size_t)n;
    s->wb_size -= (size_t)n;
    if (w->off < w->sz) return 0;
    s->head = w->next;
    if (s->head == NULL) s->tail = NULL;
    shoal_free(w->data);
    shoal_free(w);
  }
  return 0;
}

int shoal_socket_set_limit(int id, size_t limit) {
  struct sock *s = socket_slot(id);
  if (s == NULL) return SHOAL_ENOSERVICE;
  shoal_spin_lock(&s->lock);
  int mine = s->id == id;
  if (mine) {
    /* The node's limit stays the ceiling: an owner may only lower it. */
    s->own_limit = limit > 0 && limit < W.limit_bytes;
    s->limit = s->own_limit ? limit : W.limit_bytes;
  }
  shoal_spin_unlock(&s->lock);
  return mine ? 0 : SHOAL_ENOSERVICE;
}

int shoal_socket_send(struct shoal_context *ctx, int id, void *data, size_t sz) {
  (void)ctx;
  struct sock *s = socket_slot(id);
  if (s == NULL) {
    shoal_free(data);
    return SHOAL_ENOSERVICE;
  }
  shoal_spin_lock(&s->lock);
  if (s->id != id) {
    shoal_spin_unlock(&s->lock);
    shoal_free(data);
    return SHOAL_ENOSERVICE;
  }
  return socket_send_locked(s, data, sz, NULL, NULL);
}

int socket_send_locked(struct sock *s, void *data, size_t sz, const struct shoal_frame_cipher *ops, void *ud) {
  int id = s->id;
  int state = atomic_load(&s->state);
  if ((state != S_CONNECTED && state != S_PACCEPT && state != S_CONNECTING) || s->closing || s->shut_write) {
    shoal_spin_unlock(&s->lock);
    shoal_free(data);
    return SHOAL_ENOSERVICE;
  }
  size_t off = 0;
  if (s->head == NULL && state == S_CONNECTED) {
    /* Nothing queued: write now, from this thread. */
    ssize_t n;
    do {
      n = write(s->fd, data, sz);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
      off = (size_t)n;
      atomic_fetch_add_explicit(&s->bytes_out, (uint64_t)n, memory_order_relaxed);
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      shoal_spin_unlock(&s->lock);
      shoal_free(data);
      return SHOAL_ENOSERVICE; /* the reader will see the error and report it */
    }
    if (off == sz) {
      if (ops) socket_frame_install(s, ops, ud);
      shoal_spin_unlock(&s->lock);
      shoal_free(data);
      return 0;
    }
  }
  size_t buffered = s->wb_size + (sz - off);
  if (buffered > s->limit) {
    /* Over the hard limit: drop the buffer now (the memory comes back at
     * once) and refuse every later send; the poller aborts the socket. */
    size_t limit = s->limit;
    int own = s->own_limit;
    s->closing = 1;
    socket_free_wbufs(s);
    shoal_spin_unlock(&s->lock);
    shoal_free(data);
    if (!own)
      socket_log("socket %d (%s): write buffer of %zu KB over the limit of %zu KB (the peer does not read), "
                 "aborting it", id, s->peer, buffered / 1024, limit / 1024);
    socket_post(C_FORCE_CLOSE, id, 0, (int)(limit / 1024));
    return SHOAL_EFULL;
  }
  struct wbuf *w = shoal_malloc(sizeof(*w));
  w->next = NULL;
  w->data = data;
  w->off = off;
  w->sz = sz;
  int first = s->head == NULL;
  if (s->tail) s->tail->next = w;
  else s->head = w;
  s->tail = w;
  s->wb_size = buffered;
  int warn = 0;
  if (buffered > s->warn_mark) {
    warn = 1;
    s->warn_mark *= 2;
  }
  if (ops) socket_frame_install(s, ops, ud);
  shoal_spin_unlock(&s->lock);
  if (warn) {
    socket_log("socket %d (%s): write buffer at %zu KB (the peer is not reading)", id, s->peer, buffered / 1024);
    socket_forward(s, SHOAL_SOCKET_WARNING, (int)(buffered / 1024), NULL, NULL);
  }
  if (first && state == S_CONNECTED) socket_post(C_WRITE, id, 0, 0);
  return 0;
}

size_t shoal_socket_buffered(int id) {
  struct sock *s = socket_slot(id);
  if (s == NULL) return 0;
  shoal_spin_lock(&s->lock);
  size_t n = s->id == id ? s->wb_size : 0;
  shoal_spin_unlock(&s->lock);
  return n;
}

void shoal_socket_nodelay(struct shoal_context *ctx, int id) {
  (void)ctx;
  struct sock *s = socket_slot(id);
  if (s == NULL) return;
  shoal_spin_lock(&s->lock);
  if (s->id == id && s->fd >= 0) {
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  shoal_spin_unlock(&s->lock);
}
