/*
 * test_gate_frame - the gate's incremental frame parser (cservice/gate_frame.c).
 *
 * Single frames, empty frames, many frames in one feed, every split point
 * of a stream (including inside the header), one byte at a time, oversized
 * headers (sticky error, 2 and 4 bytes), truncated streams (pending), reset,
 * header writing, and 2,000 random streams cut at random points checked
 * against the frames that built them. A counting allocator checks that
 * every body is allocated exactly body-sized and none leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gate_frame.h"
#include "shoal.h" /* shoal_frame_header */

/* ---- a counting allocator ---- */

static long live_allocs;     /* allocations not freed yet */
static size_t last_alloc_sz; /* size of the latest allocation */

static void *count_alloc(size_t sz) {
  CHECK(sz > 0); /* empty frames allocate nothing */
  live_allocs++;
  last_alloc_sz = sz;
  return malloc(sz);
}

static void count_free(void *p) {
  if (p) live_allocs--;
  free(p);
}

/* ---- helpers ---- */

/* Appends a frame (header + body) to buf at *len. */
static void put_frame(unsigned char *buf, size_t *len, int header, const unsigned char *body, size_t n) {
  size_t h = shoal_frame_header(header, n, buf + *len);
  CHECK(h == (size_t)header);
  memcpy(buf + *len + h, body, n);
  *len += h + n;
}

struct frames {
  int count;          /* frames collected */
  size_t sizes[4096]; /* their sizes */
  unsigned char *data; /* their bodies back to back */
  size_t used;        /* bytes in data */
};

/* Feeds data[0..n) and collects the complete frames into out; returns the
 * last result (MORE, or an error). */
static int feed_all(struct shoal_gate_frame *f, const unsigned char *data, size_t n, struct frames *out) {
  size_t off = 0;
  for (;;) {
    size_t used;
    void *body;
    uint32_t size;
    int r = shoal_gate_frame_feed(f, data + off, n - off, &used, &body, &size);
    CHECK(used <= n - off);
    off += used;
    if (r != SHOAL_GATE_FRAME_READY) {
      if (r == SHOAL_GATE_FRAME_MORE) CHECK(off == n);
      return r;
    }
    CHECK((size == 0) == (body == NULL));
    CHECK(out->count < 4096);
    out->sizes[out->count++] = size;
    if (size) memcpy(out->data + out->used, body, size);
    out->used += size;
    count_free(body);
    if (off == n) return SHOAL_GATE_FRAME_MORE;
  }
}

static struct shoal_gate_frame parser(int header, uint32_t max) {
  struct shoal_gate_frame f;
  CHECK(shoal_gate_frame_init(&f, header, max, count_alloc, count_free) == 0);
  return f;
}

/* ---- tests ---- */

static void test_init(void) {
  struct shoal_gate_frame f;
  CHECK(shoal_gate_frame_init(&f, 3, 100, count_alloc, count_free) == SHOAL_GATE_FRAME_EINVAL);
  CHECK(shoal_gate_frame_init(&f, 2, 65536, count_alloc, count_free) == SHOAL_GATE_FRAME_EINVAL);
  CHECK(shoal_gate_frame_init(&f, 4, SHOAL_GATE_FRAME_MAX4 + 1, count_alloc, count_free) == SHOAL_GATE_FRAME_EINVAL);
  CHECK(shoal_gate_frame_init(&f, 2, 100, NULL, count_free) == SHOAL_GATE_FRAME_EINVAL);
  CHECK(shoal_gate_frame_init(&f, 2, 65535, count_alloc, count_free) == 0);
  CHECK(shoal_gate_frame_init(&f, 4, SHOAL_GATE_FRAME_MAX4, count_alloc, count_free) == 0);
  CHECK(shoal_gate_frame_pending(&f) == 0);
}

static void test_single_and_empty(void) {
  struct shoal_gate_frame f = parser(2, 1000);
  unsigned char buf[64];
  size_t len = 0;
  put_frame(buf, &len, 2, (const unsigned char *)"hello", 5);
  size_t used;
  void *body;
  uint32_t size;
  CHECK(shoal_gate_frame_feed(&f, buf, len, &used, &body, &size) == SHOAL_GATE_FRAME_READY);
  CHECK(used == 7 && size == 5 && memcmp(body, "hello", 5) == 0);
  CHECK(last_alloc_sz == 5); /* body-sized: the one copy goes straight into the payload */
  count_free(body);
  /* a zero-length frame is a valid empty message */
  unsigned char empty[2] = {0, 0};
  CHECK(shoal_gate_frame_feed(&f, empty, 2, &used, &body, &size) == SHOAL_GATE_FRAME_READY);
  CHECK(used == 2 && size == 0 && body == NULL);
  /* nothing fed: nothing happens */
  CHECK(shoal_gate_frame_feed(&f, empty, 0, &used, &body, &size) == SHOAL_GATE_FRAME_MORE);
  CHECK(used == 0 && shoal_gate_frame_pending(&f) == 0);
  CHECK(live_allocs == 0);
}

