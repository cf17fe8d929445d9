/*
 * bot_proto - the client side of Shoal's client protocol (docs/protocol.md,
 * version 1) for bench/bot: message encoding and decoding, the login key
 * exchange (X25519 + HKDF-SHA256) and sealed frames (ChaCha20-Poly1305 with
 * a counter nonce). Written from docs/protocol.md alone, as an independent
 * client would be; no Shoal headers.
 *
 * Bodies here are frame bodies (without the 2-byte length). Encoders write
 * into a caller buffer and return the body length, or -1 when it does not
 * fit. Decoders never trust the bytes: a short field, bytes left over or a
 * wrong id makes them return -1 (MALFORMED). Decoded strings point into the
 * body they came from (not copied, not NUL-terminated).
 */
#ifndef SHOAL_BOT_PROTO_H
#define SHOAL_BOT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define BOT_VERSION 1
#define BOT_KEY_LEN 32
#define BOT_NONCE_LEN 16
#define BOT_SEAL_OVERHEAD 24 /* SEQ (8) + TAG (16) */
#define BOT_MAX_CANDIDATES 16 /* candidates kept from LOGIN_OK; more are skipped */

/* Message ids (docs/protocol.md section 2). */
enum bot_msg {
  BOT_HELLO = 0x0001,
  BOT_WELCOME = 0x0002,
  BOT_REGISTER = 0x0003,
  BOT_LOGIN = 0x0004,
  BOT_GUEST = 0x0005,
  BOT_LOGIN_OK = 0x0006,
  BOT_ERROR = 0x0007,
  BOT_ENTER = 0x0010,
  BOT_ENTER_OK = 0x0011,
  BOT_KICK = 0x0012,
  BOT_LOGOUT = 0x0013,
  BOT_BYE = 0x0014,
  BOT_PING = 0x0015,
  BOT_PONG = 0x0016,
  BOT_REDIRECT = 0x0017,
  BOT_TICKET = 0x0018,
  BOT_RESUME = 0x0019,
  BOT_GATES = 0x001A,
  BOT_MOVE = 0x0100,
  BOT_MOVED = 0x0101,
  BOT_SAY = 0x0102,
  BOT_CHAT = 0x0103,
  BOT_WALK = 0x0104, /* the world's (section 6.2) */
  BOT_WORLD = 0x0105,
  BOT_AOI = 0x0106,
  BOT_PROP = 0x0107,
  BOT_SET_PROP = 0x0108,
  BOT_REFUSED = 0x0109,
  BOT_WHERE = 0x010A,
  BOT_HERE = 0x010B,
};

/* The error codes a client acts on (section 3); the others are counted by number. */
#define BOT_CODE_MAX 255 /* codes above are counted together */
enum bot_code {
  BOT_E_BUSY = 3,
  BOT_E_RATE = 4,
  BOT_E_NAME_TAKEN = 7,
  BOT_E_UNAVAILABLE = 13,
  BOT_E_TOKEN_USED = 16,
  BOT_E_LOGGED_IN_ELSEWHERE = 19,
  BOT_E_SHUTDOWN = 24,
};

/* A byte string inside a decoded body. */
struct bot_str {
  const unsigned char *p; /* into the body */
  size_t len;             /* bytes */
};

struct bot_candidate {
  struct bot_str host; /* gate address as text */
  uint16_t port;       /* gate port */
  uint8_t healthy;     /* 1 when the registry sees it healthy */
  uint32_t online;     /* players on it */
};

struct bot_welcome {
  uint16_t version;                      /* 1 */
  unsigned char server_eph[BOT_KEY_LEN]; /* ES */
  unsigned char nonce[BOT_NONCE_LEN];    /* N */
};

struct bot_login_ok {
  uint16_t version;                 /* 1 */
  uint64_t account, epoch;          /* who, and the winning epoch */
  struct bot_str gate_host;         /* where to ENTER */
  uint16_t gate_port;
  struct bot_str token;             /* opaque, single use */
  unsigned char c2s[BOT_KEY_LEN];   /* game connection keys */
  unsigned char s2c[BOT_KEY_LEN];
  uint8_t encrypted;                /* 1: the game connection is sealed */
  struct bot_str ticket;            /* resume ticket (opaque) */
  struct bot_str credential;        /* guest credential, 0 or 32 bytes */
  unsigned ncand;                   /* candidates announced (up to 255) */
  struct bot_candidate cand[BOT_MAX_CANDIDATES]; /* the first ones, best first */
};

