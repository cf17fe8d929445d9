/*
 * gate_load - closed-loop load generator for a framed echo server.
 *
 * Frames are a big-endian length header (2 bytes by default, 4 with -H 4)
 * followed by that many bytes. Each of C connections sends one frame, waits
 * for the echo, checks every byte, records the round-trip time and repeats,
 * until it has done W warmup plus N measured round trips or the time limit
 * is reached. All connections live in one epoll loop in one thread, so the
 * tool itself is cheap next to the server under test.
 *
 *   gate_load -h HOST -p PORT -c CONNS -s FRAME_BYTES -n ROUNDTRIPS_PER_CONN
 *             -t MAX_SECONDS [-H 2|4] [-w WARMUP_ROUNDTRIPS]
 *   gate_load -m check-close -p PORT [-x HEX] [-t SECONDS]
 *   gate_load -W ...: the same over WebSocket (the gate's gate_websocket,
 *             docs/gate.md): each connection first upgrades (a blocking
 *             handshake, not measured), then every frame is one masked
 *             binary WebSocket message and every echo one unmasked binary
 *             frame (at most 65535 bytes); the figures are named
 *             gate_echo_ws_*.
 *   gate_load_aead ... (same options): the gate's AEAD mode (docs/gate.md).
 *             Each connection first sends "key C2S S2C" in clear (the
 *             protocol of test/e2e/services/gate_aead_agent.lua, TEST
 *             ONLY), waits for the clear "ok", then seals every frame and
 *             opens every reply (lualib/src/crypto_aead.c); the figures are
 *             named gate_echo_aead_*. Built from this file with
 *             GATE_LOAD_AEAD, linking OpenSSL.
 *
 * stdout carries only the result lines; everything else goes to stderr:
 *   BENCH gate_echo_rtt_per_s_c<C> <measured round trips per second> rt/s
 *   BENCH gate_echo_p50_ms_c<C> / gate_echo_p99_ms_c<C> <latency> ms
 *   RESULT ok=<verified round trips, warmup included> errors=<connections
 *          lost to connect errors, resets, closes, timeouts> mismatches=<bad
 *          replies> closed=<connections the server closed or reset> Exit status 0 means no errors, no
 * mismatches and every connection completed its rounds; 1 otherwise;
 * 2 for bad usage. In check-close mode the tool connects, sends the bytes
 * given by -x and prints RESULT closed=1 if the server closed (EOF or reset)
 * within -t seconds, closed=0 if not; it exits 0 when the check ran and 1
 * when it could not connect.
 *
 * Known limits: IPv4 only; the throughput window runs from the first
 * measured send to the last measured reply, so with warmup some connections
 * may still be warming up when the window opens; latencies are kept in
 * memory (8 bytes per measured round trip).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef GATE_LOAD_AEAD
#include "crypto_aead.h"
#define OVERHEAD SHOAL_CRYPTO_AEAD_OVERHEAD
#define FIGURE "gate_echo_aead_"
#else
#define OVERHEAD 0
#define FIGURE "gate_echo_"
#endif

#define MAX_FRAME4 (64u << 20) /* cap for -H 4 frames, keeps buffers sane */
#define MAX_LOGGED 10          /* detailed diagnostics printed per kind */

enum conn_state { C_CONNECTING, C_READY, C_RUNNING, C_DONE, C_FAILED };

struct conn {
  int fd;               /* socket, -1 once closed */
  uint32_t id;          /* index in the connection array, seeds the pattern */
  enum conn_state state; /* where the connection is in its life */
  uint32_t round;       /* round trips completed, warmup included */
  size_t sent;          /* bytes of the current frame written so far */
  size_t rcvd;          /* bytes of the current reply read so far */
  int want_out;         /* EPOLLOUT currently requested */
  uint64_t t_send;      /* when the current round's first byte went out */
  unsigned char *out;   /* current frame, header included (owned) */
  unsigned char *in;    /* reply being assembled, header included (owned) */
#ifdef GATE_LOAD_AEAD
  unsigned char *plain; /* the current frame's plaintext (owned) */
  struct shoal_crypto_aead *tx, *rx; /* sealer (c2s) and opener (s2c) */
#endif
};

