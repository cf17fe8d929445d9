/*
 * harbor_wire.h - the bytes two harbors exchange.
 *
 * Every frame: u32 length (big-endian, bytes after this field), u8 kind,
 * then the kind's body. Integers are big-endian.
 *
 *   HELLO  node u8, nonce[16], boot[8]           acceptor -> dialer, first
 *   PROOF  node u8, nonce[16], boot[8], mac[32]  dialer -> acceptor
 *   WELCOME mac[32]                              acceptor -> dialer: both proven
 *   REFUSE text                                  why the handshake failed
 *   MSG    ptype u8, source u32, dest u32, session i32, reserved u32, payload
 *   FIRST  ptype u8, source u32, dest u32, session i32, total u32, reserved u32, payload part
 *   MORE   payload part                          (a FIRST's continuation)
 *   PING   t u64 / PONG t u64                     heartbeat and round trip
 *   NAME   handle u32, name                      a cluster-global name
 *
 * A message larger than WIRE_CHUNK is sent as FIRST + MOREs. One connection
 * carries one peer's frames in order and the harbor writes a message's
 * frames together, so a receiver has at most one message in assembly.
 *
 * The macs: HMAC-SHA256 keyed by the shared secret over a role tag, both
 * node ids and both nonces, so a proof cannot be replayed on another
 * connection or reflected back to its sender.
 */
#ifndef SHOAL_HARBOR_WIRE_H
#define SHOAL_HARBOR_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum wire_kind {
  WIRE_HELLO = 1,
  WIRE_PROOF = 2,
  WIRE_WELCOME = 3,
  WIRE_REFUSE = 4,
  WIRE_MSG = 5,
  WIRE_FIRST = 6,
  WIRE_MORE = 7,
  WIRE_PING = 8,
  WIRE_PONG = 9,
  WIRE_NAME = 10,
};

#define WIRE_NONCE 16
#define WIRE_MAC 32
#define WIRE_BOOT 8 /* a process's random boot id */
#define WIRE_CHUNK (64 * 1024)          /* largest payload part in one frame */
#define WIRE_FRAME_MAX (WIRE_CHUNK + 64) /* largest frame body accepted */
#define WIRE_MSG_HEAD 18                /* kind + ptype + source + dest + session + reserved (0) */
#define WIRE_HANDSHAKE_FRAME_MAX 512    /* largest frame body before the handshake (HELLO..REFUSE) */

static inline void wire_put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static inline uint32_t wire_get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wire_put64(uint8_t *p, uint64_t v) {
  wire_put32(p, (uint32_t)(v >> 32));
  wire_put32(p + 4, (uint32_t)v);
}
static inline uint64_t wire_get64(const uint8_t *p) { return (uint64_t)wire_get32(p) << 32 | wire_get32(p + 4); }

/* Fills nonce with random bytes; 0 on success. */
int wire_nonce(uint8_t nonce[WIRE_NONCE]);
/* mac = HMAC-SHA256(secret, role | from | to | nonce_a | nonce_b). */
void wire_mac(const char *secret, size_t secretlen, char role, int from, int to,
              const uint8_t nonce_a[WIRE_NONCE], const uint8_t nonce_b[WIRE_NONCE], uint8_t mac[WIRE_MAC]);
/* Constant-time comparison of two macs: 1 when equal. */
int wire_mac_equal(const uint8_t a[WIRE_MAC], const uint8_t b[WIRE_MAC]);

/* Writes a frame header (length + kind) for a body of n bytes after the
 * kind; returns the bytes written (5). */
static inline size_t wire_head(uint8_t *p, int kind, size_t n) {
  wire_put32(p, (uint32_t)(n + 1));
  p[4] = (uint8_t)kind;
  return 5;
}

#endif
