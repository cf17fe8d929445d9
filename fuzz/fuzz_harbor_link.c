/*
 * fuzz_harbor_link - libFuzzer harness for the harbor's frame reader
 * (cservice/harbor_link.c): the bytes a peer node sends. Build and run
 * with fuzz/harbor.sh.
 *
 * Input: bytes 0-1 seed the cutting of the stream (the top bit of byte 0
 * says whether the link is proven: messages are read, else refused as
 * before a handshake); the rest is the stream.
 * It is read once whole and once in pieces of 0 to 300 bytes: both reads
 * must agree (same messages and control frames, same bytes, an error in
 * both or in neither), nothing may leak (ASan) and every message handed
 * out must be as long as it says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harbor_link.h"

/* harbor_link.c allocates through the runtime; here plain malloc. */
void *shoal_malloc(size_t sz) { return malloc(sz ? sz : 1); }
void *shoal_realloc(void *p, size_t sz) { return realloc(p, sz ? sz : 1); }
void shoal_free(void *p) { free(p); }

#define REQUIRE(c)       \
  do {                   \
    if (!(c)) abort();   \
  } while (0)

struct seen {
  uint64_t sum;
  long messages, frames;
};

static void on_frame(void *ud, int kind, const uint8_t *b, size_t n) {
  struct seen *s = ud;
  s->frames++;
  s->sum = s->sum * 31 + (uint64_t)kind;
  for (size_t i = 0; i < n; i++) s->sum = s->sum * 131 + b[i];
}

static void on_message(void *ud, struct link_message *m) {
  struct seen *s = ud;
  s->messages++;
  s->sum = s->sum * 31 + (uint64_t)m->type + m->source + m->dest + (uint32_t)m->session;
  for (size_t i = 0; i < m->size; i++) s->sum = s->sum * 131 + ((uint8_t *)m->data)[i];
  free(m->data);
}

static const struct link_handler handler = {on_frame, on_message};

static int read_all(const uint8_t *d, size_t n, uint32_t seed, int proven, struct seen *out) {
  struct link_reader *r = link_reader_new(1 << 20);
  if (proven) link_reader_allow_messages(r);
  int stop = 0, rc = 0;
  char err[128];
  memset(out, 0, sizeof(*out));
  size_t at = 0;
  while (at < n && rc == 0) {
    size_t piece = seed ? (seed = seed * 1103515245u + 12345u) >> 16 : n;
    piece = seed ? piece % 301 : n;
    if (piece > n - at) piece = n - at;
    rc = link_reader_feed(r, d + at, piece, &handler, out, &stop, err, sizeof(err));
    at += piece;
  }
  link_reader_free(r);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  uint32_t seed = (uint32_t)data[0] << 8 | data[1] | 1u;
  struct seen whole, cut;
  int proven = (data[0] & 0x80) != 0;
  int a = read_all(data + 2, size - 2, 0, proven, &whole);
  int b = read_all(data + 2, size - 2, seed, proven, &cut);
  REQUIRE(a == b);
  if (a == 0) REQUIRE(whole.sum == cut.sum && whole.messages == cut.messages && whole.frames == cut.frames);
  return 0;
}