/* Options, set once by main. */
static const char *opt_host = "127.0.0.1";
static int opt_port = 0;
static long opt_conns = 1, opt_size = 64, opt_rounds = 1000, opt_warmup = 0;
static double opt_seconds = 10;
static int opt_hdr = 2;
static int opt_ws;                  /* -W: WebSocket frames after an upgrade */
static const char *figure = FIGURE; /* the figures' prefix */

/* Run state of the echo mode; one loop, so plain statics. */
static int epfd = -1;
static size_t frame_len; /* header + payload (+ the mask with -W) */
static size_t in_len;    /* a reply's: header + payload */
static size_t in_hdr;    /* its header's length */
static size_t out_hdr;   /* a frame's header (with -W: and its mask) */
static unsigned char want_hdr[4]; /* a reply's header with -W */
static const unsigned char ws_mask[4] = {0x5a, 0xa5, 0x3c, 0xc3};
static uint64_t *lat;    /* measured latencies in ns (owned) */
static size_t nlat;
static long n_ok, n_errors, n_mismatch, n_closed, n_live;
static uint64_t t_first_measured, t_last_measured;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Byte OFF of round ROUND on connection ID: a cheap integer hash, so every
 * byte differs between connections and rounds and misrouted or stale data
 * shows up as a mismatch. */
static unsigned char pattern_byte(uint32_t id, uint32_t round, uint32_t off) {
  uint32_t x = id * 0x9E3779B1u ^ round * 0x85EBCA77u ^ off * 0xC2B2AE3Du;
  x ^= x >> 15;
  x *= 0x2C1B3C6Du;
  x ^= x >> 12;
  return (unsigned char)x;
}

static void put_header(unsigned char *p, size_t len) {
  if (opt_ws) { /* FIN + binary, masked, then the mask */
    p[0] = 0x82;
    if (len < 126) {
      p[1] = (unsigned char)(0x80 | len);
      memcpy(p + 2, ws_mask, 4);
    } else {
      p[1] = 0x80 | 126;
      p[2] = (unsigned char)(len >> 8);
      p[3] = (unsigned char)len;
      memcpy(p + 4, ws_mask, 4);
    }
    return;
  }
  if (opt_hdr == 2) {
    p[0] = (unsigned char)(len >> 8);
    p[1] = (unsigned char)len;
  } else {
    p[0] = (unsigned char)(len >> 24);
    p[1] = (unsigned char)(len >> 16);
    p[2] = (unsigned char)(len >> 8);
    p[3] = (unsigned char)len;
  }
}

static size_t get_header(const unsigned char *p) {
  if (opt_hdr == 2) return (size_t)p[0] << 8 | p[1];
  return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

/* Ask epoll for EPOLLOUT only while a write is blocked; level-triggered. */
static void set_interest(struct conn *c, int want_out) {
  if (c->want_out == want_out) return;
  struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.u32 = c->id};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
    perror("gate_load: epoll_ctl");
    exit(1);
  }
  c->want_out = want_out;
}

/* Close the socket and leave the connection in STATE (DONE or FAILED). */
static void finish(struct conn *c, enum conn_state state) {
  if (c->fd >= 0) close(c->fd); /* close also removes it from epoll */
  c->fd = -1;
  c->state = state;
  n_live--;
}

/* Count one error for C (WHAT, with errno ERR if nonzero) and drop it. */
static void fail(struct conn *c, const char *what, int err) {
  if (n_errors++ < MAX_LOGGED)
    fprintf(stderr, "gate_load: conn %u round %u: %s%s%s\n", c->id, c->round, what,
            err ? ": " : "", err ? strerror(err) : "");
  finish(c, C_FAILED);
}

/* Write as much of the current frame as the socket takes. */
static void conn_write(struct conn *c) {
  while (c->sent < frame_len) {
    ssize_t k = send(c->fd, c->out + c->sent, frame_len - c->sent, MSG_NOSIGNAL);
    if (k > 0) {
      c->sent += (size_t)k;
    } else if (k < 0 && errno == EINTR) {
      continue;
    } else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_interest(c, 1);
      return;
    } else {
      if (errno == EPIPE || errno == ECONNRESET) n_closed++;
      fail(c, "send", errno);
      return;
    }
  }
  set_interest(c, 0);
}

