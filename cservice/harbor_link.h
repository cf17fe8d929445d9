/*
 * harbor_link.h - reading one harbor connection: cuts the byte stream into
 * frames (harbor_wire.h) and reassembles messages sent in several frames.
 *
 * The reader keeps at most one partial frame and one message in assembly;
 * a frame body over WIRE_FRAME_MAX or a message over the configured maximum
 * is a protocol error, reported once, after which the link must be closed.
 *
 * A new reader is for a connection that has not proven the secret: it
 * refuses message frames (MSG, FIRST, MORE) and any frame body over
 * WIRE_HANDSHAKE_FRAME_MAX at once, so a stranger cannot make it allocate
 * more than one small frame. link_reader_allow_messages lifts both limits
 * when the handshake succeeds.
 */
#ifndef SHOAL_HARBOR_LINK_H
#define SHOAL_HARBOR_LINK_H

#include <stddef.h>
#include <stdint.h>

struct link_reader;

struct link_message {
  int type;
  uint32_t source, dest;
  int session;
  void *data; /* shoal_malloc'ed: the handler owns it */
  size_t size;
};

struct link_handler {
  /* A frame that is not part of a message (handshake, ping, name...). */
  void (*frame)(void *ud, int kind, const uint8_t *body, size_t len);
  /* A whole message. */
  void (*message)(void *ud, struct link_message *m);
};

struct link_reader *link_reader_new(size_t max_message);
/* The link is proven: message frames and full-size frames are read from
 * now on (also for the rest of the buffer being fed). */
void link_reader_allow_messages(struct link_reader *r);
void link_reader_free(struct link_reader *r);
/* Feeds bytes; returns 0, or -1 with a reason in err (the link is broken).
 * Stops early (returning 0) when *stop becomes non-zero in a callback. */
int link_reader_feed(struct link_reader *r, const uint8_t *data, size_t n, const struct link_handler *h, void *ud,
                     const int *stop, char *err, size_t errlen);

#endif
