/*
 * fuzz_gate_frame - libFuzzer harness for the gate's frame parser
 * (cservice/gate_frame.c). Build and run with fuzz/run.sh.
 *
 * Input: byte 0 picks the header size (bit 0: 2 or 4) and the max body
 * (bits 1-3, from 0 to 65535); bytes 1-2 seed the cutting of the stream;
 * the rest is the stream. The stream is fed in pieces of 0 to 300 bytes
 * and every frame that comes out is compared with a one-shot reference
 * parse of the whole stream: same frames, same order, same bytes, the
 * error at the same frame, nothing leaked (ASan), no pending bytes unless
 * the stream ends inside a frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gate_frame.h"
#include "shoal.h" /* shoal_frame_header */

static long live; /* bodies allocated and not freed */

static void *fz_alloc(size_t sz) {
  live++;
  return malloc(sz);
}

static void fz_free(void *p) {
  if (p) live--;
  free(p);
}

#define REQUIRE(c) \
  do {             \
    if (!(c)) abort(); \
  } while (0)

/* The reference: parses the whole stream at once. Returns the number of
 * bytes that make complete frames before the first error or the end; sets
 * *error when an oversized header stopped it. */
static size_t reference_next(const uint8_t *s, size_t n, int header, uint32_t max, size_t *off, uint32_t *len,
                             int *error) {
  *error = 0;
  if (n - *off < (size_t)header) return 0;
  const uint8_t *h = s + *off;
  uint32_t v = header == 2 ? (uint32_t)h[0] << 8 | h[1]
                           : (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
  if (v > max) {
    *error = 1;
    return 0;
  }
  if (n - *off - (size_t)header < v) return 0;
  *len = v;
  size_t start = *off + (size_t)header;
  *off = start + v;
  return start; /* body at s + start */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  static const uint32_t maxes[8] = {0, 1, 2, 7, 100, 1000, 4096, 65535};
  int header = data[0] & 1 ? 4 : 2;
  uint32_t max = maxes[(data[0] >> 1) & 7];
  uint32_t seed = (uint32_t)data[1] << 8 | data[2];
  const uint8_t *s = data + 3;
  size_t n = size - 3;

  struct shoal_gate_frame f;
  REQUIRE(shoal_gate_frame_init(&f, header, max, fz_alloc, fz_free) == 0);
  size_t ref_off = 0;
  int ref_done = 0; /* the reference has no more frames */
  int ref_error = 0;
  size_t fed = 0;
  int failed = 0;
  while (fed < n && !failed) {
    seed = seed * 1103515245u + 12345u;
    size_t piece = (seed >> 16) % 301;
    if (piece > n - fed) piece = n - fed;
    size_t off = 0;
    do { /* a zero-byte piece is fed too */
      size_t used;
      void *body;
      uint32_t bsize;
      int r = shoal_gate_frame_feed(&f, s + fed + off, piece - off, &used, &body, &bsize);
      REQUIRE(used <= piece - off);
      off += used;
      if (r == SHOAL_GATE_FRAME_READY) {
        REQUIRE(!ref_done);
        uint32_t len = 0;
        size_t start = reference_next(s, n, header, max, &ref_off, &len, &ref_error);
        REQUIRE(start != 0 && !ref_error);
        REQUIRE(bsize == len && (len == 0) == (body == NULL));
        REQUIRE(len == 0 || memcmp(body, s + start, len) == 0);
        REQUIRE(fed + off == ref_off); /* consumed exactly through this frame */
        fz_free(body);
      } else if (r == SHOAL_GATE_FRAME_MORE) {
        REQUIRE(off == piece);
      } else {
        REQUIRE(r == SHOAL_GATE_FRAME_ETOOBIG);
        uint32_t len;
        reference_next(s, n, header, max, &ref_off, &len, &ref_error);
        REQUIRE(ref_error);
        REQUIRE(fed + off == ref_off + (size_t)header);
        failed = 1;
        /* sticky */
        REQUIRE(shoal_gate_frame_feed(&f, s, n, &used, &body, &bsize) == SHOAL_GATE_FRAME_ETOOBIG && used == 0);
        break;
      }
    } while (off < piece);
    fed += piece;
  }
  if (!failed) {
    /* The reference sees no further complete frame or error... */
    uint32_t len;
    size_t start = reference_next(s, n, header, max, &ref_off, &len, &ref_error);
    if (ref_error) {
      /* ...unless the bad header is the very end of the stream: then the
       * parser must have failed too. It did not, so that is a bug. */
      REQUIRE(0);
    }
    REQUIRE(start == 0);
    /* ...and what is left is exactly the pending part. */
    REQUIRE(shoal_gate_frame_pending(&f) == n - ref_off);
  }
  shoal_gate_frame_reset(&f);
  REQUIRE(live == 0);
  REQUIRE(shoal_gate_frame_pending(&f) == 0);
  /* header round trip */
  unsigned char h[4];
  size_t hl = shoal_frame_header(header, (size_t)seed & 0xffff, h);
  REQUIRE(hl == (size_t)header);
  (void)ref_done;
  return 0;
}
