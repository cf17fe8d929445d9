/*
 * test_socket_frame - the framed socket's cipher hook (core/socket_frame.c,
 * socket_frame.h): frames built clear and sealed, the header bounds with the
 * cipher's overhead, the clear frame written in the same step as the switch,
 * the refusals (each releasing the cipher's state, which the socket owns from
 * the call on), the release at close, and, with real threads on a real
 * socket, that frames written at once by several threads are sealed in the
 * order they reach the peer.
 *
 * The socket server runs here without the runtime: a slot is reserved and
 * given one end of a socketpair; this thread plays the poller
 * (shoal_socket_poll) so that queued writes drain. The cipher is a stand-in
 * with a visible counter: "sealing" writes the counter (8 bytes,
 * big-endian) then the body xor 0x5a.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "handle.h"
#include "shoal.h"
#include "socket.h"
#include "socket_frame.h"
#include "socket_int.h"

struct counter {
  uint64_t next;       /* the next sequence number */
  atomic_int *freed;   /* incremented by release */
  int fail_at;         /* seal fails (SHOAL_EEXHAUSTED) at this number; -1: never */
};

static int fake_seal(void *ud, const void *plain, size_t n, unsigned char *out) {
  struct counter *c = ud;
  if (c->fail_at >= 0 && c->next == (uint64_t)c->fail_at) return SHOAL_EEXHAUSTED;
  uint64_t v = c->next++;
  for (int i = 7; i >= 0; i--, v >>= 8) out[i] = (unsigned char)v;
  for (size_t i = 0; i < n; i++) out[8 + i] = ((const unsigned char *)plain)[i] ^ 0x5a;
  return 0;
}

static void fake_release(void *ud) {
  struct counter *c = ud;
  atomic_fetch_add(c->freed, 1);
  free(c);
}

static const struct shoal_frame_cipher fake_ops = {8, 0, fake_seal, fake_release};
static const struct shoal_frame_cipher small_ops = {8, 100, fake_seal, fake_release};

static struct counter *new_counter(atomic_int *freed) {
  struct counter *c = calloc(1, sizeof(*c));
  CHECK(c != NULL);
  c->freed = freed;
  c->fail_at = -1;
  return c;
}

static void test_build(void) {
  unsigned char out[70000];
  CHECK(shoal_frame_size(2, NULL, 5) == 7);
  CHECK(shoal_frame_size(2, &fake_ops, 5) == 15);
  CHECK(shoal_frame_size(4, &fake_ops, 5) == 17);
  CHECK(shoal_frame_size(2, NULL, 65535) == 65537);
  CHECK(shoal_frame_size(2, &fake_ops, 65527) == 65537);
  CHECK(shoal_frame_size(2, &fake_ops, 65528) == 0); /* the overhead counts against the header */
  CHECK(shoal_frame_build(2, &fake_ops, NULL, "x", 65528, out) == SHOAL_EINVAL);
  CHECK(shoal_frame_size(4, &small_ops, 100) == 112);
  CHECK(shoal_frame_size(4, &small_ops, 101) == 0); /* over the cipher's own max */
  CHECK(shoal_frame_build(2, NULL, NULL, "abc", 3, out) == 5);
  CHECK(memcmp(out, "\x00\x03" "abc", 5) == 0);
  CHECK(shoal_frame_build(2, NULL, NULL, NULL, 0, out) == 2 && out[0] == 0 && out[1] == 0);
  atomic_int freed = 0;
  struct counter *c = new_counter(&freed);
  c->next = 0x0102030405060708ull;
  CHECK(shoal_frame_build(4, &fake_ops, c, "ab", 2, out) == 14);
  CHECK(memcmp(out, "\x00\x00\x00\x0a\x01\x02\x03\x04\x05\x06\x07\x08", 12) == 0);
  CHECK(out[12] == ('a' ^ 0x5a) && out[13] == ('b' ^ 0x5a));
  c->fail_at = (int)(c->next & 0x7fffffff);
  c->next = (uint64_t)c->fail_at;
  CHECK(shoal_frame_build(2, &fake_ops, c, "ab", 2, out) == SHOAL_EEXHAUSTED);
  fake_release(c);
  CHECK(freed == 1);
  /* The WebSocket mode: binary frames (FIN, opcode 2, unmasked), the
   * shortest length form, within what the base header could announce. */
  static const unsigned char src[65536];
  int ws2 = 2 | SHOAL_SOCKET_FRAME_WS, ws4 = 4 | SHOAL_SOCKET_FRAME_WS;
  CHECK(shoal_frame_build(ws2, NULL, NULL, "abc", 3, out) == 5 && memcmp(out, "\x82\x03" "abc", 5) == 0);
  CHECK(shoal_frame_build(ws2, NULL, NULL, NULL, 0, out) == 2 && out[0] == 0x82 && out[1] == 0);
  CHECK(shoal_frame_size(ws2, NULL, 125) == 127);
  CHECK(shoal_frame_build(ws2, NULL, NULL, src, 126, out) == 130 && out[1] == 126 && out[2] == 0 && out[3] == 126);
  CHECK(shoal_frame_size(ws2, NULL, 65535) == 65539);
  CHECK(shoal_frame_size(ws2, NULL, 65536) == 0); /* a 2-byte gate's limit */
  CHECK(shoal_frame_size(ws4, NULL, 65536) == 65546);
  CHECK(shoal_frame_build(ws4, NULL, NULL, src, 65536, out) == 65546);
  CHECK(memcmp(out, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10) == 0);
  CHECK(shoal_frame_size(ws2, &fake_ops, 5) == 15); /* a sealed body is one binary message */
}

