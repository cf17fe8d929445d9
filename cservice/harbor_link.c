/*
 * harbor_link.c - frame reader (see harbor_link.h).
 *
 * Whole frames are parsed straight from the socket's buffer; only a frame
 * cut by the end of a read is copied into the reader's buffer. A message's
 * payload is copied once, into its own allocation, which is what the
 * receiving service gets.
 */
#include "harbor_link.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "harbor_wire.h"
#include "shoal.h"

struct link_reader {
  size_t max_message;
  int messages_allowed; /* the link proved the secret: messages and big frames are read */
  uint8_t *part; /* a frame cut by the end of a read */
  size_t part_len, part_cap;
  struct link_message big; /* a FIRST in assembly (big.data != NULL) */
  size_t big_have;
};

struct link_reader *link_reader_new(size_t max_message) {
  struct link_reader *r = shoal_malloc(sizeof(*r));
  memset(r, 0, sizeof(*r));
  r->max_message = max_message;
  return r;
}

void link_reader_allow_messages(struct link_reader *r) { r->messages_allowed = 1; }

void link_reader_free(struct link_reader *r) {
  if (r == NULL) return;
  shoal_free(r->part);
  shoal_free(r->big.data);
  shoal_free(r);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* One whole frame body (kind first). */
static int on_frame(struct link_reader *r, const uint8_t *b, size_t len, const struct link_handler *h, void *ud,
                    char *err, size_t errlen) {
  int kind = b[0];
  if (!r->messages_allowed && (kind == WIRE_MSG || kind == WIRE_FIRST || kind == WIRE_MORE))
    return fail(err, errlen, "message frame (kind %d) before the handshake", kind);
  if (kind == WIRE_MSG || kind == WIRE_FIRST) {
    size_t head = WIRE_MSG_HEAD + (kind == WIRE_FIRST ? 4 : 0);
    if (len < head) return fail(err, errlen, "short message frame (%zu bytes)", len);
    if (r->big.data) return fail(err, errlen, "a new message before the last one ended");
    struct link_message m;
    m.type = b[1];
    m.source = wire_get32(b + 2);
    m.dest = wire_get32(b + 6);
    m.session = (int)wire_get32(b + 10);
    size_t part = len - head;
    m.size = kind == WIRE_FIRST ? wire_get32(b + 14) : part;
    if (m.size > r->max_message)
      return fail(err, errlen, "message of %zu bytes over the limit of %zu", m.size, r->max_message);
    if (part > m.size) return fail(err, errlen, "first part %zu longer than the message %zu", part, m.size);
    m.data = shoal_malloc(m.size ? m.size : 1);
    memcpy(m.data, b + head, part);
    if (part == m.size) {
      h->message(ud, &m);
    } else {
      r->big = m;
      r->big_have = part;
    }
    return 0;
  }
  if (kind == WIRE_MORE) {
    size_t part = len - 1;
    if (r->big.data == NULL) return fail(err, errlen, "continuation without a first part");
    if (part > r->big.size - r->big_have)
      return fail(err, errlen, "continuation of %zu bytes past the message end (%zu)", part, r->big.size);
    memcpy((uint8_t *)r->big.data + r->big_have, b + 1, part);
    r->big_have += part;
    if (r->big_have == r->big.size) {
      struct link_message m = r->big;
      r->big.data = NULL;
      h->message(ud, &m);
    }
    return 0;
  }
  h->frame(ud, kind, b + 1, len - 1);
  return 0;
}

/* A frame length the reader refuses: 1 (with the reason in err). Before the
 * handshake only small frames are read, so a stranger's partial frame
 * costs at most WIRE_HANDSHAKE_FRAME_MAX bytes. */
static int bad_length(const struct link_reader *r, uint32_t flen, char *err, size_t errlen) {
  size_t limit = r->messages_allowed ? WIRE_FRAME_MAX : WIRE_HANDSHAKE_FRAME_MAX;
  if (flen != 0 && flen <= limit) return 0;
  fail(err, errlen, "frame of %u bytes (limit %zu%s)", flen, limit, r->messages_allowed ? "" : " before the handshake");
  return 1;
}

static void keep_part(struct link_reader *r, const uint8_t *p, size_t n) {
  if (r->part_len + n > r->part_cap) {
    size_t cap = r->part_cap ? r->part_cap : 256;
    while (cap < r->part_len + n) cap *= 2;
    r->part = shoal_realloc(r->part, cap);
    r->part_cap = cap;
  }
  memcpy(r->part + r->part_len, p, n);
  r->part_len += n;
}

int link_reader_feed(struct link_reader *r, const uint8_t *data, size_t n, const struct link_handler *h, void *ud,
                     const int *stop, char *err, size_t errlen) {
  /* First complete the frame held from the last read. */
  while (r->part_len > 0 && n > 0) {
    size_t want;
    if (r->part_len < 4) {
      want = 4 - r->part_len;
    } else {
      uint32_t flen = wire_get32(r->part);
      want = 4 + (size_t)flen - r->part_len;
    }
    size_t take = want < n ? want : n;
    keep_part(r, data, take);
    data += take;
    n -= take;
    if (r->part_len == 4) {
      if (bad_length(r, wire_get32(r->part), err, errlen)) return -1;
      continue;
    }
    if (r->part_len >= 4 && r->part_len == 4 + (size_t)wire_get32(r->part)) {
      r->part_len = 0;
      if (on_frame(r, r->part + 4, wire_get32(r->part), h, ud, err, errlen) != 0) return -1;
      if (*stop) return 0;
    }
  }
  while (n >= 4) {
    uint32_t flen = wire_get32(data);
    if (bad_length(r, flen, err, errlen)) return -1;
    if (n - 4 < flen) break;
    if (on_frame(r, data + 4, flen, h, ud, err, errlen) != 0) return -1;
    data += 4 + flen;
    n -= 4 + flen;
    if (*stop) return 0;
  }
  if (n > 0) keep_part(r, data, n);
  return 0;
}