static void test_coalesced(void) {
  struct shoal_gate_frame f = parser(2, 65535);
  static unsigned char buf[300000], bodies[300000];
  size_t len = 0, blen = 0;
  for (int i = 0; i < 300; i++) {
    size_t n = (size_t)(i * 37 % 900); /* includes 0-length frames */
    for (size_t k = 0; k < n; k++) bodies[blen + k] = (unsigned char)(i + k);
    put_frame(buf, &len, 2, bodies + blen, n);
    blen += n;
  }
  static unsigned char got[300000];
  struct frames out = {.data = got};
  CHECK(feed_all(&f, buf, len, &out) == SHOAL_GATE_FRAME_MORE);
  CHECK(out.count == 300);
  for (int i = 0; i < 300; i++) CHECK(out.sizes[i] == (size_t)(i * 37 % 900));
  CHECK(out.used == blen && memcmp(got, bodies, blen) == 0);
  CHECK(live_allocs == 0);
}

/* Every split point of a three-frame stream, with a 2- and a 4-byte header. */
static void test_every_split(void) {
  for (int header = 2; header <= 4; header += 2) {
    unsigned char buf[256], bodies[256];
    size_t len = 0;
    memcpy(bodies, "abcdefghijklmnopqrstuvwxyz0123456789", 36);
    put_frame(buf, &len, header, bodies, 10);
    put_frame(buf, &len, header, bodies, 0);
    put_frame(buf, &len, header, bodies + 10, 26);
    for (size_t cut = 0; cut <= len; cut++) {
      for (size_t cut2 = cut; cut2 <= len; cut2++) {
        struct shoal_gate_frame f = parser(header, 100);
        unsigned char got[64];
        struct frames out = {.data = got};
        CHECK(feed_all(&f, buf, cut, &out) == SHOAL_GATE_FRAME_MORE);
        CHECK(feed_all(&f, buf + cut, cut2 - cut, &out) == SHOAL_GATE_FRAME_MORE);
        CHECK(feed_all(&f, buf + cut2, len - cut2, &out) == SHOAL_GATE_FRAME_MORE);
        CHECK(out.count == 3 && out.sizes[0] == 10 && out.sizes[1] == 0 && out.sizes[2] == 26);
        CHECK(memcmp(got, bodies, 36) == 0);
        CHECK(shoal_gate_frame_pending(&f) == 0);
      }
    }
  }
  CHECK(live_allocs == 0);
}

static void test_byte_by_byte(void) {
  struct shoal_gate_frame f = parser(4, 100000);
  static unsigned char buf[70010], body[70000];
  for (size_t i = 0; i < sizeof(body); i++) body[i] = (unsigned char)(i * 7);
  size_t len = 0;
  put_frame(buf, &len, 4, body, sizeof(body));
  static unsigned char got[70000];
  struct frames out = {.data = got};
  for (size_t i = 0; i < len; i++) {
    CHECK(shoal_gate_frame_pending(&f) == i);
    CHECK(feed_all(&f, buf + i, 1, &out) == SHOAL_GATE_FRAME_MORE);
    CHECK(out.count == (i + 1 == len ? 1 : 0));
  }
  CHECK(out.sizes[0] == sizeof(body) && memcmp(got, body, sizeof(body)) == 0);
  CHECK(live_allocs == 0);
}

static void test_oversized(void) {
  /* 2-byte header: max 1000, 1001 announced */
  struct shoal_gate_frame f = parser(2, 1000);
  unsigned char good[8] = {0, 3, 'a', 'b', 'c'};
  unsigned char bad[4] = {0x03, 0xe9, 'x', 'y'};
  size_t used;
  void *body;
  uint32_t size;
  CHECK(shoal_gate_frame_feed(&f, good, 5, &used, &body, &size) == SHOAL_GATE_FRAME_READY);
  count_free(body);
  CHECK(shoal_gate_frame_feed(&f, bad, 1, &used, &body, &size) == SHOAL_GATE_FRAME_MORE);
  CHECK(shoal_gate_frame_feed(&f, bad + 1, 3, &used, &body, &size) == SHOAL_GATE_FRAME_ETOOBIG);
  CHECK(used == 1 && body == NULL && f.size == 1001);
  /* sticky: nothing more comes out of this stream */
  CHECK(shoal_gate_frame_feed(&f, good, 5, &used, &body, &size) == SHOAL_GATE_FRAME_ETOOBIG);
  CHECK(used == 0);
  shoal_gate_frame_reset(&f);
  CHECK(shoal_gate_frame_feed(&f, good, 5, &used, &body, &size) == SHOAL_GATE_FRAME_READY);
  count_free(body);
  /* exactly max is fine */
  struct shoal_gate_frame g = parser(2, 3);
  CHECK(shoal_gate_frame_feed(&g, good, 5, &used, &body, &size) == SHOAL_GATE_FRAME_READY && size == 3);
  count_free(body);
  /* 4-byte header: a huge length never allocates */
  struct shoal_gate_frame h = parser(4, 1 << 20);
  unsigned char huge[4] = {0xff, 0xff, 0xff, 0xff};
  CHECK(shoal_gate_frame_feed(&h, huge, 4, &used, &body, &size) == SHOAL_GATE_FRAME_ETOOBIG);
  CHECK(live_allocs == 0);
  /* max 0: only empty frames */
  struct shoal_gate_frame z = parser(2, 0);
  unsigned char zero[3] = {0, 0, 0};
  CHECK(shoal_gate_frame_feed(&z, zero, 2, &used, &body, &size) == SHOAL_GATE_FRAME_READY && size == 0);
  CHECK(shoal_gate_frame_feed(&z, (unsigned char[]){0, 1}, 2, &used, &body, &size) == SHOAL_GATE_FRAME_ETOOBIG);
}

