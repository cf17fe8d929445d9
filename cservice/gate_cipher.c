/*
 * gate_cipher.c - the gate's AEAD mode (docs/gate.md, "Encrypted
 * connections"): a connection switched by the `cipher` command has every
 * later frame from the client opened here before it reaches its agent,
 * and every frame written to it sealed by the socket layer
 * (core/socket_frame.c), whoever writes it.
 *
 * The frames are lualib/src/crypto_aead.c's (ChaCha20-Poly1305, SEQ | CT |
 * TAG, nonce 4 zero bytes | SEQ, no associated data), one implementation
 * linked into the gate and snlua. Each direction has its own key: the
 * opener (client to server) lives in the connection and is used by the
 * gate's own thread; the sealer (server to client) belongs to the socket,
 * used under its lock by whichever worker writes a frame.
 *
 * The switch. The command is `cipher CONN C2S S2C[ ACK]`, keys in hex (64
 * digits each), ACK the rest of the message after one space (raw bytes,
 * possibly empty). On it the gate, in one step: writes ACK (when given) as
 * the last clear frame and installs the sealer (one hold of the socket's
 * lock: no frame of another writer can come between), then installs the
 * opener, so every frame parsed after the command is opened. Since the
 * client learns of the switch from ACK, which the gate writes here, no
 * frame the client seals can be parsed before the opener is in place.
 *
 * Keys never reach a log line: the command's text is never logged, and the
 * message and the decoded keys are wiped once used.
 */
#include <openssl/crypto.h>
#include <string.h>

#include "crypto_aead.h"
#include "crypto_prim.h"
#include "gate_int.h"
#include "socket_frame.h"

#define KEY_HEX (2 * SHOAL_CRYPTO_AEAD_KEY)

static int seal(void *ud, const void *plain, size_t n, unsigned char *out) {
  return shoal_crypto_aead_seal(ud, plain, n, NULL, 0, out);
}

static void release(void *ud) { shoal_crypto_aead_free(ud); }

static const struct shoal_frame_cipher sealer_ops = {SHOAL_CRYPTO_AEAD_OVERHEAD, SHOAL_CRYPTO_AEAD_MAX, seal,
                                                     release};

/* The close reason of a frame the opener refused. */
static const char *refusal(int code) {
  switch (code) {
    case SHOAL_EREPLAYED:
      return "replayed frame";
    case SHOAL_EREORDERED:
      return "reordered frame";
    case SHOAL_EFORGED:
      return "forged frame";
    case SHOAL_EEXHAUSTED:
      return "frame sequence exhausted";
    default:
      return "malformed frame";
  }
}

int gate_cipher_open(struct gate *g, struct gate_conn *c, void **body, uint32_t *size) {
  unsigned char *frame = *body;
  uint32_t n = *size;
  /* In place: the plaintext is written over the ciphertext (EVP allows
   * in == out), then moved to the front of the buffer. */
  int r = n < SHOAL_CRYPTO_AEAD_OVERHEAD
              ? SHOAL_EMALFORMED
              : shoal_crypto_aead_open(c->opener, frame, n, NULL, 0, frame + SHOAL_CRYPTO_AEAD_SEQ);
  if (r != 0) {
    shoal_free(frame);
    *body = NULL;
    g->forgeries++;
    gate_conn_log(g, SHOAL_LOG_WARN, "gate: connection %d (%s) closed: %s (%u bytes: %s)", c->id, c->addr,
                  refusal(r), n, shoal_strerror(r));
    gate_drop_conn(g, c, refusal(r));
    return r;
  }
  uint32_t len = n - SHOAL_CRYPTO_AEAD_OVERHEAD;
  if (len == 0) {
    shoal_free(frame);
    frame = NULL;
  } else {
    memmove(frame, frame + SHOAL_CRYPTO_AEAD_SEQ, len);
  }
  *body = frame;
  *size = len;
  return 0;
}

void gate_cipher_forget(struct gate_conn *c) {
  shoal_crypto_aead_free(c->opener);
  c->opener = NULL;
}

/* Reads "CONN C2S S2C[ ACK]" (the part after "cipher "). Returns 0 with
 * the keys decoded and *ack, *acklen set (*ack NULL when there is none),
 * or -1 (the connection may still have been read: *id, 0 if not). */
static int parse(const char *p, size_t n, int *id, unsigned char c2s[SHOAL_CRYPTO_AEAD_KEY],
                 unsigned char s2c[SHOAL_CRYPTO_AEAD_KEY], const char **ack, size_t *acklen) {
  size_t i = 0;
  long v = 0;
  *id = 0;
  while (i < n && i < 11 && p[i] >= '0' && p[i] <= '9') v = v * 10 + (p[i++] - '0');
  if (i == 0 || i >= n || p[i] != ' ' || v <= 0 || v > 0x7fffffffL) return -1;
  *id = (int)v;
  i++;
  if (n - i < 2 * KEY_HEX + 1 || p[i + KEY_HEX] != ' ') return -1;
  if (shoal_crypto_hex_decode(p + i, KEY_HEX, c2s, SHOAL_CRYPTO_AEAD_KEY) != SHOAL_CRYPTO_AEAD_KEY) return -1;
  i += KEY_HEX + 1;
  if (shoal_crypto_hex_decode(p + i, KEY_HEX, s2c, SHOAL_CRYPTO_AEAD_KEY) != SHOAL_CRYPTO_AEAD_KEY) return -1;
  i += KEY_HEX;
  *ack = NULL;
  *acklen = 0;
  if (i == n) return 0;
  if (p[i] != ' ') return -1;
  *ack = p + i + 1;
  *acklen = n - i - 1;
  return 0;
}

