/*
 * test_gate_wsproto - the gate's WebSocket protocol (cservice/gate_wsproto.c).
 *
 * The handshake: RFC 6455's own example key (section 1.3), every refusal
 * with its status, a head in pieces, the 8 KiB bound. The frames: RFC
 * 6455's section 5.7 examples (masked, fragmented, ping), every split of
 * a stream, fragments growing past max, each hostile frame with its
 * result and close code, close payloads, the server frame headers. A
 * counting allocator checks nothing leaks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gate_wsproto.h"

static long live;

static void *count_alloc(size_t sz) {
  CHECK(sz > 0);
  live++;
  return malloc(sz);
}

static void count_free(void *p) {
  if (p) live--;
  free(p);
}

static const struct shoal_ws_policy any = {"/", ""};

static int handshake(const char *req, const struct shoal_ws_policy *pol, char *reply) {
  size_t used;
  const char *why;
  return shoal_ws_handshake(req, strlen(req), pol, &used, reply, 512, &why);
}

#define REQ(extra) \
  "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" extra "\r\n"
#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define V13 "Sec-WebSocket-Version: 13\r\n"

static void test_handshake(void) {
  char reply[512], acc[29];
  shoal_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, acc);
  CHECK(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0); /* RFC 6455 section 1.3 */
  struct shoal_ws_policy chat = {"/chat", "http://example.com"};
  CHECK(handshake(REQ(KEY V13 "Origin: http://example.com\r\n"), &chat, reply) == 101);
  CHECK(strstr(reply, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL);
  CHECK(strncmp(reply, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0);
  CHECK(handshake(REQ(KEY V13), &chat, reply) == 101); /* no Origin: not a browser */
  CHECK(handshake(REQ(KEY V13 "Origin: http://evil.example\r\n"), &chat, reply) == 403);
  CHECK(handshake(REQ(KEY V13), &any, reply) == 404);
  CHECK(handshake(REQ(KEY "Sec-WebSocket-Version: 8\r\n"), &chat, reply) == 426);
  CHECK(strstr(reply, "\r\nSec-WebSocket-Version: 13\r\n") != NULL);
  CHECK(handshake(REQ(KEY), &chat, reply) == 426);
  CHECK(handshake(REQ(V13), &chat, reply) == 400);
  CHECK(handshake(REQ(KEY KEY V13), &chat, reply) == 400);
  CHECK(handshake(REQ("Sec-WebSocket-Key: c2hvcnQ=\r\n" V13), &chat, reply) == 400);
  CHECK(handshake(REQ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n" V13), &chat, reply) == 400);
  CHECK(handshake("GET /chat HTTP/1.1\r\nHost: x\r\n" KEY V13 "\r\n", &chat, reply) == 400);
  CHECK(handshake("GET /chat HTTP/1.0\r\nHost: x\r\n\r\n", &chat, reply) == 400);
  CHECK(handshake("GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" KEY V13 "\r\n", &chat,
                  reply) == 400); /* no Host */
  CHECK(handshake("GET /chat HTTP/1.1\r\n bad: fold\r\n\r\n", &chat, reply) == 400);
  CHECK(handshake("POST /chat HTTP/1.1\r\nHost: x\r\n\r\n", &chat, reply) == 405);
  CHECK(handshake("GET /chat?a=1 HTTP/1.1\r\nhost: x\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
                  "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n",
                  &chat, reply) == 101);
  /* In pieces: incomplete until the blank line, *used is the head's length. */
  const char *req = REQ(KEY V13) "\x82\x80";
  size_t n = strlen(req), used;
  const char *why;
  for (size_t k = 0; k < n - 2; k++) CHECK(shoal_ws_handshake(req, k, &chat, &used, reply, 512, &why) == 0);
  CHECK(shoal_ws_handshake(req, n, &chat, &used, reply, 512, &why) == 101 && used == n - 2);
  /* The 8 KiB bound. */
  char *big = malloc(SHOAL_WS_HEAD_MAX + 10);
  memset(big, 'a', SHOAL_WS_HEAD_MAX + 10);
  memcpy(big, "GET / HTTP/1.1\r\n", 16);
  CHECK(shoal_ws_handshake(big, SHOAL_WS_HEAD_MAX - 1, &any, &used, reply, 512, &why) == 0);
  CHECK(shoal_ws_handshake(big, SHOAL_WS_HEAD_MAX + 10, &any, &used, reply, 512, &why) == 431);
  CHECK(strncmp(reply, "HTTP/1.1 431 ", 13) == 0);
  free(big);
}

/* Feeds all of data; returns the first non-MORE result, body/size set. */
static int feed_all(struct shoal_ws_parser *p, const void *data, size_t n, void **body, uint32_t *size, size_t *used) {
  return shoal_ws_feed(p, data, n, used, body, size);
}

static void test_rfc_examples(void) {
  struct shoal_ws_parser p;
  shoal_ws_init(&p, 1000, count_alloc, count_free);
  void *body;
  uint32_t size;
  size_t used;
  /* 5.7: a single-frame masked text message "Hello": refused, 1003 */
  static const unsigned char hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  CHECK(feed_all(&p, hello, sizeof(hello), &body, &size, &used) == SHOAL_WS_ETEXT);
  CHECK(shoal_ws_close_code(SHOAL_WS_ETEXT) == 1003);
  CHECK(feed_all(&p, hello, sizeof(hello), &body, &size, &used) == SHOAL_WS_ETEXT); /* sticks */
  shoal_ws_reset(&p);
  /* the same bytes as binary */
  unsigned char bin[sizeof(hello)];
  memcpy(bin, hello, sizeof(hello));
  bin[0] = 0x82;
  CHECK(feed_all(&p, bin, sizeof(bin), &body, &size, &used) == SHOAL_WS_MESSAGE);
  CHECK(used == sizeof(bin) && size == 5 && memcmp(body, "Hello", 5) == 0);
  count_free(body);
  /* 5.7: an unmasked ping "Hello" is refused (client frames must be masked) */
  static const unsigned char uping[] = {0x89, 0x05, 'H', 'e', 'l', 'l', 'o'};
  CHECK(feed_all(&p, uping, sizeof(uping), &body, &size, &used) == SHOAL_WS_EUNMASKED);
  shoal_ws_reset(&p);
  /* fragmented "Hel" + "lo", a masked ping between */
  static const unsigned char frag[] = {0x02, 0x83, 0, 0, 0, 0, 'H', 'e', 'l', 0x89, 0x81, 1, 1, 1, 1, 'p' ^ 1,
                                       0x80, 0x82, 0, 0, 0, 0, 'l', 'o'};
  CHECK(feed_all(&p, frag, sizeof(frag), &body, &size, &used) == SHOAL_WS_PING);
  CHECK(p.ctl_len == 1 && p.ctl[0] == 'p' && used == 16);
  CHECK(shoal_ws_pending(&p) > 0);
  size_t off = used;
  CHECK(feed_all(&p, frag + off, sizeof(frag) - off, &body, &size, &used) == SHOAL_WS_MESSAGE);
  CHECK(size == 5 && memcmp(body, "Hello", 5) == 0 && shoal_ws_pending(&p) == 0);
  count_free(body);
  /* every split of that stream gives the same events */
  for (size_t cut = 0; cut <= sizeof(frag); cut++) {
    struct shoal_ws_parser q;
    shoal_ws_init(&q, 1000, count_alloc, count_free);
    int events = 0;
    const unsigned char *parts[2] = {frag, frag + cut};
    size_t lens[2] = {cut, sizeof(frag) - cut};
    for (int k = 0; k < 2; k++) {
      size_t o = 0;
      while (o < lens[k]) {
        int r = shoal_ws_feed(&q, parts[k] + o, lens[k] - o, &used, &body, &size);
        o += used;
        if (r == SHOAL_WS_PING) events |= 1;
        if (r == SHOAL_WS_MESSAGE) {
          CHECK(size == 5 && memcmp(body, "Hello", 5) == 0);
          count_free(body);
          events |= 2;
        }
        CHECK(r >= 0);
      }
    }
    CHECK(events == 3);
    shoal_ws_reset(&q);
  }
  shoal_ws_reset(&p);
  CHECK(live == 0);
}

static unsigned char *client(unsigned char *o, int b0, const void *payload, uint64_t n, uint64_t announce) {
  *o++ = (unsigned char)b0;
  if (announce < 126) {
    *o++ = (unsigned char)(0x80 | announce);
  } else if (announce <= 0xffff) {
    *o++ = 0x80 | 126;
    *o++ = (unsigned char)(announce >> 8);
    *o++ = (unsigned char)announce;
  } else {
    *o++ = 0x80 | 127;
    for (int i = 7; i >= 0; i--) *o++ = (unsigned char)(announce >> (8 * i));
  }
  memset(o, 0, 4); /* a zero mask: the payload as it is */
  o += 4;
  memcpy(o, payload, n);
  return o + n;
}

static int one(const unsigned char *s, size_t n, uint32_t max) {
  struct shoal_ws_parser p;
  shoal_ws_init(&p, max, count_alloc, count_free);
  void *body;
  uint32_t size;
  size_t used, off = 0;
  int r;
  do {
    r = shoal_ws_feed(&p, s + off, n - off, &used, &body, &size);
    off += used;
    if (r == SHOAL_WS_MESSAGE) count_free(body);
  } while (r >= 0 && off < n);
  shoal_ws_reset(&p);
  return r;
}

static void test_hostile(void) {
  unsigned char s[200000], *e;
  static unsigned char zeros[140000];
  e = client(s, 0x82 | 0x40, "x", 1, 1);
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_ERSV);
  e = client(s, 0x83, "x", 1, 1);
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_EOPCODE);
  e = client(s, 0x8b, "", 0, 0);
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_EOPCODE);
  e = client(s, 0x80, "x", 1, 1);
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_ESEQUENCE);
  e = client(s, 0x02, "x", 1, 1);
  e = client(e, 0x82, "x", 1, 1);
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_ESEQUENCE);
  e = client(s, 0x09, "x", 1, 1);
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_ECONTROL);
  e = client(s, 0x89, zeros, 126, 126);
  CHECK(one(s, (size_t)(e - s), 1000) == SHOAL_WS_ECONTROL);
  e = client(s, 0x82, zeros, 101, 101);
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_ETOOBIG);
  CHECK(shoal_ws_close_code(SHOAL_WS_ETOOBIG) == 1009);
  e = client(s, 0x82, zeros, 100, 100);
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_MESSAGE);
  e = client(s, 0x02, zeros, 60, 60);
  e = client(e, 0x80, zeros, 41, 41);
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_ETOOBIG);
  e = client(s, 0x82, "", 0, (uint64_t)1 << 40);
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_ETOOBIG);
  /* lengths not in the shortest form */
  unsigned char l16[] = {0x82, 0x80 | 126, 0, 125, 0, 0, 0, 0};
  CHECK(one(l16, sizeof(l16), 1000) == SHOAL_WS_ELENGTH);
  unsigned char l64[] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
  CHECK(one(l64, sizeof(l64), 1000) == SHOAL_WS_ELENGTH);
  unsigned char top[] = {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  CHECK(one(top, sizeof(top), 1000) == SHOAL_WS_ELENGTH);
  /* 64-bit length accepted when needed */
  e = client(s, 0x82, zeros, 70000, 70000);
  CHECK(one(s, (size_t)(e - s), 100000) == SHOAL_WS_MESSAGE);
  /* close payloads */
  e = client(s, 0x88, "\x03", 1, 1);
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_ECLOSE);
  e = client(s, 0x88, "\x03\xed", 2, 2); /* 1005 */
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_ECLOSE);
  e = client(s, 0x88, "\x03\xe8" "bye", 5, 5);
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_CLOSE);
  e = client(s, 0x88, "\x0f\xa0", 2, 2); /* 4000: an application's code */
  CHECK(one(s, (size_t)(e - s), 100) == SHOAL_WS_CLOSE);
  /* a fragmented message of many pieces grows and arrives whole */
  e = s;
  for (int i = 0; i < 1000; i++) e = client(e, i == 0 ? 0x02 : i == 999 ? 0x80 : 0x00, "abcdefg", 7, 7);
  struct shoal_ws_parser p;
  shoal_ws_init(&p, 7000, count_alloc, count_free);
  void *body;
  uint32_t size;
  size_t used;
  CHECK(shoal_ws_feed(&p, s, (size_t)(e - s), &used, &body, &size) == SHOAL_WS_MESSAGE);
  CHECK(size == 7000 && used == (size_t)(e - s));
  for (int i = 0; i < 1000; i++) CHECK(memcmp((char *)body + 7 * i, "abcdefg", 7) == 0);
  count_free(body);
  shoal_ws_reset(&p);
  CHECK(live == 0);
  for (int r = SHOAL_WS_ENOMEM; r < 0; r++) CHECK(shoal_ws_close_code(r) >= 1000 && shoal_ws_strerror(r)[0]);
}