static void test_truncated_and_reset(void) {
  struct shoal_gate_frame f = parser(2, 1000);
  unsigned char buf[8] = {0, 100, 1, 2, 3};
  size_t used;
  void *body;
  uint32_t size;
  CHECK(shoal_gate_frame_feed(&f, buf, 1, &used, &body, &size) == SHOAL_GATE_FRAME_MORE);
  CHECK(shoal_gate_frame_pending(&f) == 1 && live_allocs == 0);
  CHECK(shoal_gate_frame_feed(&f, buf + 1, 4, &used, &body, &size) == SHOAL_GATE_FRAME_MORE);
  CHECK(shoal_gate_frame_pending(&f) == 5 && live_allocs == 1); /* the body waits, allocated once */
  shoal_gate_frame_reset(&f);
  CHECK(shoal_gate_frame_pending(&f) == 0 && live_allocs == 0);
}

static void test_put_header(void) {
  unsigned char h[4];
  CHECK(shoal_frame_header(2, 0x1234, h) == 2 && h[0] == 0x12 && h[1] == 0x34);
  CHECK(shoal_frame_header(2, 65535, h) == 2 && h[0] == 0xff && h[1] == 0xff);
  CHECK(shoal_frame_header(2, 65536, h) == 0);
  CHECK(shoal_frame_header(4, 0x01020304, h) == 4 && h[0] == 1 && h[1] == 2 && h[2] == 3 && h[3] == 4);
  CHECK(shoal_frame_header(3, 1, h) == 0);
  CHECK(strcmp(shoal_gate_frame_strerror(SHOAL_GATE_FRAME_ETOOBIG), "oversized frame") == 0);
}

/* Random frames, random cuts: what comes out is what went in. */
static void test_random_streams(void) {
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  static unsigned char buf[1 << 20], bodies[1 << 20], got[1 << 20];
  for (int round = 0; round < 2000; round++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    int header = (seed >> 60) & 1 ? 4 : 2;
    int nframes = (int)((seed >> 40) % 40) + 1;
    size_t len = 0, blen = 0;
    size_t sizes[64];
    for (int i = 0; i < nframes; i++) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      size_t n = (seed >> 33) % 5 == 0 ? 0 : (seed >> 20) % ((seed >> 50) % 2 ? 20 : 3000);
      for (size_t k = 0; k < n; k++) bodies[blen + k] = (unsigned char)(seed >> (k % 56));
      put_frame(buf, &len, header, bodies + blen, n);
      sizes[i] = n;
      blen += n;
    }
    struct shoal_gate_frame f = parser(header, 4000);
    struct frames out = {.data = got};
    size_t off = 0;
    while (off < len) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      size_t piece = (seed >> 33) % 4 == 0 ? 1 : (seed >> 20) % 700;
      if (piece > len - off) piece = len - off;
      CHECK(feed_all(&f, buf + off, piece, &out) == SHOAL_GATE_FRAME_MORE);
      off += piece;
    }
    CHECK(out.count == nframes);
    for (int i = 0; i < nframes; i++) CHECK(out.sizes[i] == sizes[i]);
    CHECK(out.used == blen && memcmp(got, bodies, blen) == 0);
    CHECK(shoal_gate_frame_pending(&f) == 0);
  }
  CHECK(live_allocs == 0);
}

int main(void) {
  test_init();
  test_single_and_empty();
  test_coalesced();
  test_every_split();
  test_byte_by_byte();
  test_oversized();
  test_truncated_and_reset();
  test_put_header();
  test_random_streams();
  printf("test_gate_frame: ok\n");
  return 0;
}