/* Fill the next frame and start sending it. */
static void start_round(struct conn *c) {
  put_header(c->out, (size_t)opt_size + OVERHEAD);
#ifdef GATE_LOAD_AEAD
  for (size_t i = 0; i < (size_t)opt_size; i++) c->plain[i] = pattern_byte(c->id, c->round, (uint32_t)i);
  if (shoal_crypto_aead_seal(c->tx, c->plain, (size_t)opt_size, NULL, 0, c->out + opt_hdr) != 0) {
    fail(c, "seal", 0);
    return;
  }
#else
  for (size_t i = 0; i < (size_t)opt_size; i++)
    c->out[out_hdr + i] = pattern_byte(c->id, c->round, (uint32_t)i) ^ (opt_ws ? ws_mask[i & 3] : 0);
#endif
  c->sent = c->rcvd = 0;
  c->state = C_RUNNING;
  c->t_send = now_ns();
  if (c->round == (uint32_t)opt_warmup && (t_first_measured == 0 || c->t_send < t_first_measured))
    t_first_measured = c->t_send;
  conn_write(c);
}

/* The reply is complete: check it, record the time, go on or stop. */
#ifdef GATE_LOAD_AEAD
/* The reply is sealed with the other key: open it, compare plaintexts. */
static void check_reply(struct conn *c) {
  unsigned char *got = c->in + opt_hdr + SHOAL_CRYPTO_AEAD_SEQ;
  const char *bad = NULL;
  if (shoal_crypto_aead_open(c->rx, c->in + opt_hdr, frame_len - (size_t)opt_hdr, NULL, 0, got) != 0)
    bad = "reply does not open";
  else if (memcmp(got, c->plain, (size_t)opt_size) != 0)
    bad = "plaintext mismatch";
  if (bad == NULL) n_ok++;
  else if (n_mismatch++ < MAX_LOGGED) fprintf(stderr, "gate_load: conn %u round %u: %s\n", c->id, c->round, bad);
}
#else
static void check_reply(struct conn *c) {
  if (opt_ws) {
    size_t i = 0;
    while (i < (size_t)opt_size && c->in[in_hdr + i] == pattern_byte(c->id, c->round, (uint32_t)i)) i++;
    if (i == (size_t)opt_size) n_ok++;
    else if (n_mismatch++ < MAX_LOGGED)
      fprintf(stderr, "gate_load: conn %u round %u: mismatch at payload byte %zu\n", c->id, c->round, i);
    return;
  }
  if (memcmp(c->in, c->out, frame_len) != 0) {
    if (n_mismatch++ < MAX_LOGGED) {
      size_t i = 0;
      while (c->in[i] == c->out[i]) i++;
      fprintf(stderr, "gate_load: conn %u round %u: mismatch at payload byte %zu (got 0x%02x, sent 0x%02x)\n",
              c->id, c->round, i - (size_t)opt_hdr, c->in[i], c->out[i]);
    }
  } else {
    n_ok++;
  }
}
#endif

static void complete_round(struct conn *c) {
  uint64_t t = now_ns();
  check_reply(c);
  if (c->round >= (uint32_t)opt_warmup) {
    lat[nlat++] = t - c->t_send;
    t_last_measured = t;
  }
  c->round++;
  if (c->round == (uint32_t)(opt_warmup + opt_rounds))
    finish(c, C_DONE);
  else
    start_round(c);
}

/* Read what has arrived of the reply. A correct echo never sends more
 * than it has received, so we read at most the rest of the current frame
 * and treat bytes ahead of what we sent as a protocol error. */
