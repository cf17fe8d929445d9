/*
 * bot_net - the connection plumbing of bench/bot (see bot.h): one epoll
 * loop, non-blocking sockets, 2-byte-length frames, sealed when the
 * connection is.
 */
#include "bot.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

uint64_t bot_net_ev_data(const struct bot *b) { return (uint64_t)b->gen << 32 | b->id; }

void bot_net_close(struct bot *b) {
  if (b->fd >= 0) close(b->fd); /* epoll forgets it */
  b->fd = -1;
  b->gen++;
  b->want_out = 0;
  free(b->in);
  b->in = NULL;
  b->in_len = b->in_cap = 0;
  b->out_len = 0;
}

static void set_interest(int epfd, struct bot *b, int want_out) {
  if (b->want_out == want_out) return;
  struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.u64 = bot_net_ev_data(b)};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, b->fd, &ev) == 0) b->want_out = want_out;
}

int bot_net_flush(int epfd, struct bot *b) {
  while (b->out_len > 0) {
    ssize_t n = write(b->fd, b->out, b->out_len);
    if (n > 0) {
      memmove(b->out, b->out + n, b->out_len - (size_t)n);
      b->out_len -= (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_interest(epfd, b, 1);
      return 0;
    } else {
      return -1;
    }
  }
  set_interest(epfd, b, 0);
  return 0;
}

int bot_net_queue(struct bot_aead *a, struct bot *b, const unsigned char *msg, int len) {
  if (len < 0) return -1;
  unsigned char *p = b->out + b->out_len;
  size_t room = BOT_OUT_CAP - b->out_len;
  if (room < 2) return -1;
  int n = len;
  if (b->sealed) {
    n = bot_seal(a, b->kout, b->seq_out, msg, (size_t)len, p + 2, room - 2);
    if (n < 0) return -1;
    b->seq_out++;
  } else {
    if ((size_t)len > room - 2) return -1;
    memcpy(p + 2, msg, (size_t)len);
  }
  p[0] = (unsigned char)(n >> 8);
  p[1] = (unsigned char)n;
  b->out_len += (size_t)n + 2;
  return 0;
}

int bot_net_connect(int epfd, struct bot *b, const struct sockaddr_in *addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = bot_net_ev_data(b)};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    close(fd);
    return -1;
  }
  b->fd = fd;
  b->want_out = 1;
  b->sealed = 0;
  b->seq_out = b->seq_in = 0;
  b->in_cap = BOT_IN_START;
  b->in = malloc(b->in_cap);
  return b->in ? 0 : -1; /* without a buffer the caller closes it */
}

int bot_net_read(struct bot *b, void (*on_frame)(struct bot *b, const unsigned char *body, size_t len),
                 const char **why) {
  uint32_t gen = b->gen;
  for (;;) {
    if (b->in_len == b->in_cap) { /* a frame larger than the buffer: grow to fit it */
      size_t need = 2 + ((size_t)b->in[0] << 8 | b->in[1]);
      unsigned char *p = need > b->in_cap && need <= BOT_IN_MAX ? realloc(b->in, need) : NULL;
      if (!p) {
        *why = "input buffer overflow";
        return -1;
      }
      b->in = p;
      b->in_cap = need;
    }
    ssize_t n = read(b->fd, b->in + b->in_len, b->in_cap - b->in_len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n <= 0) {
      *why = n == 0 ? "the server closed the connection" : "connection reset";
      return -1;
    }
    b->in_len += (size_t)n;
    size_t off = 0;
    while (b->in_len - off >= 2) {
      size_t flen = (size_t)b->in[off] << 8 | b->in[off + 1];
      if (b->in_len - off < 2 + flen) break;
      on_frame(b, b->in + off + 2, flen);
      if (b->gen != gen) return 0; /* the frame ended this connection */
      off += 2 + flen;
    }
    memmove(b->in, b->in + off, b->in_len - off);
    b->in_len -= off;
  }
}
