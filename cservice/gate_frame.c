/*
 * gate_frame.c - the gate's incremental frame parser (see gate_frame.h).
 *
 * State machine over one stream: gather the header (it may arrive one byte
 * at a time), check the announced size against max, allocate the body,
 * gather the body, hand it out. The only copy of body bytes is the memcpy
 * from the fed buffer into the body.
 */
#include "gate_frame.h"

#include <string.h>

int shoal_gate_frame_init(struct shoal_gate_frame *f, int header, uint32_t max, shoal_gate_frame_alloc alloc,
                          shoal_gate_frame_free dealloc) {
  memset(f, 0, sizeof(*f));
  if ((header != 2 && header != 4) || alloc == NULL || dealloc == NULL) return SHOAL_GATE_FRAME_EINVAL;
  if (max > (header == 2 ? SHOAL_GATE_FRAME_MAX2 : SHOAL_GATE_FRAME_MAX4)) return SHOAL_GATE_FRAME_EINVAL;
  f->alloc = alloc;
  f->dealloc = dealloc;
  f->header = (uint8_t)header;
  f->max = max;
  return 0;
}

static uint32_t decode(const struct shoal_gate_frame *f) {
  const uint8_t *h = f->hbuf;
  if (f->header == 2) return (uint32_t)h[0] << 8 | h[1];
  return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

int shoal_gate_frame_feed(struct shoal_gate_frame *f, const void *data, size_t n, size_t *used, void **body,
                          uint32_t *size) {
  const uint8_t *p = data;
  size_t i = 0;
  *used = 0;
  *body = NULL;
  *size = 0;
  if (f->failed) return f->failed;
  if (f->hgot < f->header) {
    size_t take = min_size((size_t)(f->header - f->hgot), n);
    if (take) memcpy(f->hbuf + f->hgot, p, take);
    f->hgot = (uint8_t)(f->hgot + take);
    i = take;
    if (f->hgot < f->header) {
      *used = i;
      return SHOAL_GATE_FRAME_MORE;
    }
    uint32_t len = decode(f);
    if (len > f->max) {
      f->failed = SHOAL_GATE_FRAME_ETOOBIG;
      f->size = len; /* kept for the caller's log line */
      *used = i;
      return f->failed;
    }
    f->size = len;
    f->got = 0;
    if (len > 0) {
      f->body = f->alloc(len);
      if (f->body == NULL) {
        f->failed = SHOAL_GATE_FRAME_ENOMEM;
        *used = i;
        return f->failed;
      }
    }
  }
  size_t take = min_size((size_t)(f->size - f->got), n - i);
  if (take) memcpy(f->body + f->got, p + i, take);
  f->got += (uint32_t)take;
  i += take;
  *used = i;
  if (f->got < f->size) return SHOAL_GATE_FRAME_MORE;
  *body = f->body;
  *size = f->size;
  f->body = NULL;
  f->hgot = 0;
  f->size = f->got = 0;
  return SHOAL_GATE_FRAME_READY;
}

size_t shoal_gate_frame_pending(const struct shoal_gate_frame *f) {
  if (f->hgot == 0) return 0;
  return (size_t)f->hgot + (f->hgot == f->header ? f->got : 0);
}

void shoal_gate_frame_reset(struct shoal_gate_frame *f) {
  if (f->body) f->dealloc(f->body);
  f->body = NULL;
  f->hgot = 0;
  f->size = f->got = 0;
  f->failed = 0;
}

const char *shoal_gate_frame_strerror(int result) {
  switch (result) {
    case SHOAL_GATE_FRAME_MORE: return "incomplete";
    case SHOAL_GATE_FRAME_READY: return "ready";
    case SHOAL_GATE_FRAME_ETOOBIG: return "oversized frame";
    case SHOAL_GATE_FRAME_ENOMEM: return "out of memory";
    case SHOAL_GATE_FRAME_EINVAL: return "invalid parser settings";
    default: return "unknown result";
  }
}