static void conn_read(struct conn *c) {
  for (;;) {
    if (c->state != C_RUNNING) {
      /* Nothing is owed to us before the run starts: only EOF/errors. */
      char b;
      ssize_t k = recv(c->fd, &b, 1, 0);
      if (k == 0) n_closed++, fail(c, "closed by server before start", 0);
      else if (k > 0) fail(c, "unsolicited data before start", 0);
      else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail(c, "recv", errno);
      return;
    }
    ssize_t k = recv(c->fd, c->in + c->rcvd, in_len - c->rcvd, 0);
    if (k == 0) {
      n_closed++;
      fail(c, "closed by server", 0);
      return;
    }
    if (k < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == ECONNRESET) n_closed++;
      fail(c, "recv", errno);
      return;
    }
    size_t before = c->rcvd;
    c->rcvd += (size_t)k;
    if (c->rcvd > c->sent) {
      fail(c, "reply ahead of request", 0);
      return;
    }
    if (before < in_hdr && c->rcvd >= in_hdr &&
        (opt_ws ? memcmp(c->in, want_hdr, in_hdr) != 0 : get_header(c->in) != (size_t)opt_size + OVERHEAD)) {
      /* The framing is lost, so this connection cannot go on. */
      if (n_mismatch++ < MAX_LOGGED)
        fprintf(stderr, "gate_load: conn %u round %u: reply length %zu, sent %ld\n", c->id, c->round,
                get_header(c->in), opt_size);
      finish(c, C_FAILED);
      return;
    }
    if (c->rcvd == in_len) {
      /* May finish c or start the next round. Either way stop here: the
       * reply to the request just sent is almost never back yet, so one
       * more recv would only return EAGAIN (a syscall per round trip);
       * epoll is level-triggered and reports the reply when it comes. */
      complete_round(c);
      return;
    }
  }
}

#ifdef GATE_LOAD_AEAD
/* Switches c to the AEAD mode before the run (not measured): "key C2S S2C"
 * in clear, then the clear ack "ok", blocking for at most 10 s. Keys are a
 * cheap pattern of the connection id: a benchmark, not a secret. */
static int aead_handshake(struct conn *c) {
  unsigned char key[2][SHOAL_CRYPTO_AEAD_KEY];
  char line[2 + 4 + 4 * SHOAL_CRYPTO_AEAD_KEY + 2];
  int n = snprintf(line + 2, sizeof(line) - 2, "key ");
  for (int d = 0; d < 2; d++) {
    for (int i = 0; i < SHOAL_CRYPTO_AEAD_KEY; i++) {
      key[d][i] = pattern_byte(c->id, 0xffffu + (uint32_t)d, (uint32_t)i);
      n += snprintf(line + 2 + n, sizeof(line) - 2 - (size_t)n, "%02x", key[d][i]);
    }
    if (d == 0) line[2 + n++] = ' ';
  }
  line[0] = (char)(n >> 8);
  line[1] = (char)n;
  c->tx = shoal_crypto_aead_new(key[0], 1);
  c->rx = shoal_crypto_aead_new(key[1], 0);
  unsigned char ack[4];
  size_t got = 0;
  int ok = c->tx && c->rx && send(c->fd, line, (size_t)n + 2, MSG_NOSIGNAL) == n + 2;
  uint64_t deadline = now_ns() + 10000000000ull;
  while (ok && got < sizeof(ack) && now_ns() < deadline) {
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t k = recv(c->fd, ack + got, sizeof(ack) - got, 0);
    if (k > 0) got += (size_t)k;
    else if (k == 0 || (errno != EAGAIN && errno != EINTR)) ok = 0;
  }
  if (!ok || got != sizeof(ack) || memcmp(ack, "\0\2ok", 4) != 0) {
    fail(c, "no clear \"ok\" after the key frame", 0);
    return -1;
  }
  return 0;
}
#endif

/* Upgrades c to a WebSocket before the run (not measured), blocking for
 * at most 10 s: the request, then the head of a 101. */
static int ws_handshake(struct conn *c) {
  static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  char head[1024];
  size_t got = 0;
  int ok = send(c->fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof(req) - 1);
  uint64_t deadline = now_ns() + 10000000000ull;
  /* A byte at a time: nothing after the head may be read here. */
  while (ok && now_ns() < deadline && !(got >= 4 && memcmp(head + got - 4, "\r\n\r\n", 4) == 0)) {
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t k = recv(c->fd, head + got, 1, 0);
    if (k > 0) ok = ++got < sizeof(head);
    else if (k == 0 || (errno != EAGAIN && errno != EINTR)) ok = 0;
  }
  if (!ok || got < 12 || memcmp(head, "HTTP/1.1 101", 12) != 0) {
    fail(c, "no WebSocket upgrade (101)", 0);
    return -1;
  }
  return 0;
}

