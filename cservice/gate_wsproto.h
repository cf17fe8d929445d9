/*
 * gate_wsproto.h - WebSocket (RFC 6455) for the gate, server side: the
 * opening handshake and an incremental frame parser. Pure C: no runtime
 * calls, no globals; the allocator is passed in, so it is unit-tested and
 * fuzzed on its own (fuzz/fuzz_ws.c). The gate's glue is gate_ws.c.
 *
 * Handshake: shoal_ws_handshake reads the client's HTTP request (its head,
 * up to SHOAL_WS_HEAD_MAX bytes) and writes the whole HTTP response: 101
 * with Sec-WebSocket-Accept (SHA-1 + base64, OpenSSL), or an error status
 * with a one-line plain-text body saying why.
 *
 * Frames: shoal_ws_feed takes the bytes of the stream as they arrive, in
 * pieces of any size, and returns one event at a time: a complete binary
 * message (all its fragments joined, at most max bytes, copied once from
 * the unmasked frames into a buffer the caller then owns), a ping, a pong
 * or a close (their payload in the parser), or an error that sticks, with
 * the close code the server sends for it.
 */
#ifndef SHOAL_GATE_WSPROTO_H
#define SHOAL_GATE_WSPROTO_H

#include <stddef.h>
#include <stdint.h>

/* The largest request head (request line and headers) read. */
#define SHOAL_WS_HEAD_MAX 8192
/* The largest control frame payload (RFC 6455 5.5). */
#define SHOAL_WS_CONTROL_MAX 125
/* Bytes of a server frame's header at most: 2 + 8 (no mask). */
#define SHOAL_WS_HEADER_MAX 10

/* Close codes (RFC 6455 7.4.1). */
#define SHOAL_WS_CLOSE_NORMAL 1000
#define SHOAL_WS_CLOSE_GOING_AWAY 1001
#define SHOAL_WS_CLOSE_PROTOCOL 1002
#define SHOAL_WS_CLOSE_UNSUPPORTED 1003
#define SHOAL_WS_CLOSE_POLICY 1008
#define SHOAL_WS_CLOSE_TOO_BIG 1009
#define SHOAL_WS_CLOSE_INTERNAL 1011

/* Results of shoal_ws_feed. */
enum shoal_ws_result {
  SHOAL_WS_MORE = 0,     /* every byte consumed, nothing complete yet */
  SHOAL_WS_MESSAGE = 1,  /* a binary message is complete: body/size are set */
  SHOAL_WS_PING = 2,     /* a ping: its payload is ctl[0..ctl_len) */
  SHOAL_WS_PONG = 3,     /* a pong (ignored by the gate) */
  SHOAL_WS_CLOSE = 4,    /* a close: close_code (0: none given), reason in ctl[2..ctl_len) */
  SHOAL_WS_EUNMASKED = -1, /* a client frame without the mask bit */
  SHOAL_WS_ERSV = -2,      /* reserved bits set (no extension is negotiated) */
  SHOAL_WS_EOPCODE = -3,   /* a reserved opcode */
  SHOAL_WS_ETEXT = -4,     /* a text message: the gate takes binary ones only */
  SHOAL_WS_ECONTROL = -5,  /* a control frame fragmented or over 125 bytes */
  SHOAL_WS_ESEQUENCE = -6, /* a continuation with no message begun, or a new message inside one */
  SHOAL_WS_ELENGTH = -7,   /* a 64-bit length with the top bit set, or not in its shortest form */
  SHOAL_WS_ECLOSE = -8,    /* a close payload of 1 byte or with an invalid code */
  SHOAL_WS_ETOOBIG = -9,   /* a message over max bytes */
  SHOAL_WS_ENOMEM = -10,   /* the allocator returned NULL */
};

typedef void *(*shoal_ws_alloc)(size_t sz);
typedef void (*shoal_ws_free)(void *p);