/* The switch itself; 0, or the close reason's code. */
static int switch_conn(struct gate *g, struct gate_conn *c, const unsigned char c2s[SHOAL_CRYPTO_AEAD_KEY],
                       const unsigned char s2c[SHOAL_CRYPTO_AEAD_KEY], const char *ack, size_t acklen) {
  struct shoal_crypto_aead *opener = shoal_crypto_aead_new(c2s, 0);
  struct shoal_crypto_aead *sealer = shoal_crypto_aead_new(s2c, 1);
  if (opener == NULL || sealer == NULL) {
    shoal_crypto_aead_free(opener);
    shoal_crypto_aead_free(sealer);
    return SHOAL_ENOMEM;
  }
  int r = shoal_socket_set_cipher(c->id, &sealer_ops, sealer, ack, acklen); /* sealer is the socket's now */
  if (r != 0) {
    shoal_crypto_aead_free(opener);
    return r;
  }
  c->opener = opener;
  g->ciphered++;
  return 0;
}

/* A cipher command sent as a request (session > 0) is answered once the
 * switch is done: a RESPONSE (empty) when the connection is encrypted, an
 * ERROR with the code otherwise. The caller can then write to the
 * connection straight away, knowing every later frame is sealed; a one-way
 * command leaves it to the ack frame to order the switch. */
static void answer(struct gate *g, uint32_t source, int session, int code, const char *why) {
  if (session <= 0) return;
  if (code == 0) shoal_send(g->ctx, 0, source, SHOAL_PTYPE_RESPONSE, session, NULL, 0);
  else shoal_reply_error(g->ctx, source, session, code, why, strlen(why));
}

void gate_cipher_command(struct gate *g, uint32_t source, int session, char *msg, size_t sz) {
  static const char prefix[] = "cipher ";
  const size_t plen = sizeof(prefix) - 1;
  unsigned char c2s[SHOAL_CRYPTO_AEAD_KEY], s2c[SHOAL_CRYPTO_AEAD_KEY];
  const char *ack;
  size_t acklen;
  int id = 0;
  int bad = sz < plen || msg[plen - 1] != ' ' ? -1 : parse(msg + plen, sz - plen, &id, c2s, s2c, &ack, &acklen);
  struct gate_conn *c = id ? gate_find_conn(g, id) : NULL;
  if (bad) {
    shoal_log(g->ctx, SHOAL_LOG_WARN,
              "gate: malformed cipher command (%zu bytes) from :%08x (cipher CONN C2S S2C [ACK], keys 64 hex "
              "digits)%s",
              sz, source, c && !c->closing ? ": its connection is closed" : ", ignored");
    if (c && !c->closing) gate_drop_conn(g, c, "bad cipher command");
    answer(g, source, session, SHOAL_EINVAL, "malformed cipher command");
  } else if (c == NULL || c->closing) {
    if (shoal_log_enabled(SHOAL_LOG_DEBUG))
      shoal_log(g->ctx, SHOAL_LOG_DEBUG, "gate: cipher %d: no such connection", id);
    answer(g, source, session, SHOAL_ENOSERVICE, "no such connection");
  } else if (c->opener) {
    gate_conn_log(g, SHOAL_LOG_WARN, "gate: connection %d (%s) closed: a second cipher command from :%08x", c->id,
                  c->addr, source);
    gate_drop_conn(g, c, "bad cipher command");
    answer(g, source, session, SHOAL_EINVAL, "a second cipher command");
  } else {
    int r = switch_conn(g, c, c2s, s2c, ack, acklen);
    if (r == SHOAL_EINVAL || r == SHOAL_ENOMEM) {
      gate_conn_log(g, SHOAL_LOG_WARN, "gate: connection %d (%s) closed: cipher command from :%08x failed: %s",
                    c->id, c->addr, source,
                    r == SHOAL_EINVAL ? "its clear frame does not fit the length header" : shoal_strerror(r));
      gate_drop_conn(g, c, "bad cipher command");
    } else if (r == 0 && shoal_log_enabled(SHOAL_LOG_DEBUG)) {
      shoal_log(g->ctx, SHOAL_LOG_DEBUG, "gate: connection %d (%s) encrypted by :%08x", c->id, c->addr, source);
    }
    /* ENOSERVICE / EFULL: the socket is gone or failing; its close event
     * follows. */
    answer(g, source, session, r, r == 0 ? "" : r == SHOAL_EINVAL ? "the ack does not fit the length header" : shoal_strerror(r));
  }
  OPENSSL_cleanse(c2s, sizeof(c2s));
  OPENSSL_cleanse(s2c, sizeof(s2c));
  OPENSSL_cleanse(msg, sz);
}