/* A non-blocking connect finished (or failed). */
static void conn_connected(struct conn *c) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err) {
    fail(c, "connect", err);
    return;
  }
#ifdef GATE_LOAD_AEAD
  if (aead_handshake(c) != 0) return;
#endif
  if (opt_ws && ws_handshake(c) != 0) return;
  c->state = C_READY;
  c->want_out = 1;
  set_interest(c, 0);
}

/* Make room for N sockets; the brief is to go up to the hard limit. */
static int raise_fd_limit(long n) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return -1;
  rlim_t need = (rlim_t)n + 16;
  if (rl.rlim_cur >= need) return 0;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < need) {
    fprintf(stderr, "gate_load: need %lu file descriptors, hard limit is %lu\n", (unsigned long)need,
            (unsigned long)rl.rlim_max);
    return -1;
  }
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile P (1..100) of the sorted latencies, in ms:
 * the smallest value with at least P% of the samples at or below it. */
static double percentile_ms(unsigned p) {
  if (nlat == 0) return 0;
  size_t rank = (nlat * p + 99) / 100; /* ceil(nlat * p / 100), >= 1 */
  return (double)lat[rank - 1] / 1e6;
}

static int make_addr(struct sockaddr_in *sa) {
  memset(sa, 0, sizeof(*sa));
  sa->sin_family = AF_INET;
  sa->sin_port = htons((uint16_t)opt_port);
  if (inet_pton(AF_INET, opt_host, &sa->sin_addr) != 1) {
    fprintf(stderr, "gate_load: bad IPv4 address %s\n", opt_host);
    return -1;
  }
  return 0;
}