struct shoal_ws_parser {
  shoal_ws_alloc alloc;     /* allocates message buffers (never for 0 bytes) */
  shoal_ws_free dealloc;    /* frees them */
  uint32_t max;             /* largest message accepted */
  int failed;               /* sticky error (a negative result), 0 if none */
  uint8_t hgot;             /* header bytes gathered so far */
  uint8_t hneed;            /* header bytes this frame has (2 until the second byte is known) */
  uint8_t hbuf[14];         /* the frame header being gathered */
  uint8_t opcode;           /* the current frame's opcode (valid once the header is complete) */
  uint8_t fin;              /* its FIN bit */
  uint8_t in_message;       /* a fragmented binary message is being joined */
  uint8_t mask[4];          /* its masking key */
  uint64_t flen;            /* its payload length */
  uint64_t fgot;            /* payload bytes read so far */
  char *body;               /* the message being joined, owned; NULL if none */
  uint32_t size;            /* its bytes so far */
  uint32_t cap;             /* its buffer's size */
  uint8_t ctl[SHOAL_WS_CONTROL_MAX]; /* a control frame's payload */
  uint8_t ctl_len;          /* its length */
  uint16_t close_code;      /* a close frame's code, 0 if it had none */
};

/* Prepares p for a new stream of client frames; max is the largest
 * message accepted. */
void shoal_ws_init(struct shoal_ws_parser *p, uint32_t max, shoal_ws_alloc alloc, shoal_ws_free dealloc);

/* Consumes bytes from data[0..n) until one event completes or the input
 * ends; *used says how many were consumed. MESSAGE: *body / *size hold
 * the message (the caller owns *body, NULL when empty). PING, PONG,
 * CLOSE: the payload is in p (valid until the next call). MORE: all n
 * bytes were consumed. A negative result sticks: the connection must be
 * closed with shoal_ws_close_code(result). */
int shoal_ws_feed(struct shoal_ws_parser *p, const void *data, size_t n, size_t *used, void **body, uint32_t *size);

/* Bytes of an unfinished frame or message held: nonzero at the end of a
 * stream means it ended inside one. */
size_t shoal_ws_pending(const struct shoal_ws_parser *p);

/* Frees a partial message and clears any error. */
void shoal_ws_reset(struct shoal_ws_parser *p);

/* The close code the server sends for an error result. */
int shoal_ws_close_code(int result);
/* Human-readable text of a result. */
const char *shoal_ws_strerror(int result);

/* Writes the header of a server frame (FIN set, no mask) of opcode and a
 * payload of len bytes into out; returns its length (2, 4 or 10). */
size_t shoal_ws_frame_header(int opcode, uint64_t len, unsigned char out[SHOAL_WS_HEADER_MAX]);

/* Builds a close frame with code and reason (cut to fit 125 bytes) into
 * out; returns its length. */
size_t shoal_ws_close_frame(int code, const char *reason, unsigned char out[2 + SHOAL_WS_CONTROL_MAX]);

/* What the handshake checks besides the protocol. */
struct shoal_ws_policy {
  const char *path;    /* the request path the gate serves (the target before '?') */
  const char *origins; /* comma-separated Origin values allowed; "" or "*": any */
};

/* Reads a request head from buf[0..n). Returns 0 while the head is
 * incomplete (and n < SHOAL_WS_HEAD_MAX); else the HTTP status decided
 * (101, or 400, 403, 404, 405, 426, 431), with the full response written
 * to reply (NUL-terminated; replycap at least 512) and *used set to the
 * head's length (the bytes after it are the first frames). why gets a
 * short reason (static text). */
int shoal_ws_handshake(const char *buf, size_t n, const struct shoal_ws_policy *policy, size_t *used, char *reply,
                       size_t replycap, const char **why);

/* Sec-WebSocket-Accept of key (its 24 characters): 28 characters and a NUL. */
void shoal_ws_accept_key(const char *key, size_t keylen, char out[29]);

#endif
