/*
 * test_harbor_link - the harbor's frame reader (cservice/harbor_link.c) and
 * its pending-call set (cservice/harbor_pending.c).
 *
 * Reader: a stream of messages (small, empty, one split into FIRST + MORE
 * frames) and control frames comes out the same whatever way it is cut,
 * including at every byte boundary; each malformed stream gives its own
 * error. Before the handshake the reader refuses message frames and big
 * frames at once (a stranger cannot make it allocate). Pending set: random
 * adds and removes against a plain array.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harbor_link.h"
#include "harbor_pending.h"
#include "harbor_wire.h"
#include "shoal.h"

/* ---- building streams ---- */

struct stream {
  uint8_t *data;
  size_t len, cap;
};

static uint8_t *grow(struct stream *s, size_t n) {
  if (s->len + n > s->cap) {
    s->cap = (s->len + n) * 2;
    s->data = realloc(s->data, s->cap);
  }
  uint8_t *p = s->data + s->len;
  s->len += n;
  return p;
}

static void put_msg(struct stream *s, int type, uint32_t src, uint32_t dst, int session, const uint8_t *body,
                    size_t n) {
  int big = n > WIRE_CHUNK;
  size_t first = big ? WIRE_CHUNK : n, head = WIRE_MSG_HEAD + (big ? 4 : 0);
  uint8_t *f = grow(s, 4 + head + first);
  wire_head(f, big ? WIRE_FIRST : WIRE_MSG, head - 1 + first);
  f[5] = (uint8_t)type;
  wire_put32(f + 6, src);
  wire_put32(f + 10, dst);
  wire_put32(f + 14, (uint32_t)session);
  if (big) wire_put32(f + 18, (uint32_t)n);
  memcpy(f + 4 + head, body, first);
  for (size_t off = first; off < n; off += WIRE_CHUNK) {
    size_t part = n - off < WIRE_CHUNK ? n - off : WIRE_CHUNK;
    uint8_t *m = grow(s, 5 + part);
    wire_head(m, WIRE_MORE, part);
    memcpy(m + 5, body + off, part);
  }
}

static void put_frame(struct stream *s, int kind, const void *body, size_t n) {
  uint8_t *f = grow(s, 5 + n);
  wire_head(f, kind, n);
  memcpy(f + 5, body, n);
}

/* ---- collecting what comes out ---- */

struct seen {
  int messages, frames;
  size_t bytes;     /* payload bytes of all messages */
  uint64_t sum;     /* a checksum of them, position-weighted */
  int last_kind;
  uint32_t last_src, last_dst;
  int last_session, last_type;
};

static void on_frame(void *ud, int kind, const uint8_t *b, size_t n) {
  struct seen *s = ud;
  s->frames++;
  s->last_kind = kind;
  for (size_t i = 0; i < n; i++) s->sum += (uint64_t)b[i] * (i + 7);
}

static void on_message(void *ud, struct link_message *m) {
  struct seen *s = ud;
  s->messages++;
  s->bytes += m->size;
  for (size_t i = 0; i < m->size; i++) s->sum += (uint64_t)((uint8_t *)m->data)[i] * (i + 1);
  s->last_src = m->source;
  s->last_dst = m->dest;
  s->last_session = m->session;
  s->last_type = m->type;
  shoal_free(m->data);
}

static const struct link_handler handler = {on_frame, on_message};

/* Feeds the stream in pieces to a reader of a proven link (or of one
 * still in its handshake); returns the reader's result. */
static int feed_cut_as(int proven, const struct stream *st, size_t max_message, const size_t *cuts, int ncuts,
                       struct seen *out, char *err, size_t errlen) {
  struct link_reader *r = link_reader_new(max_message);
  if (proven) link_reader_allow_messages(r);
  int stop = 0, rc = 0;
  size_t at = 0;
  memset(out, 0, sizeof(*out));
  for (int i = 0; i <= ncuts && rc == 0; i++) {
    size_t end = i < ncuts ? cuts[i] : st->len;
    rc = link_reader_feed(r, st->data + at, end - at, &handler, out, &stop, err, errlen);
    at = end;
  }
  link_reader_free(r);
  return rc;
}