/* A slot of the socket server over one end of a socketpair, connected and
 * framed (header 2); the other end goes to *peer (blocking). */
static int open_pair(int *peer) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  struct sock *s = socket_reserve();
  CHECK(s != NULL);
  s->fd = sv[0];
  snprintf(s->peer, sizeof(s->peer), "socketpair");
  atomic_store(&s->owner, 0u);
  atomic_store(&s->state, S_CONNECTED);
  *peer = sv[1];
  CHECK(shoal_socket_set_frame(s->id, 2) == 0);
  return s->id;
}

static void read_exact(int fd, unsigned char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    CHECK(r > 0);
    got += (size_t)r;
  }
}

/* One frame from fd: returns its body length (into body). */
static size_t read_frame(int fd, unsigned char *body) {
  unsigned char h[2];
  read_exact(fd, h, 2);
  size_t n = (size_t)h[0] << 8 | h[1];
  read_exact(fd, body, n);
  return n;
}

static void test_refusals_release_the_cipher(void) {
  atomic_int freed = 0;
  int peer;
  int id = open_pair(&peer);
  /* A socket that is not framed, or gone: ENOSERVICE, released. */
  struct sock *s = socket_slot(id);
  s->frame_header = 0;
  CHECK(shoal_socket_set_cipher(id, &fake_ops, new_counter(&freed), NULL, 0) == SHOAL_ENOSERVICE);
  CHECK(freed == 1);
  CHECK(shoal_socket_set_cipher(id + 1, &fake_ops, new_counter(&freed), NULL, 0) == SHOAL_ENOSERVICE);
  CHECK(freed == 2);
  CHECK(shoal_socket_set_frame(id, 2) == 0);
  /* A clear frame over the header: EINVAL, released, nothing written. */
  static char big[70000];
  CHECK(shoal_socket_set_cipher(id, &fake_ops, new_counter(&freed), big, 65536) == SHOAL_EINVAL);
  CHECK(freed == 3);
  /* Installed, then a second one: EINVAL, released; the first stays. */
  CHECK(shoal_socket_set_cipher(id, &fake_ops, new_counter(&freed), "ok", 2) == 0);
  CHECK(shoal_socket_set_cipher(id, &fake_ops, new_counter(&freed), NULL, 0) == SHOAL_EINVAL);
  CHECK(freed == 4);
  unsigned char body[80];
  CHECK(read_frame(peer, body) == 2 && memcmp(body, "ok", 2) == 0);
  CHECK(shoal_socket_send_frame(NULL, id, "hi", 2) == 0);
  CHECK(read_frame(peer, body) == 10 && memcmp(body, "\0\0\0\0\0\0\0\0", 8) == 0);
  CHECK(body[8] == ('h' ^ 0x5a) && body[9] == ('i' ^ 0x5a));
  /* The sealed body must fit the header too. */
  CHECK(shoal_socket_send_frame(NULL, id, big, 65528) == SHOAL_EINVAL);
  CHECK(shoal_socket_send_frame(NULL, id, big, 0) == 0);
  CHECK(read_frame(peer, body) == 8 && body[7] == 1);
  /* A failing seal writes nothing and returns the cipher's code. */
  ((struct counter *)s->cipher_ud)->fail_at = 2;
  CHECK(shoal_socket_send_frame(NULL, id, "x", 1) == SHOAL_EEXHAUSTED);
  /* Closed: the poller releases the cipher with the slot. */
  shoal_socket_close(NULL, id);
  for (int i = 0; i < 1000 && freed < 5; i++) {
    shoal_socket_poll(0);
    usleep(1000);
  }
  CHECK(freed == 5);
  CHECK(shoal_socket_send_frame(NULL, id, "x", 1) == SHOAL_ENOSERVICE);
  close(peer);
}