static void test_server_frames(void) {
  unsigned char h[SHOAL_WS_HEADER_MAX], c[2 + SHOAL_WS_CONTROL_MAX];
  CHECK(shoal_ws_frame_header(2, 5, h) == 2 && h[0] == 0x82 && h[1] == 5);
  CHECK(shoal_ws_frame_header(0xa, 125, h) == 2 && h[0] == 0x8a && h[1] == 125);
  CHECK(shoal_ws_frame_header(2, 126, h) == 4 && h[1] == 126 && h[2] == 0 && h[3] == 126);
  CHECK(shoal_ws_frame_header(2, 65536, h) == 10 && h[1] == 127 && h[7] == 1 && h[9] == 0);
  size_t n = shoal_ws_close_frame(1009, "oversized message", c);
  CHECK(n == 2 + 2 + 17 && c[0] == 0x88 && c[1] == 19 && c[2] == 0x03 && c[3] == 0xf1);
  CHECK(memcmp(c + 4, "oversized message", 17) == 0);
  char longr[300];
  memset(longr, 'r', sizeof(longr) - 1);
  longr[sizeof(longr) - 1] = '\0';
  CHECK(shoal_ws_close_frame(1000, longr, c) == 2 + 125); /* cut to fit a control frame */
}

int main(void) {
  test_handshake();
  test_rfc_examples();
  test_hostile();
  test_server_frames();
  printf("test_gate_wsproto: ok\n");
  return 0;
}