static int run_echo(void) {
  struct sockaddr_in sa;
  if (make_addr(&sa) < 0 || raise_fd_limit(opt_conns) < 0) return 1;
  frame_len = (size_t)opt_hdr + (size_t)opt_size + OVERHEAD;
  in_len = frame_len;
  in_hdr = out_hdr = (size_t)opt_hdr;
  if (opt_ws) {
    in_hdr = opt_size < 126 ? 2 : 4;
    out_hdr = in_hdr + 4;
    frame_len = out_hdr + (size_t)opt_size;
    in_len = in_hdr + (size_t)opt_size;
    want_hdr[0] = 0x82;
    want_hdr[1] = opt_size < 126 ? (unsigned char)opt_size : 126;
    want_hdr[2] = (unsigned char)(opt_size >> 8);
    want_hdr[3] = (unsigned char)opt_size;
  }
  struct conn *conns = calloc((size_t)opt_conns, sizeof(*conns));
  lat = malloc(sizeof(*lat) * (size_t)opt_conns * (size_t)opt_rounds);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (!conns || !lat || epfd < 0) {
    fprintf(stderr, "gate_load: out of memory or epoll_create1 failed\n");
    return 1;
  }
  uint64_t deadline = now_ns() + (uint64_t)(opt_seconds * 1e9);
  long connecting = 0;
  for (long i = 0; i < opt_conns; i++) {
    struct conn *c = &conns[i];
    c->id = (uint32_t)i;
    c->out = malloc(frame_len);
    c->in = malloc(frame_len);
#ifdef GATE_LOAD_AEAD
    c->plain = malloc((size_t)opt_size + 1);
#endif
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    n_live++;
    if (!c->out || !c->in || c->fd < 0) {
      fail(c, "socket", errno);
      continue;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
      fail(c, "connect", errno);
      continue;
    }
    /* Connected or in progress: either way EPOLLOUT says it is settled. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = c->id};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
      fail(c, "epoll_ctl", errno);
      continue;
    }
    c->state = C_CONNECTING;
    c->want_out = 1;
    connecting++;
  }

  /* One loop for everything: connects settle first, then all connections
   * start together so the server sees the full load from the beginning. */
  enum { MAXEV = 256 };
  struct epoll_event evs[MAXEV];
  int started = 0;
  while (n_live > 0) {
    if (!started && connecting == 0) {
      started = 1;
      for (long i = 0; i < opt_conns; i++)
        if (conns[i].state == C_READY) {
          if (opt_rounds == 0 && opt_warmup == 0) finish(&conns[i], C_DONE);
          else start_round(&conns[i]);
        }
      continue;
    }
    uint64_t t = now_ns();
    if (t >= deadline) break;
    int ms = (int)((deadline - t) / 1000000u) + 1;
    int n = epoll_wait(epfd, evs, MAXEV, ms > 1000 ? 1000 : ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("gate_load: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      struct conn *c = &conns[evs[i].data.u32];
      uint32_t e = evs[i].events;
      if (c->state == C_CONNECTING) {
        connecting--;
        conn_connected(c);
        continue;
      }
      if (c->state == C_DONE || c->state == C_FAILED) continue;
      if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) conn_read(c);
      if (c->state == C_RUNNING && (e & EPOLLOUT) && c->sent < frame_len) conn_write(c);
    }
  }

  /* Whatever has not finished by now has run out of time. */
  long incomplete = 0;
  for (long i = 0; i < opt_conns; i++) {
    struct conn *c = &conns[i];
    if (c->state != C_DONE && c->state != C_FAILED) fail(c, "timed out", 0);
    if (c->state != C_DONE) incomplete++;
    free(c->out);
    free(c->in);
#ifdef GATE_LOAD_AEAD
    free(c->plain);
    shoal_crypto_aead_free(c->tx);
    shoal_crypto_aead_free(c->rx);
#endif
  }
  free(conns);
  close(epfd);

  double secs = t_last_measured > t_first_measured ? (double)(t_last_measured - t_first_measured) / 1e9 : 0;
  qsort(lat, nlat, sizeof(*lat), cmp_u64);
  printf("BENCH %srtt_per_s_c%ld %.0f rt/s\n", figure, opt_conns, secs > 0 ? (double)nlat / secs : 0.0);
  printf("BENCH %sp50_ms_c%ld %.3f ms\n", figure, opt_conns, percentile_ms(50));
  printf("BENCH %sp99_ms_c%ld %.3f ms\n", figure, opt_conns, percentile_ms(99));
  printf("RESULT ok=%ld errors=%ld mismatches=%ld closed=%ld\n", n_ok, n_errors, n_mismatch, n_closed);
  fprintf(stderr, "gate_load: %zu measured round trips in %.3f s, %ld connections incomplete\n", nlat, secs,
          incomplete);
  free(lat);
  return (n_errors == 0 && n_mismatch == 0 && incomplete == 0) ? 0 : 1;
}

/* Decode the hex string S (whitespace ignored) into a new buffer. */
static unsigned char *parse_hex(const char *s, size_t *len) {
  unsigned char *buf = malloc(strlen(s) / 2 + 1);
  size_t n = 0;
  int half = -1;
  for (; buf && *s; s++) {
    int v;
    if (*s >= '0' && *s <= '9') v = *s - '0';
    else if (*s >= 'a' && *s <= 'f') v = *s - 'a' + 10;
    else if (*s >= 'A' && *s <= 'F') v = *s - 'A' + 10;
    else if (*s == ' ' || *s == ':') continue;
    else break;
    if (half < 0) half = v;
    else buf[n++] = (unsigned char)(half << 4 | v), half = -1;
  }
  if (!buf || *s || half >= 0) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

/* check-close: send DATA and see whether the server hangs up in time. */
static int run_check_close(const char *hex) {
  struct sockaddr_in sa;
  size_t len = 0, sent = 0;
  int closed = 0, connected = 0; /* -1: connect failed */
  unsigned char *data = parse_hex(hex, &len);
  if (!data) {
    fprintf(stderr, "gate_load: -x wants an even number of hex digits\n");
    return 2;
  }
  uint64_t deadline = now_ns() + (uint64_t)(opt_seconds * 1e9);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (make_addr(&sa) < 0) {
    connected = -1;
  } else if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)) {
    perror("gate_load: connect");
    connected = -1;
  }
  while (connected >= 0 && !closed) {
    uint64_t t = now_ns();
    if (t >= deadline) break;
    struct pollfd p = {.fd = fd, .events = POLLIN | (!connected || sent < len ? POLLOUT : 0)};
    int n = poll(&p, 1, (int)((deadline - t) / 1000000u) + 1);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (!connected) {
      int err = 0;
      socklen_t sl = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl);
      if (err) {
        fprintf(stderr, "gate_load: connect: %s\n", strerror(err));
        connected = -1;
        break;
      }
      connected = 1;
    }
    if ((p.revents & POLLOUT) && sent < len) {
      ssize_t k = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
      if (k > 0) sent += (size_t)k;
      else if (k < 0 && (errno == EPIPE || errno == ECONNRESET)) closed = 1;
    }
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
      char buf[4096]; /* replies are drained and ignored */
      ssize_t k = recv(fd, buf, sizeof(buf), 0);
      if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) closed = 1;
    }
  }
  if (fd >= 0) close(fd);
  free(data);
  if (connected <= 0) {
    if (connected == 0) fprintf(stderr, "gate_load: connect timed out\n");
    return 1;
  }
  fprintf(stderr, "gate_load: sent %zu of %zu bytes\n", sent, len);
  printf("RESULT closed=%d\n", closed);
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: gate_load -h HOST -p PORT -c CONNS -s FRAME_BYTES -n ROUNDTRIPS_PER_CONN -t MAX_SECONDS\n"
          "                 [-H 2|4] [-w WARMUP_ROUNDTRIPS] [-W]\n"
          "       gate_load -m check-close -h HOST -p PORT [-x HEX] [-t SECONDS]\n");
  exit(2);
}