struct bot_error {
  uint16_t code;
  uint32_t retry_after_ms;
  uint32_t queue_position;
  struct bot_str text;
};

struct bot_enter_ok {
  uint64_t account, epoch;
  struct bot_str name;
  int32_t x, y;
  uint32_t logins;
};

struct bot_redirect {
  struct bot_str host;            /* the baseapp's gate to ENTER */
  uint16_t port;
  struct bot_str token;           /* single use, like a login token */
  unsigned char c2s[BOT_KEY_LEN]; /* the new connection's keys */
  unsigned char s2c[BOT_KEY_LEN];
  uint8_t encrypted;
};

struct bot_chat {
  uint64_t account;
  struct bot_str name, text;
};

/* The world (section 6.2). */
#define BOT_AOI_RECORD 17 /* u8 kind | u64 account | f32 x | f32 y */
#define BOT_REFUSED_REASONS 9 /* reasons 1..8 (0: any other) */
struct bot_world {
  struct bot_str space;
  float width, height, radius, x, y, dir;
};
struct bot_here {
  uint32_t seq, applied;
  float x, y, dir;
};
struct bot_refused {
  uint8_t reason;
  float x, y;
  struct bot_str text;
};
struct bot_prop {
  uint64_t account;
  uint8_t own;
  struct bot_str key, value;
};

/* The id of a body, or -1 when it is shorter than an id. */
int bot_msg_id(const unsigned char *body, size_t len);

/* ---- encoders: body length, or -1 when it does not fit in cap ---- */
int bot_enc_hello(unsigned char *out, size_t cap, const unsigned char client_eph[BOT_KEY_LEN]);
/* REGISTER or LOGIN (id picks which): str name | str password. */
int bot_enc_credentials(unsigned char *out, size_t cap, int id, const char *name, const char *password);
int bot_enc_guest(unsigned char *out, size_t cap, const unsigned char *device, size_t dlen,
                  const unsigned char *cred, size_t clen);
int bot_enc_enter(unsigned char *out, size_t cap, uint64_t account, const unsigned char *token, size_t tlen);
int bot_enc_move(unsigned char *out, size_t cap, int32_t x, int32_t y);
int bot_enc_ping(unsigned char *out, size_t cap, uint32_t n);
int bot_enc_say(unsigned char *out, size_t cap, const char *text, size_t len);
int bot_enc_empty(unsigned char *out, size_t cap, int id); /* LOGOUT, WHERE */
int bot_enc_walk(unsigned char *out, size_t cap, float x, float y, float dir);
int bot_enc_set_prop(unsigned char *out, size_t cap, uint8_t scope, const char *key, const char *value);
/* RESUME (section 6.1): version | account | ticket | client_nonce | proof. */
int bot_enc_resume(unsigned char *out, size_t cap, uint64_t account, const unsigned char *ticket, size_t tlen,
                   const unsigned char nonce[BOT_NONCE_LEN], const unsigned char proof[BOT_KEY_LEN]);

/* ---- decoders: 0, or -1 when the body is not exactly that message ---- */
int bot_dec_welcome(const unsigned char *b, size_t len, struct bot_welcome *m);
int bot_dec_login_ok(const unsigned char *b, size_t len, struct bot_login_ok *m);
int bot_dec_error(const unsigned char *b, size_t len, struct bot_error *m);
int bot_dec_enter_ok(const unsigned char *b, size_t len, struct bot_enter_ok *m);
int bot_dec_kick(const unsigned char *b, size_t len, uint16_t *code, struct bot_str *text);
/* A message of one bytes/str field (TICKET). */
int bot_dec_bytes(const unsigned char *b, size_t len, int id, struct bot_str *s);
int bot_dec_u32(const unsigned char *b, size_t len, int id, uint32_t *n); /* PONG */
int bot_dec_moved(const unsigned char *b, size_t len, int32_t *x, int32_t *y);
int bot_dec_chat(const unsigned char *b, size_t len, struct bot_chat *m);
int bot_dec_redirect(const unsigned char *b, size_t len, struct bot_redirect *m);
int bot_dec_empty(const unsigned char *b, size_t len, int id); /* BYE */
int bot_dec_world(const unsigned char *b, size_t len, struct bot_world *m);
/* AOI: its records (a multiple of BOT_AOI_RECORD bytes, each kind 1..3). */
int bot_dec_aoi(const unsigned char *b, size_t len, struct bot_str *records);
int bot_dec_prop(const unsigned char *b, size_t len, struct bot_prop *m);
int bot_dec_refused(const unsigned char *b, size_t len, struct bot_refused *m);
int bot_dec_here(const unsigned char *b, size_t len, struct bot_here *m);
/* GATES: the first BOT_MAX_CANDIDATES entries into cand, their count (up to 255) into *n. */
int bot_dec_gates(const unsigned char *b, size_t len, struct bot_candidate *cand, unsigned *n);