#define WRITERS 4
#define FRAMES 3000

struct writer {
  int id;      /* socket */
  int index;   /* writer number */
  atomic_int *go;
};

static void *write_frames(void *arg) {
  struct writer *w = arg;
  while (!atomic_load(w->go)) {
  }
  for (int k = 1; k <= FRAMES; k++) {
    char body[32];
    int n = snprintf(body, sizeof(body), "w%d:%d", w->index, k);
    CHECK(shoal_socket_send_frame(NULL, w->id, body, (size_t)n) == 0);
  }
  return NULL;
}

struct reader {
  int fd;
  int ok;        /* every check passed */
  atomic_int done;
};

/* The peer: the clear frames, then WRITERS * FRAMES sealed ones whose
 * counters go 0, 1, 2... in arrival order, each writer's in its order. */
static void *read_frames(void *arg) {
  struct reader *r = arg;
  unsigned char body[64];
  int last[WRITERS] = {0};
  r->ok = read_frame(r->fd, body) == 5 && memcmp(body, "clear", 5) == 0;
  r->ok = r->ok && read_frame(r->fd, body) == 3 && memcmp(body, "ack", 3) == 0;
  for (uint64_t seq = 0; r->ok && seq < WRITERS * FRAMES; seq++) {
    size_t n = read_frame(r->fd, body);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | body[i];
    char text[40];
    for (size_t i = 8; i < n; i++) text[i - 8] = (char)(body[i] ^ 0x5a);
    text[n - 8] = '\0';
    int w = -1, k = -1;
    if (n < 8 || v != seq || sscanf(text, "w%d:%d", &w, &k) != 2 || w < 0 || w >= WRITERS || k != last[w] + 1) {
      fprintf(stderr, "frame %llu: counter %llu, text '%s'\n", (unsigned long long)seq, (unsigned long long)v, text);
      r->ok = 0;
      break;
    }
    last[w] = k;
  }
  atomic_store(&r->done, 1);
  return NULL;
}

static void test_threads_seal_in_socket_order(void) {
  atomic_int freed = 0, go = 0;
  int peer;
  int id = open_pair(&peer);
  /* Small kernel buffers: writers often find the socket busy and queue,
   * so the poller's flush is in the game too. */
  int small = 4096;
  setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  CHECK(shoal_socket_send_frame(NULL, id, "clear", 5) == 0);
  CHECK(shoal_socket_set_cipher(id, &fake_ops, new_counter(&freed), "ack", 3) == 0);
  struct reader r = {.fd = peer};
  atomic_init(&r.done, 0);
  pthread_t rt, wt[WRITERS];
  struct writer w[WRITERS];
  CHECK(pthread_create(&rt, NULL, read_frames, &r) == 0);
  for (int i = 0; i < WRITERS; i++) {
    w[i] = (struct writer){id, i, &go};
    CHECK(pthread_create(&wt[i], NULL, write_frames, &w[i]) == 0);
  }
  atomic_store(&go, 1);
  /* Play the poller until the reader is done (bounded: 60 s). */
  for (int i = 0; i < 60000 && !atomic_load(&r.done); i++) {
    if (shoal_socket_poll(0) == 0) usleep(1000);
  }
  CHECK(atomic_load(&r.done));
  for (int i = 0; i < WRITERS; i++) pthread_join(wt[i], NULL);
  pthread_join(rt, NULL);
  CHECK(r.ok);
  shoal_socket_close(NULL, id);
  for (int i = 0; i < 1000 && freed < 1; i++) {
    shoal_socket_poll(0);
    usleep(1000);
  }
  CHECK(freed == 1);
  close(peer);
}

int main(void) {
  shoal_handle_init(1);
  CHECK(shoal_socket_init() == 0);
  test_build();
  test_refusals_release_the_cipher();
  test_threads_seal_in_socket_order();
  shoal_socket_exit();
  printf("test_socket_frame: ok\n");
  return 0;
}
