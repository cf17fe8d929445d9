/*
 * gate_frame.h - the gate's incremental frame parser.
 *
 * A stream of frames, each a big-endian length header (2 or 4 bytes)
 * followed by that many bytes of body. Bytes are fed as they arrive, in
 * pieces of any size; every complete frame comes out as one body-sized
 * buffer that the caller then owns. A body is copied exactly once, from
 * the fed bytes into that buffer, whatever the split of the stream.
 *
 * Pure C: no runtime calls, no globals; the allocator is passed in, so the
 * parser is unit-tested and fuzzed on its own (test/unit/test_gate_frame.c,
 * fuzz/fuzz_gate_frame.c).
 *
 * Known limit: the body buffer is allocated as soon as the header is
 * complete, so a peer that announces a frame and stalls holds up to `max`
 * bytes until its connection is closed (the gate's idle timeout).
 */
#ifndef SHOAL_GATE_FRAME_H
#define SHOAL_GATE_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Results of shoal_gate_frame_feed (and init). */
enum shoal_gate_frame_result {
  SHOAL_GATE_FRAME_MORE = 0,     /* every byte consumed, no frame complete yet */
  SHOAL_GATE_FRAME_READY = 1,    /* a frame is complete: body/size are set */
  SHOAL_GATE_FRAME_ETOOBIG = -1, /* a header announced more than max bytes */
  SHOAL_GATE_FRAME_ENOMEM = -2,  /* the allocator returned NULL */
  SHOAL_GATE_FRAME_EINVAL = -3,  /* bad header size or max (init only) */
};

/* The largest body a 4-byte header may be configured for: one frame must
 * fit in a message (uint32 size) and a sane amount of memory. */
#define SHOAL_GATE_FRAME_MAX4 (64u * 1024u * 1024u)
/* The largest body a 2-byte header can announce. */
#define SHOAL_GATE_FRAME_MAX2 65535u

typedef void *(*shoal_gate_frame_alloc)(size_t sz);
typedef void (*shoal_gate_frame_free)(void *p);

struct shoal_gate_frame {
  shoal_gate_frame_alloc alloc;  /* allocates bodies (never called for 0 bytes) */
  shoal_gate_frame_free dealloc; /* frees a partial body on reset */
  uint32_t max;                  /* largest body accepted */
  uint8_t header;                /* header bytes: 2 or 4 */
  uint8_t hgot;                  /* header bytes gathered so far */
  uint8_t hbuf[4];               /* the header being gathered */
  int failed;                    /* sticky error (a negative result), 0 if none */
  char *body;                    /* body being filled, owned; NULL if none or empty */
  uint32_t size;                 /* announced body size (valid once hgot == header) */
  uint32_t got;                  /* body bytes gathered so far */
};

/* Prepares f for a new stream. header is 2 or 4; max is the largest body
 * accepted (at most SHOAL_GATE_FRAME_MAX2 for 2-byte headers,
 * SHOAL_GATE_FRAME_MAX4 for 4-byte ones). Returns 0 or
 * SHOAL_GATE_FRAME_EINVAL (f is then unusable). */
int shoal_gate_frame_init(struct shoal_gate_frame *f, int header, uint32_t max, shoal_gate_frame_alloc alloc,
                          shoal_gate_frame_free dealloc);

/* Consumes bytes from data[0..n) until one frame completes or the input
 * ends; *used says how many were consumed. READY: *body and *size hold the
 * frame (the caller owns *body and frees it with the dealloc function; it is
 * NULL for an empty frame) and the caller feeds the rest, data + *used,
 * again. MORE: all n bytes were consumed. A negative result is an error
 * that sticks: the stream is broken and its connection must be closed
 * (*used then says where the bad header ended). */
int shoal_gate_frame_feed(struct shoal_gate_frame *f, const void *data, size_t n, size_t *used, void **body,
                          uint32_t *size);

/* Bytes of an unfinished frame held (header and body so far): nonzero at
 * the end of a stream means the last frame was truncated. */
size_t shoal_gate_frame_pending(const struct shoal_gate_frame *f);

/* Frees a partial body and clears any error: ready for a new stream. */
void shoal_gate_frame_reset(struct shoal_gate_frame *f);

/* Human-readable text of a result. */
const char *shoal_gate_frame_strerror(int result);

#endif
