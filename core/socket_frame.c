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
 */
#include <string.h>

#include "alloc.h"
#include "shoal.h"
#include "socket_int.h"

int shoal_socket_set_frame(int id, int header) {
  if (header != 2 && header != 4) return SHOAL_EINVAL;
  struct sock *s = socket_slot(id);
  if (s == NULL) return SHOAL_ENOSERVICE;
  shoal_spin_lock(&s->lock);
  int mine = s->id == id;
  if (mine) s->frame_header = header;
  shoal_spin_unlock(&s->lock);
  return mine ? 0 : SHOAL_ENOSERVICE;
}

int shoal_socket_send_frame(struct shoal_context *ctx, int id, const void *body, size_t sz) {
  struct sock *s = socket_slot(id);
  if (s == NULL) return SHOAL_ENOSERVICE;
  shoal_spin_lock(&s->lock);
  int header = s->id == id ? s->frame_header : 0;
  shoal_spin_unlock(&s->lock);
  if (header == 0) return SHOAL_ENOSERVICE;
  unsigned char hdr[4];
  size_t h = shoal_frame_header(header, sz, hdr);
  if (h == 0) return SHOAL_EINVAL;
  unsigned char *out = shoal_malloc(h + sz);
  memcpy(out, hdr, h);
  if (sz) memcpy(out + h, body, sz);
  /* If the slot was reused since the check, the id no longer matches and
   * shoal_socket_send refuses (and frees) the frame. */
  return shoal_socket_send(ctx, id, out, h + sz);
}
