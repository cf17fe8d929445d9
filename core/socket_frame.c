/*
 * socket_frame.c - framed sockets: every write is one whole frame, a
 * big-endian length header (2 or 4 bytes) and the body, built in one buffer
 * and handed to shoal_socket_send (so it is written at once when the socket
 * has nothing queued).
 *
 * Why in the socket layer: the gate marks each client connection framed, and
 * from then on an agent or a logic service of the node writes its frames to
 * the client itself, with no hop through the gate. Every local writer goes
 * straight to the socket, so a frame written before a message is sent is
 * on the socket before anything the receiver of that message writes. Only
 * framed sockets take frames: a stale or mistaken id (a harbor link, a
 * console) gets SHOAL_ENOSERVICE, never a stray header in its stream.
 *
 * In the WebSocket mode (SHOAL_SOCKET_FRAME_WS, the gate's WebSocket
 * connections) the header is a WebSocket binary frame's (2, 4 or 10
 * bytes) instead; the body and everything else are the same.
 *
 * A cipher (socket_frame.h; the gate's AEAD mode) seals every frame's body.
 * The seal runs under the socket's lock, in the critical section that
 * writes or queues the frame, so the sequence numbers it gives are in the
 * order the frames go onto the socket whoever writes them. The frame's
 * buffer is allocated before the lock is taken; if the socket's framing or
 * cipher changed in between, the frame is built again.
 */
#include "socket_frame.h"

#include <limits.h>
#include <string.h>

#include "alloc.h"
#include "shoal.h"
#include "socket_int.h"

/* The header of an n-byte body in mode header (2, 4, or either with
 * SHOAL_SOCKET_FRAME_WS) into out; its length, or 0 when n does not fit. */
static size_t frame_header(int header, size_t n, unsigned char out[10]) {
  if (!(header & SHOAL_SOCKET_FRAME_WS)) return shoal_frame_header(header, n, out);
  unsigned char ignored[4];
  if (shoal_frame_header(header & 0xff, n, ignored) == 0) return 0;
  out[0] = 0x82; /* FIN, binary */
  if (n < 126) {
    out[1] = (unsigned char)n;
    return 2;
  }
  if (n <= 0xffff) {
    out[1] = 126;
    out[2] = (unsigned char)(n >> 8);
    out[3] = (unsigned char)n;
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; i++) out[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
  return 10;
}

int shoal_socket_set_frame(int id, int header) {
  int base = header & ~SHOAL_SOCKET_FRAME_WS;
  if (base != 2 && base != 4) return SHOAL_EINVAL;
  struct sock *s = socket_slot(id);
  if (s == NULL) return SHOAL_ENOSERVICE;
  shoal_spin_lock(&s->lock);
  int mine = s->id == id;
  if (mine) s->frame_header = header;
  shoal_spin_unlock(&s->lock);
  return mine ? 0 : SHOAL_ENOSERVICE;
}

size_t shoal_frame_size(int header, const struct shoal_frame_cipher *ops, size_t sz) {
  if (ops && ops->max && sz > ops->max) return 0;
  size_t n = sz + (ops ? ops->overhead : 0);
  if (n < sz) return 0;
  unsigned char hdr[10];
  size_t h = frame_header(header, n, hdr);
  return h ? h + n : 0;
}

long shoal_frame_build(int header, const struct shoal_frame_cipher *ops, void *ud, const void *body, size_t sz,
                       unsigned char *out) {
  size_t total = shoal_frame_size(header, ops, sz);
  if (total == 0 || total > (size_t)LONG_MAX) return SHOAL_EINVAL;
  size_t n = sz + (ops ? ops->overhead : 0);
  size_t h = frame_header(header, n, out);
  if (ops == NULL) {
    if (sz) memcpy(out + h, body, sz);
    return (long)total;
  }
  int r = ops->seal(ud, body, sz, out + h);
  return r < 0 ? r : (long)total;
}

void socket_frame_install(struct sock *s, const struct shoal_frame_cipher *ops, void *ud) {
  s->cipher = ops;
  s->cipher_ud = ud;
}

void socket_frame_release(struct sock *s) {
  if (s->cipher && s->cipher->release) s->cipher->release(s->cipher_ud);
  s->cipher = NULL;
  s->cipher_ud = NULL;
}

int shoal_socket_send_frame(struct shoal_context *ctx, int id, const void *body, size_t sz) {
  (void)ctx;
  struct sock *s = socket_slot(id);
  if (s == NULL) return SHOAL_ENOSERVICE;
  shoal_spin_lock(&s->lock);
  int header = s->id == id ? s->frame_header : 0;
  const struct shoal_frame_cipher *ops = s->id == id ? s->cipher : NULL;
  shoal_spin_unlock(&s->lock);
  for (;;) {
    if (header == 0) return SHOAL_ENOSERVICE;
    size_t total = shoal_frame_size(header, ops, sz);
    if (total == 0) return SHOAL_EINVAL;
    unsigned char *out = shoal_malloc(total);
    /* A clear frame is copied outside the lock; a sealed one is sealed
     * inside it, where its sequence number is taken. */
    if (ops == NULL) shoal_frame_build(header, NULL, NULL, body, sz, out);
    shoal_spin_lock(&s->lock);
    if (s->id != id || s->frame_header != header || s->cipher != ops) {
      /* Reused, reframed, or a cipher came in meanwhile: build again. */
      int same = s->id == id;
      header = same ? s->frame_header : 0;
      ops = same ? s->cipher : NULL;
      shoal_spin_unlock(&s->lock);
      shoal_free(out);
      continue;
    }
    if (ops) {
      long r = shoal_frame_build(header, ops, s->cipher_ud, body, sz, out);
      if (r < 0) {
        shoal_spin_unlock(&s->lock);
        shoal_free(out);
        return (int)r;
      }
    }
    return socket_send_locked(s, out, total, NULL, NULL); /* releases the lock */
  }
}

int shoal_socket_set_cipher(int id, const struct shoal_frame_cipher *ops, void *ud, const void *clear,
                            size_t clear_sz) {
  struct sock *s = socket_slot(id);
  int header = 0;
  if (s) {
    shoal_spin_lock(&s->lock);
    header = s->id == id ? s->frame_header : 0;
    shoal_spin_unlock(&s->lock);
  }
  size_t total = clear ? shoal_frame_size(header, NULL, clear_sz) : 0;
  int r = header == 0 ? SHOAL_ENOSERVICE : clear && total == 0 ? SHOAL_EINVAL : 0;
  if (r == 0) {
    unsigned char *out = NULL;
    if (clear) {
      out = shoal_malloc(total);
      shoal_frame_build(header, NULL, NULL, clear, clear_sz, out);
    }
    shoal_spin_lock(&s->lock);
    if (s->id != id || s->frame_header != header) r = SHOAL_ENOSERVICE;
    else if (s->cipher) r = SHOAL_EINVAL;
    if (r != 0) {
      shoal_spin_unlock(&s->lock);
      shoal_free(out);
    } else if (out) {
      /* The clear frame and the cipher in one hold of the lock. */
      r = socket_send_locked(s, out, total, ops, ud);
      if (r == 0) ud = NULL;
    } else {
      socket_frame_install(s, ops, ud);
      ud = NULL;
      shoal_spin_unlock(&s->lock);
    }
  }
  if (ud && ops->release) ops->release(ud);
  return r;
}