/* ---- cryptography (OpenSSL libcrypto) ---- */

/* A fresh X25519 key pair from the CSPRNG. 0, or -1. */
int bot_x25519_keypair(unsigned char priv[BOT_KEY_LEN], unsigned char pub[BOT_KEY_LEN]);
/* The public key of a private key. 0, or -1. */
int bot_x25519_public(const unsigned char priv[BOT_KEY_LEN], unsigned char pub[BOT_KEY_LEN]);
/* X25519(priv, peer). 0, or -1 (also for an all-zero result: a low-order point). */
int bot_x25519(const unsigned char priv[BOT_KEY_LEN], const unsigned char peer[BOT_KEY_LEN],
               unsigned char out[BOT_KEY_LEN]);
/* HKDF-SHA256 (RFC 5869), L bytes into out. 0, or -1. */
int bot_hkdf_sha256(const unsigned char *ikm, size_t ikmlen, const unsigned char *salt, size_t saltlen,
                    const unsigned char *info, size_t infolen, unsigned char *out, size_t L);
/* A client's ephemeral X25519 key, kept in OpenSSL's form from HELLO to
 * WELCOME: building it from raw bytes again for each of the two exchanges
 * would cost a scalar multiplication each (OpenSSL derives the public key). */
struct bot_eph;
/* A fresh ephemeral key; its public key into pub. NULL on failure. */
struct bot_eph *bot_eph_new(unsigned char pub[BOT_KEY_LEN]);
/* The ephemeral key of a given private key (the worked examples). NULL on failure. */
struct bot_eph *bot_eph_from(const unsigned char priv[BOT_KEY_LEN], unsigned char pub[BOT_KEY_LEN]);
void bot_eph_free(struct bot_eph *e);
/* The client's half of section 4: from its ephemeral key ec (public EC),
 * the server's static public key SP and WELCOME's ES and N, the login
 * connection's keys. 0, or -1 (a low-order ES or SP). */
int bot_login_keys(const struct bot_eph *ec, const unsigned char EC[BOT_KEY_LEN], const unsigned char SP[BOT_KEY_LEN],
                   const struct bot_welcome *w, unsigned char c2s[BOT_KEY_LEN], unsigned char s2c[BOT_KEY_LEN]);

/* Section 6.1: R = HKDF(c2s | s2c, "", "shoal resume secret v1", 32);
 * proof = HMAC-SHA256(R, "shoal resume proof v1" | u64 account | nonce);
 * the resumed keys = HKDF(R, nonce, "shoal resume keys v1", 64). 0, or -1. */
int bot_resume_secret(const unsigned char c2s[BOT_KEY_LEN], const unsigned char s2c[BOT_KEY_LEN],
                      unsigned char r[BOT_KEY_LEN]);
int bot_resume_proof(const unsigned char r[BOT_KEY_LEN], uint64_t account, const unsigned char nonce[BOT_NONCE_LEN],
                     unsigned char proof[BOT_KEY_LEN]);
int bot_resume_keys(const unsigned char r[BOT_KEY_LEN], const unsigned char nonce[BOT_NONCE_LEN],
                    unsigned char c2s[BOT_KEY_LEN], unsigned char s2c[BOT_KEY_LEN]);
/* n bytes from the CSPRNG. 0, or -1. */
int bot_random(unsigned char *out, size_t n);

/* One AEAD context for a thread's seals and opens (OpenSSL keeps state in it). */
struct bot_aead;
struct bot_aead *bot_aead_new(void);
void bot_aead_free(struct bot_aead *a);
/* Seals msg as frame SEQ seq with key: SEQ | CIPHERTEXT | TAG into out.
 * The sealed length, or -1 (does not fit in cap). */
int bot_seal(struct bot_aead *a, const unsigned char key[BOT_KEY_LEN], uint64_t seq, const unsigned char *msg,
             size_t len, unsigned char *out, size_t cap);
/* Opens a sealed body that must carry SEQ seq; the message goes to out
 * (at least len - 24 bytes). Its length, or -1 (short, wrong SEQ, forged). */
int bot_open(struct bot_aead *a, const unsigned char key[BOT_KEY_LEN], uint64_t seq, const unsigned char *body,
             size_t len, unsigned char *out);

#endif