static long num_arg(const char *s, long lo, long hi) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) usage();
  return v;
}

int main(int argc, char **argv) {
  const char *mode = "echo", *hex = "";
  int ch;
  signal(SIGPIPE, SIG_IGN);
  while ((ch = getopt(argc, argv, "h:p:c:s:n:t:H:w:m:x:W")) != -1) {
    switch (ch) {
    case 'h': opt_host = optarg; break;
    case 'p': opt_port = (int)num_arg(optarg, 1, 65535); break;
    case 'c': opt_conns = num_arg(optarg, 1, 1000000); break;
    case 's': opt_size = num_arg(optarg, 0, MAX_FRAME4); break;
    case 'n': opt_rounds = num_arg(optarg, 0, 100000000); break;
    case 't': {
      char *end;
      opt_seconds = strtod(optarg, &end);
      if (*end || !(opt_seconds > 0 && opt_seconds < 1e6)) usage();
      break;
    }
    case 'H': opt_hdr = (int)num_arg(optarg, 2, 4); break;
    case 'w': opt_warmup = num_arg(optarg, 0, 100000000); break;
    case 'm': mode = optarg; break;
    case 'x': hex = optarg; break;
    case 'W': opt_ws = 1; figure = "gate_echo_ws_"; break;
    default: usage();
    }
  }
  if (optind != argc || opt_port == 0 || (opt_hdr != 2 && opt_hdr != 4)) usage();
  if (opt_hdr == 2 && opt_size > 65535) {
    fprintf(stderr, "gate_load: -s above 65535 needs -H 4\n");
    return 2;
  }
#ifdef GATE_LOAD_AEAD
  if (opt_ws) {
    fprintf(stderr, "gate_load_aead: no -W (use gate_load -W)\n");
    return 2;
  }
#endif
  if (opt_ws && opt_size > 65535) {
    fprintf(stderr, "gate_load: -W takes -s up to 65535\n");
    return 2;
  }
  if (strcmp(mode, "check-close") == 0) return run_check_close(hex);
  if (strcmp(mode, "echo") != 0) usage();
  if ((double)opt_conns * (double)opt_rounds > 2e8) {
    fprintf(stderr, "gate_load: -c times -n above 200,000,000 latencies\n");
    return 2;
  }
  return run_echo();
}
