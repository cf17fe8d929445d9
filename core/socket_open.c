/*
 * socket_open.c - creating sockets: listen, connect and UDP, with address
 * resolution. Each new socket takes a slot (socket_reserve) and is handed
 * to the poller with a C_WATCH command; see socket.c for the rest.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "shoal.h"
#include "socket.h"
#include "socket_int.h"

/* Resolves host:port; returns 0 or an EAI error. */
static int resolve(const char *host, int port, int socktype, int passive, struct addrinfo **res) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  char ports[16];
  snprintf(ports, sizeof(ports), "%d", port);
  return getaddrinfo(host && host[0] ? host : NULL, ports, &hints, res);
}

/* Gives fd a slot owned by ctx in `state` and has the poller watch
 * `events`; returns the socket id, or SHOAL_EFULL (fd closed) when every
 * slot is in use. */
static int adopt(struct shoal_context *ctx, int fd, const char *peer, int state, int events) {
  struct sock *s = socket_reserve();
  if (s == NULL) {
    close(fd);
    shoal_log(ctx, SHOAL_LOG_ERROR, "socket: limit of %d open sockets reached", socket_max());
    return SHOAL_EFULL;
  }
  s->fd = fd;
  snprintf(s->peer, sizeof(s->peer), "%s", peer);
  atomic_store(&s->owner, shoal_self(ctx));
  atomic_store(&s->state, state);
  int id = s->id; /* read before posting: the poller may close it at once */
  socket_post(C_WATCH, id, 0, events);
  return id;
}

/* Creates a bound socket (TCP listening or UDP) on host:port and takes a
 * slot for it in `state`, owned by ctx, with `events` to watch. Returns
 * the id or a negative SHOAL_E* (the reason is logged). */
static int open_bound(struct shoal_context *ctx, const char *what, const char *host, int port, int type,
                      int backlog, int state, int events) {
  if (port < 0 || port > 65535) return SHOAL_EINVAL;
  const char *h = host && host[0] ? host : "0.0.0.0";
  struct addrinfo *res = NULL;
  int e = resolve(h, port, type, 1, &res);
  if (e != 0) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "socket: %s %s:%d: %s", what, h, port, gai_strerror(e));
    return SHOAL_EINVAL;
  }
  int fd = socket(res->ai_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0 && type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 ||
      (type == SOCK_STREAM && listen(fd, backlog > 0 ? backlog : 1024) != 0)) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "socket: %s %s:%d: %s", what, h, port, strerror(errno));
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    return SHOAL_EINVAL;
  }
  struct sockaddr_storage sa;
  socklen_t len = sizeof(sa);
  getsockname(fd, (struct sockaddr *)&sa, &len);
  freeaddrinfo(res);
  char peer[64];
  socket_addr_text((struct sockaddr *)&sa, peer, sizeof(peer));
  return adopt(ctx, fd, peer, state, events);
}

int shoal_socket_listen(struct shoal_context *ctx, const char *host, int port, int backlog) {
  /* in the set with no events until start */
  return open_bound(ctx, "listen", host, port, SOCK_STREAM, backlog, S_PLISTEN, 0);
}

int shoal_socket_connect(struct shoal_context *ctx, const char *host, int port) {
  if (port <= 0 || port > 65535) return SHOAL_EINVAL;
  struct addrinfo *res = NULL;
  int e = resolve(host, port, SOCK_STREAM, 0, &res);
  if (e != 0) {
    shoal_log(ctx, SHOAL_LOG_ERROR, "socket: connect %s:%d: %s", host ? host : "", port, gai_strerror(e));
    return SHOAL_EINVAL;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(res);
    return SHOAL_EFULL;
  }
  int r = connect(fd, res->ai_addr, res->ai_addrlen);
  char peer[64];
  socket_addr_text(res->ai_addr, peer, sizeof(peer));
  freeaddrinfo(res);
  if (r != 0 && errno != EINPROGRESS) {
    shoal_log(ctx, SHOAL_LOG_WARN, "socket: connect %s: %s", peer, strerror(errno));
    close(fd);
    return SHOAL_EINVAL;
  }
  return adopt(ctx, fd, peer, S_CONNECTING, EPOLLOUT); /* writable = connected (or failed) */
}

int shoal_socket_adopt(struct shoal_context *ctx, int fd, const char *peer) {
  if (fd < 0) return SHOAL_EINVAL;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    close(fd);
    return SHOAL_EINVAL;
  }
  return adopt(ctx, fd, peer ? peer : "fd", S_PACCEPT, 0); /* paused until start, like an accepted one */
}

int shoal_socket_udp(struct shoal_context *ctx, const char *host, int port) {
  return open_bound(ctx, "udp", host, port, SOCK_DGRAM, 0, S_UDP, EPOLLIN);
}

int shoal_socket_udp_send(struct shoal_context *ctx, int id, const char *host, int port, void *data, size_t sz) {
  (void)ctx;
  struct sock *s = socket_slot(id);
  struct addrinfo *res = NULL;
  if (s == NULL || resolve(host, port, SOCK_DGRAM, 0, &res) != 0) {
    shoal_free(data);
    return SHOAL_EINVAL;
  }
  int r = SHOAL_ENOSERVICE;
  shoal_spin_lock(&s->lock);
  if (s->id == id && atomic_load(&s->state) == S_UDP) {
    ssize_t n = sendto(s->fd, data, sz, 0, res->ai_addr, res->ai_addrlen);
    if (n == (ssize_t)sz) {
      atomic_fetch_add_explicit(&s->bytes_out, (uint64_t)n, memory_order_relaxed);
      r = 0;
    } else {
      r = SHOAL_EFULL;
    }
  }
  shoal_spin_unlock(&s->lock);
  freeaddrinfo(res);
  shoal_free(data);
  return r;
}
