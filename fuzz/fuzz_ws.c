/*
 * fuzz_ws - libFuzzer harness for the gate's WebSocket protocol
 * (cservice/gate_wsproto.c). Build and run with fuzz/ws.sh.
 *
 * Input: byte 0 bit 7 picks the part. Clear: the frame parser; bits 0-2
 * pick the largest message (0 to 65535), bytes 1-2 seed the cutting of the
 * stream, the rest is the client's stream. It is fed in pieces of 0 to 300
 * bytes and every event is compared with the events of the whole stream
 * fed at once: same events, same order, same bytes, the error at the same
 * place; every message at most max bytes, nothing leaked (ASan). Set: the
 * handshake on the rest as a request head, whole and then cut one byte
 * short: incomplete before the head's end, the same status at it, a
 * NUL-terminated response that starts with that status, *used within the
 * input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate_wsproto.h"

static long live; /* buffers allocated and not freed */

static void *fz_alloc(size_t sz) {
  live++;
  return malloc(sz);
}

static void fz_free(void *p) {
  if (p) live--;
  free(p);
}

#define REQUIRE(c)     \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

#define MAX_EVENTS 4096

struct event {
  int kind;          /* the result */
  uint32_t size;     /* message or control payload bytes */
  uint32_t hash;     /* FNV-1a of them */
  uint16_t code;     /* a close's code */
};

static uint32_t fnv(const void *p, size_t n) {
  const uint8_t *b = p;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
  return h;
}

/* Feeds s[0..n) in pieces (all at once when seed is 0); returns the events. */
static int run(const uint8_t *s, size_t n, uint32_t max, uint32_t seed, struct event *ev) {
  struct shoal_ws_parser p;
  shoal_ws_init(&p, max, fz_alloc, fz_free);
  int count = 0;
  size_t off = 0;
  while (off < n && count < MAX_EVENTS) {
    size_t piece = n - off;
    if (seed) {
      seed = seed * 1103515245u + 12345u;
      piece = (seed >> 16) % 301;
      if (piece > n - off) piece = n - off;
    }
    size_t poff = 0;
    do {
      size_t used = 0;
      void *body = NULL;
      uint32_t size = 0;
      int r = shoal_ws_feed(&p, s + off + poff, piece - poff, &used, &body, &size);
      REQUIRE(used <= piece - poff);
      poff += used;
      if (r == SHOAL_WS_MORE) {
        REQUIRE(poff == piece);
        break;
      }
      struct event e = {r, 0, 0, 0};
      if (r == SHOAL_WS_MESSAGE) {
        REQUIRE(size <= max);
        REQUIRE((body == NULL) == (size == 0));
        e.size = size;
        e.hash = fnv(body, size);
        fz_free(body);
      } else if (r > 0) {
        REQUIRE(p.ctl_len <= SHOAL_WS_CONTROL_MAX);
        e.size = p.ctl_len;
        e.hash = fnv(p.ctl, p.ctl_len);
        e.code = p.close_code;
      } else {
        REQUIRE(shoal_ws_close_code(r) >= 1000);
        REQUIRE(shoal_ws_strerror(r) != NULL);
        size_t u2;
        void *b2;
        uint32_t s2;
        REQUIRE(shoal_ws_feed(&p, s, n, &u2, &b2, &s2) == r); /* sticks */
        ev[count++] = e;
        shoal_ws_reset(&p);
        REQUIRE(shoal_ws_pending(&p) == 0);
        return count;
      }
      ev[count++] = e;
    } while (poff < piece && count < MAX_EVENTS);
    off += piece;
  }
  shoal_ws_reset(&p);
  return count;
}

static void fuzz_frames(const uint8_t *data, size_t size) {
  static const uint32_t maxes[8] = {0, 1, 125, 126, 1000, 4096, 65535, 65535};
  uint32_t max = maxes[data[0] & 7];
  uint32_t seed = size > 2 ? ((uint32_t)data[1] << 8 | data[2]) | 1u : 1u;
  const uint8_t *s = data + 3;
  size_t n = size > 3 ? size - 3 : 0;
  static struct event whole[MAX_EVENTS], cut[MAX_EVENTS];
  long before = live;
  int a = run(s, n, max, 0, whole);
  int b = run(s, n, max, seed, cut);
  REQUIRE(live == before);
  if (a == MAX_EVENTS || b == MAX_EVENTS) return; /* cut short: not comparable */
  REQUIRE(a == b);
  for (int i = 0; i < a; i++) REQUIRE(memcmp(&whole[i], &cut[i], sizeof(whole[i])) == 0);
}

static void fuzz_handshake(const uint8_t *data, size_t size) {
  const char *req = (const char *)data + 1;
  size_t n = size - 1;
  struct shoal_ws_policy policy = {(data[0] & 1) ? "/game" : "/", (data[0] & 2) ? "http://a.example,http://b" : ""};
  char reply[512];
  size_t used = 0;
  const char *why = NULL;
  int whole = shoal_ws_handshake(req, n, &policy, &used, reply, sizeof(reply), &why);
  REQUIRE(whole == 0 || whole == 101 || whole == 400 || whole == 403 || whole == 404 || whole == 405 ||
          whole == 426 || whole == 431);
  REQUIRE(used <= n);
  if (whole == 0) return;
  REQUIRE(why != NULL && memchr(reply, '\0', sizeof(reply)) != NULL);
  char status[16];
  snprintf(status, sizeof(status), "HTTP/1.1 %d ", whole);
  REQUIRE(strncmp(reply, status, strlen(status)) == 0);
  /* Cut before the head's end it is incomplete; at its end the same status. */
  size_t head = used, u = 0;
  REQUIRE(head > 0);
  REQUIRE(shoal_ws_handshake(req, head - 1, &policy, &u, reply, sizeof(reply), &why) == 0);
  REQUIRE(shoal_ws_handshake(req, head, &policy, &u, reply, sizeof(reply), &why) == whole && u == head);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  if (data[0] & 0x80) fuzz_handshake(data, size);
  else fuzz_frames(data, size);
  return 0;
}