static int feed_cut(const struct stream *st, size_t max_message, const size_t *cuts, int ncuts, struct seen *out,
                    char *err, size_t errlen) {
  return feed_cut_as(1, st, max_message, cuts, ncuts, out, err, errlen);
}

static struct stream sample(size_t bigsize) {
  struct stream s = {0};
  uint8_t body[300];
  for (size_t i = 0; i < sizeof(body); i++) body[i] = (uint8_t)(i * 31 + 5);
  put_msg(&s, SHOAL_PTYPE_LUA, 0x01000005, 0x02000007, 42, body, 100);
  put_msg(&s, SHOAL_PTYPE_RESPONSE, 0x02000007, 0x01000005, 42, body, 0);
  uint8_t ping[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  put_frame(&s, WIRE_PING, ping, 8);
  if (bigsize) {
    uint8_t *big = malloc(bigsize);
    for (size_t i = 0; i < bigsize; i++) big[i] = (uint8_t)(i ^ (i >> 8));
    put_msg(&s, SHOAL_PTYPE_LUA, 0x01000009, 0x02000003, 7, big, bigsize);
    free(big);
  }
  put_msg(&s, SHOAL_PTYPE_TEXT, 0x01000001, 0x02000000, -3, body, 300);
  return s;
}

static void test_every_cut(void) {
  struct stream s = sample(0);
  struct seen whole, part;
  char err[128];
  CHECK(feed_cut(&s, 1 << 20, NULL, 0, &whole, err, sizeof(err)) == 0);
  CHECK(whole.messages == 3 && whole.frames == 1 && whole.bytes == 400);
  CHECK(whole.last_src == 0x01000001 && whole.last_dst == 0x02000000 && whole.last_session == -3);
  CHECK(whole.last_type == SHOAL_PTYPE_TEXT);
  for (size_t a = 0; a <= s.len; a++) {
    size_t cuts[1] = {a};
    CHECK(feed_cut(&s, 1 << 20, cuts, 1, &part, err, sizeof(err)) == 0);
    CHECK(part.messages == whole.messages && part.frames == whole.frames && part.sum == whole.sum);
  }
  /* byte by byte */
  size_t *cuts = malloc(sizeof(size_t) * s.len);
  for (size_t i = 0; i < s.len; i++) cuts[i] = i;
  CHECK(feed_cut(&s, 1 << 20, cuts, (int)s.len, &part, err, sizeof(err)) == 0);
  CHECK(part.sum == whole.sum && part.messages == 3);
  free(cuts);
  free(s.data);
}

static void test_big_message(void) {
  size_t big = 3 * WIRE_CHUNK + 12345;
  struct stream s = sample(big);
  struct seen whole, part;
  char err[128];
  CHECK(feed_cut(&s, 1 << 20, NULL, 0, &whole, err, sizeof(err)) == 0);
  CHECK(whole.messages == 4 && whole.bytes == 400 + big);
  srand(7);
  for (int round = 0; round < 200; round++) {
    size_t cuts[16];
    int n = 0;
    size_t at = 0;
    while (n < 16) {
      at += (size_t)rand() % (s.len / 8 + 1);
      if (at >= s.len) break;
      cuts[n++] = at;
    }
    CHECK(feed_cut(&s, 1 << 20, cuts, n, &part, err, sizeof(err)) == 0);
    CHECK(part.sum == whole.sum && part.messages == 4);
  }
  /* over the receiver's limit: an error, not an allocation */
  CHECK(feed_cut(&s, big - 1, NULL, 0, &part, err, sizeof(err)) == -1);
  CHECK(strstr(err, "over the limit") != NULL);
  free(s.data);
}

static void expect_error(struct stream *s, const char *fragment) {
  struct seen out;
  char err[128] = "";
  CHECK(feed_cut(s, 1 << 20, NULL, 0, &out, err, sizeof(err)) == -1);
  if (strstr(err, fragment) == NULL) {
    fprintf(stderr, "error '%s' lacks '%s'\n", err, fragment);
    exit(1);
  }
  free(s->data);
  memset(s, 0, sizeof(*s));
}

static void test_malformed(void) {
  struct stream s = {0};
  uint8_t zero[4] = {0, 0, 0, 0};
  memcpy(grow(&s, 4), zero, 4);
  expect_error(&s, "frame of 0 bytes");
  uint8_t huge[5] = {0x7f, 0xff, 0xff, 0xff, WIRE_MSG};
  memcpy(grow(&s, 5), huge, 5);
  expect_error(&s, "frame of");
  put_frame(&s, WIRE_MORE, "abc", 3);
  expect_error(&s, "continuation without a first part");
  put_frame(&s, WIRE_MSG, "ab", 2);
  expect_error(&s, "short message frame");
  /* a FIRST announcing 10 bytes, then 20 in a MORE */
  uint8_t first[WIRE_MSG_HEAD + 4 - 1 + 2] = {SHOAL_PTYPE_LUA};
  wire_put32(first + 13, 10);
  put_frame(&s, WIRE_FIRST, first, sizeof(first));
  put_frame(&s, WIRE_MORE, "01234567890123456789", 20);
  expect_error(&s, "past the message end");
  put_frame(&s, WIRE_FIRST, first, sizeof(first));
  put_frame(&s, WIRE_FIRST, first, sizeof(first));
  expect_error(&s, "before the last one ended");
  /* a truncated stream is not an error: the rest may come */
  struct seen out;
  char err[128];
  put_msg(&s, SHOAL_PTYPE_LUA, 1, 2, 3, (const uint8_t *)"hello", 5);
  s.len -= 2;
  CHECK(feed_cut(&s, 1 << 20, NULL, 0, &out, err, sizeof(err)) == 0 && out.messages == 0);
  free(s.data);
}

/* Message frames before the handshake: refused by the frame that starts
 * them, before any allocation for the message; also a frame header that
 * announces more than a handshake frame. Handshake frames pass. */
static void test_before_handshake(void) {
  struct seen out;
  char err[128];
  uint8_t hello[1 + WIRE_NONCE + WIRE_BOOT] = {2};
  struct stream s = {0};
  put_frame(&s, WIRE_HELLO, hello, sizeof(hello));
  CHECK(feed_cut_as(0, &s, 1 << 20, NULL, 0, &out, err, sizeof(err)) == 0 && out.frames == 1);
  free(s.data);
  static const int kinds[] = {WIRE_MSG, WIRE_FIRST, WIRE_MORE};
  for (int k = 0; k < 3; k++) {
    memset(&s, 0, sizeof(s));
    uint8_t body[WIRE_MSG_HEAD + 4 + 8] = {SHOAL_PTYPE_LUA};
    wire_put32(body + 13, 64u << 20); /* a FIRST claiming 64 MiB */
    put_frame(&s, kinds[k], body, sizeof(body));
    for (size_t cut = 0; cut <= s.len; cut += 7) {
      size_t cuts[1] = {cut};
      CHECK(feed_cut_as(0, &s, 64u << 20, cuts, 1, &out, err, sizeof(err)) == -1);
      CHECK(strstr(err, "before the handshake") != NULL && out.messages == 0);
    }
    free(s.data);
  }
  /* only the header of a 60 KB frame: refused without waiting for the body */
  uint8_t head[5];
  wire_head(head, WIRE_HELLO, 60000);
  memset(&s, 0, sizeof(s));
  memcpy(grow(&s, 5), head, 5);
  CHECK(feed_cut_as(0, &s, 1 << 20, NULL, 0, &out, err, sizeof(err)) == -1 && strstr(err, "before the handshake"));
  size_t at2[1] = {2};
  CHECK(feed_cut_as(0, &s, 1 << 20, at2, 1, &out, err, sizeof(err)) == -1 && strstr(err, "before the handshake"));
  free(s.data);
}

/* The link proves itself inside a read (the WELCOME frame): the messages
 * after it in the same buffer are read. */
static int proving_done;
static struct link_reader *proving_reader;
static void proving_frame(void *ud, int kind, const uint8_t *b, size_t n) {
  on_frame(ud, kind, b, n);
  if (kind == WIRE_WELCOME) {
    link_reader_allow_messages(proving_reader);
    proving_done = 1;
  }
}

static void test_proven_mid_read(void) {
  struct stream s = {0};
  uint8_t mac[WIRE_MAC] = {0};
  put_frame(&s, WIRE_WELCOME, mac, sizeof(mac));
  put_msg(&s, SHOAL_PTYPE_LUA, 0x02000005, 0x01000007, 9, (const uint8_t *)"hello", 5);
  const struct link_handler proving = {proving_frame, on_message};
  struct seen out;
  memset(&out, 0, sizeof(out));
  char err[128];
  int stop = 0;
  proving_reader = link_reader_new(1 << 20);
  CHECK(link_reader_feed(proving_reader, s.data, s.len, &proving, &out, &stop, err, sizeof(err)) == 0);
  CHECK(proving_done && out.frames == 1 && out.messages == 1 && out.last_session == 9);
  link_reader_free(proving_reader);
  free(s.data);
}

/* ---- pending set ---- */

static uint32_t ref_caller[5000];
static int ref_session[5000];
static uint64_t ref_added[5000];
static int ref_n;
static int drained;

static void count(void *ud, uint32_t caller, int session) {
  (void)ud;
  for (int i = 0; i < ref_n; i++) {
    if (ref_caller[i] == caller && ref_session[i] == session) {
      ref_caller[i] = ref_caller[--ref_n];
      ref_session[i] = ref_session[ref_n];
      ref_added[i] = ref_added[ref_n];
      drained++;
      return;
    }
  }
  CHECK(!"drained an entry that was not there");
}

static void test_pending(void) {
  struct pending_set *p = pending_new();
  srand(11);
  for (int step = 0; step < 200000; step++) {
    int op = rand() % 3;
    if (op < 2 && ref_n < 5000) {
      uint32_t caller = 0x01000000u | (uint32_t)(rand() % 50 + 1);
      int session = rand() % 2000 + 1;
      int dup = 0;
      for (int i = 0; i < ref_n && !dup; i++) dup = ref_caller[i] == caller && ref_session[i] == session;
      pending_add(p, caller, session, (uint64_t)step);
      if (!dup) {
        ref_caller[ref_n] = caller;
        ref_session[ref_n] = session;
        ref_added[ref_n++] = (uint64_t)step;
      } else {
        for (int i = 0; i < ref_n; i++)
          if (ref_caller[i] == caller && ref_session[i] == session) ref_added[i] = (uint64_t)step;
      }
    } else if (ref_n > 0) {
      int i = rand() % ref_n;
      CHECK(pending_remove(p, ref_caller[i], ref_session[i]) == 1);
      CHECK(pending_remove(p, ref_caller[i], ref_session[i]) == 0);
      ref_caller[i] = ref_caller[--ref_n];
      ref_session[i] = ref_session[ref_n];
      ref_added[i] = ref_added[ref_n];
    }
    CHECK(pending_count(p) == (size_t)ref_n);
  }
  /* drain the old ones, then all */
  int old = 0;
  for (int i = 0; i < ref_n; i++) old += ref_added[i] < 150000;
  drained = 0;
  pending_drain(p, 150000, count, NULL);
  CHECK(drained == old);
  for (int i = 0; i < ref_n; i++) CHECK(ref_added[i] >= 150000);
  CHECK(pending_count(p) == (size_t)ref_n);
  pending_drain(p, UINT64_MAX, count, NULL);
  CHECK(ref_n == 0 && pending_count(p) == 0);
  pending_free(p);
}

int main(void) {
  test_every_cut();
  test_big_message();
  test_malformed();
  test_before_handshake();
  test_proven_mid_read();
  test_pending();
  printf("test_harbor_link: ok\n");
  return 0;
}
