/*
 * bot_proto - message codec and cryptography of the client protocol for
 * bench/bot (see bot_proto.h and docs/protocol.md).
 */
#include "bot_proto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

/* ---- writing ---- */

/* An output cursor; ok drops to 0 on the first write past cap. */
struct wr {
  unsigned char *p;
  size_t len, cap;
  int ok;
};

static void put(struct wr *w, const void *src, size_t n) {
  if (!w->ok || n > w->cap - w->len) {
    w->ok = 0;
    return;
  }
  if (n) memcpy(w->p + w->len, src, n); /* src may be NULL when n is 0 */
  w->len += n;
}

static void put_u16(struct wr *w, unsigned v) {
  unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
  put(w, b, 2);
}

static void put_u32(struct wr *w, uint32_t v) {
  unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                        (unsigned char)v};
  put(w, b, 4);
}

static void put_u64(struct wr *w, uint64_t v) {
  put_u32(w, (uint32_t)(v >> 32));
  put_u32(w, (uint32_t)v);
}

/* str and bytes: u16 length then the bytes. */
static void put_str(struct wr *w, const void *s, size_t n) {
  if (n > 0xffff) {
    w->ok = 0;
    return;
  }
  put_u16(w, (unsigned)n);
  put(w, s, n);
}

static int done(struct wr *w) { return w->ok ? (int)w->len : -1; }

#define WR(out, cap) {(out), 0, (cap), 1}

/* ---- reading ---- */

/* An input cursor; ok drops to 0 on the first read past the end. */
struct rd {
  const unsigned char *p;
  size_t len, pos;
  int ok;
};

static const unsigned char *take(struct rd *r, size_t n) {
  if (!r->ok || n > r->len - r->pos) {
    r->ok = 0;
    return NULL;
  }
  const unsigned char *s = r->p + r->pos;
  r->pos += n;
  return s;
}

static unsigned get_u8(struct rd *r) {
  const unsigned char *s = take(r, 1);
  return s ? s[0] : 0;
}

static unsigned get_u16(struct rd *r) {
  const unsigned char *s = take(r, 2);
  return s ? (unsigned)s[0] << 8 | s[1] : 0;
}

static uint32_t get_u32(struct rd *r) {
  const unsigned char *s = take(r, 4);
  return s ? (uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 | s[3] : 0;
}

static uint64_t get_u64(struct rd *r) {
  uint64_t hi = get_u32(r);
  return hi << 32 | get_u32(r);
}

static int32_t get_i32(struct rd *r) {
  uint32_t u = get_u32(r);
  return u <= INT32_MAX ? (int32_t)u : (int32_t)(u - 0x80000000u) + INT32_MIN;
}

static void get_str(struct rd *r, struct bot_str *s) {
  size_t n = get_u16(r);
  s->p = take(r, n);
  s->len = s->p ? n : 0;
}

static void get_fixed(struct rd *r, unsigned char *dst, size_t n) {
  const unsigned char *s = take(r, n);
  if (s) memcpy(dst, s, n);
}

/* A cursor past the id, ok only when the body starts with id. */
static struct rd open_msg(const unsigned char *b, size_t len, int id) {
  struct rd r = {b, len, 0, 1};
  if ((int)get_u16(&r) != id) r.ok = 0;
  return r;
}

/* 0 when every byte was read and none was missing. */
static int finish(const struct rd *r) { return r->ok && r->pos == r->len ? 0 : -1; }

int bot_msg_id(const unsigned char *body, size_t len) { return len < 2 ? -1 : (int)(body[0] << 8 | body[1]); }

/* ---- encoders ---- */

int bot_enc_hello(unsigned char *out, size_t cap, const unsigned char client_eph[BOT_KEY_LEN]) {
  struct wr w = WR(out, cap);
  put_u16(&w, BOT_HELLO);
  put_u16(&w, BOT_VERSION);
  put(&w, client_eph, BOT_KEY_LEN);
  return done(&w);
}

int bot_enc_credentials(unsigned char *out, size_t cap, int id, const char *name, const char *password) {
  struct wr w = WR(out, cap);
  put_u16(&w, (unsigned)id);
  put_str(&w, name, strlen(name));
  put_str(&w, password, strlen(password));
  return done(&w);
}

int bot_enc_guest(unsigned char *out, size_t cap, const unsigned char *device, size_t dlen,
                  const unsigned char *cred, size_t clen) {
  struct wr w = WR(out, cap);
  put_u16(&w, BOT_GUEST);
  put_str(&w, device, dlen);
  put_str(&w, cred, clen);
  return done(&w);
}

int bot_enc_enter(unsigned char *out, size_t cap, uint64_t account, const unsigned char *token, size_t tlen) {
  struct wr w = WR(out, cap);
  put_u16(&w, BOT_ENTER);
  put_u16(&w, BOT_VERSION);
  put_u64(&w, account);
  put_str(&w, token, tlen);
  return done(&w);
}

int bot_enc_resume(unsigned char *out, size_t cap, uint64_t account, const unsigned char *ticket, size_t tlen,
                   const unsigned char nonce[BOT_NONCE_LEN], const unsigned char proof[BOT_KEY_LEN]) {
  struct wr w = WR(out, cap);
  put_u16(&w, BOT_RESUME);
  put_u16(&w, BOT_VERSION);
  put_u64(&w, account);
  put_str(&w, ticket, tlen);
  put(&w, nonce, BOT_NONCE_LEN);
  put(&w, proof, BOT_KEY_LEN);
  return done(&w);
}

int bot_enc_move(unsigned char *out, size_t cap, int32_t x, int32_t y) {
  struct wr w = WR(out, cap);
  put_u16(&w, BOT_MOVE);
  put_u32(&w, (uint32_t)x);
  put_u32(&w, (uint32_t)y);
  return done(&w);
}

int bot_enc_ping(unsigned char *out, size_t cap, uint32_t n) {
  struct wr w = WR(out, cap);
  put_u16(&w, BOT_PING);
  put_u32(&w, n);
  return done(&w);
}

int bot_enc_say(unsigned char *out, size_t cap, const char *text, size_t len) {
  struct wr w = WR(out, cap);
  put_u16(&w, BOT_SAY);
  put_str(&w, text, len);
  return done(&w);
}

int bot_enc_empty(unsigned char *out, size_t cap, int id) {
  struct wr w = WR(out, cap);
  put_u16(&w, (unsigned)id);
  return done(&w);
}

/* ---- decoders ---- */

int bot_dec_welcome(const unsigned char *b, size_t len, struct bot_welcome *m) {
  struct rd r = open_msg(b, len, BOT_WELCOME);
  m->version = (uint16_t)get_u16(&r);
  get_fixed(&r, m->server_eph, BOT_KEY_LEN);
  get_fixed(&r, m->nonce, BOT_NONCE_LEN);
  return finish(&r);
}

/* u8 count | count x (str host | u16 port | u8 healthy | u32 online): the
 * first BOT_MAX_CANDIDATES kept. */
static void get_candidates(struct rd *r, struct bot_candidate *cand, unsigned *n) {
  *n = get_u8(r);
  for (unsigned i = 0; i < *n && r->ok; i++) {
    struct bot_candidate c;
    get_str(r, &c.host);
    c.port = (uint16_t)get_u16(r);
    c.healthy = (uint8_t)get_u8(r);
    c.online = get_u32(r);
    if (i < BOT_MAX_CANDIDATES) cand[i] = c;
  }
}

int bot_dec_login_ok(const unsigned char *b, size_t len, struct bot_login_ok *m) {
  struct rd r = open_msg(b, len, BOT_LOGIN_OK);
  m->version = (uint16_t)get_u16(&r);
  m->account = get_u64(&r);
  m->epoch = get_u64(&r);
  get_str(&r, &m->gate_host);
  m->gate_port = (uint16_t)get_u16(&r);
  get_str(&r, &m->token);
  get_fixed(&r, m->c2s, BOT_KEY_LEN);
  get_fixed(&r, m->s2c, BOT_KEY_LEN);
  m->encrypted = (uint8_t)get_u8(&r);
  get_str(&r, &m->ticket);
  get_str(&r, &m->credential);
  get_candidates(&r, m->cand, &m->ncand);
  return finish(&r);
}

int bot_dec_gates(const unsigned char *b, size_t len, struct bot_candidate *cand, unsigned *n) {
  struct rd r = open_msg(b, len, BOT_GATES);
  get_candidates(&r, cand, n);
  return finish(&r);
}

int bot_dec_error(const unsigned char *b, size_t len, struct bot_error *m) {
  struct rd r = open_msg(b, len, BOT_ERROR);
  m->code = (uint16_t)get_u16(&r);
  m->retry_after_ms = get_u32(&r);
  m->queue_position = get_u32(&r);
  get_str(&r, &m->text);
  return finish(&r);
}

int bot_dec_enter_ok(const unsigned char *b, size_t len, struct bot_enter_ok *m) {
  struct rd r = open_msg(b, len, BOT_ENTER_OK);
  m->account = get_u64(&r);
  m->epoch = get_u64(&r);
  get_str(&r, &m->name);
  m->x = get_i32(&r);
  m->y = get_i32(&r);
  m->logins = get_u32(&r);
  return finish(&r);
}

int bot_dec_kick(const unsigned char *b, size_t len, uint16_t *code, struct bot_str *text) {
  struct rd r = open_msg(b, len, BOT_KICK);
  *code = (uint16_t)get_u16(&r);
  get_str(&r, text);
  return finish(&r);
}

int bot_dec_bytes(const unsigned char *b, size_t len, int id, struct bot_str *s) {
  struct rd r = open_msg(b, len, id);
  get_str(&r, s);
  return finish(&r);
}

int bot_dec_u32(const unsigned char *b, size_t len, int id, uint32_t *n) {
  struct rd r = open_msg(b, len, id);
  *n = get_u32(&r);
  return finish(&r);
}

int bot_dec_moved(const unsigned char *b, size_t len, int32_t *x, int32_t *y) {
  struct rd r = open_msg(b, len, BOT_MOVED);
  *x = get_i32(&r);
  *y = get_i32(&r);
  return finish(&r);
}

int bot_dec_chat(const unsigned char *b, size_t len, struct bot_chat *m) {
  struct rd r = open_msg(b, len, BOT_CHAT);
  m->account = get_u64(&r);
  get_str(&r, &m->name);
  get_str(&r, &m->text);
  return finish(&r);
}

int bot_dec_redirect(const unsigned char *b, size_t len, struct bot_redirect *m) {
  struct rd r = open_msg(b, len, BOT_REDIRECT);
  get_str(&r, &m->host);
  m->port = (uint16_t)get_u16(&r);
  get_str(&r, &m->token);
  get_fixed(&r, m->c2s, BOT_KEY_LEN);
  get_fixed(&r, m->s2c, BOT_KEY_LEN);
  m->encrypted = (uint8_t)get_u8(&r);
  return finish(&r);
}

int bot_dec_empty(const unsigned char *b, size_t len, int id) {
  struct rd r = open_msg(b, len, id);
  return finish(&r);
}

/* ---- the world (section 6.2): f32 are IEEE 754 binary32, big-endian ---- */

static void put_f32(struct wr *w, float f) {
  uint32_t v;
  memcpy(&v, &f, 4);
  put_u32(w, v);
}

static float get_f32(struct rd *r) {
  uint32_t v = get_u32(r);
  float f;
  memcpy(&f, &v, 4);
  return f;
}

int bot_enc_walk(unsigned char *out, size_t cap, float x, float y, float dir) {
  struct wr w = WR(out, cap);
  put_u16(&w, BOT_WALK);
  put_f32(&w, x);
  put_f32(&w, y);
  put_f32(&w, dir);
  return done(&w);
}

int bot_enc_set_prop(unsigned char *out, size_t cap, uint8_t scope, const char *key, const char *value) {
  struct wr w = WR(out, cap);
  put_u16(&w, BOT_SET_PROP);
  put(&w, &scope, 1);
  put_str(&w, key, strlen(key));
  put_str(&w, value, strlen(value));
  return done(&w);
}

int bot_dec_world(const unsigned char *b, size_t len, struct bot_world *m) {
  struct rd r = open_msg(b, len, BOT_WORLD);
  get_str(&r, &m->space);
  m->width = get_f32(&r);
  m->height = get_f32(&r);
  m->radius = get_f32(&r);
  m->x = get_f32(&r);
  m->y = get_f32(&r);
  m->dir = get_f32(&r);
  return finish(&r);
}

int bot_dec_aoi(const unsigned char *b, size_t len, struct bot_str *records) {
  struct rd r = open_msg(b, len, BOT_AOI);
  get_str(&r, records);
  if (finish(&r) < 0 || records->len % BOT_AOI_RECORD != 0) return -1;
  for (size_t i = 0; i < records->len; i += BOT_AOI_RECORD)
    if (records->p[i] < 1 || records->p[i] > 3) return -1;
  return 0;
}

int bot_dec_prop(const unsigned char *b, size_t len, struct bot_prop *m) {
  struct rd r = open_msg(b, len, BOT_PROP);
  m->account = get_u64(&r);
  m->own = (uint8_t)get_u8(&r);
  get_str(&r, &m->key);
  get_str(&r, &m->value);
  return finish(&r);
}

int bot_dec_refused(const unsigned char *b, size_t len, struct bot_refused *m) {
  struct rd r = open_msg(b, len, BOT_REFUSED);
  m->reason = (uint8_t)get_u8(&r);
  m->x = get_f32(&r);
  m->y = get_f32(&r);
  get_str(&r, &m->text);
  return finish(&r);
}

int bot_dec_here(const unsigned char *b, size_t len, struct bot_here *m) {
  struct rd r = open_msg(b, len, BOT_HERE);
  m->seq = get_u32(&r);
  m->applied = get_u32(&r);
  m->x = get_f32(&r);
  m->y = get_f32(&r);
  m->dir = get_f32(&r);
  return finish(&r);
}

/* ---- cryptography ---- */

int bot_x25519_public(const unsigned char priv[BOT_KEY_LEN], unsigned char pub[BOT_KEY_LEN]) {
  EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, BOT_KEY_LEN);
  size_t n = BOT_KEY_LEN;
  int ok = k && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == BOT_KEY_LEN;
  EVP_PKEY_free(k);
  return ok ? 0 : -1;
}

int bot_x25519_keypair(unsigned char priv[BOT_KEY_LEN], unsigned char pub[BOT_KEY_LEN]) {
  if (RAND_bytes(priv, BOT_KEY_LEN) != 1) return -1;
  return bot_x25519_public(priv, pub);
}

/* X25519(mine, peer) into out; 0, or -1 (also for an all-zero result: a low-order point). */
static int derive(EVP_PKEY *mine, const unsigned char peer[BOT_KEY_LEN], unsigned char out[BOT_KEY_LEN]) {
  EVP_PKEY *theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, BOT_KEY_LEN);
  EVP_PKEY_CTX *ctx = mine ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
  size_t n = BOT_KEY_LEN;
  /* OpenSSL already refuses an all-zero shared secret; the check below
   * says so here instead of relying on it. */
  int ok = ctx && theirs && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, theirs) == 1 &&
           EVP_PKEY_derive(ctx, out, &n) == 1 && n == BOT_KEY_LEN;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(theirs);
  if (!ok) return -1;
  unsigned char acc = 0;
  for (int i = 0; i < BOT_KEY_LEN; i++) acc |= out[i];
  return acc ? 0 : -1;
}

int bot_x25519(const unsigned char priv[BOT_KEY_LEN], const unsigned char peer[BOT_KEY_LEN],
               unsigned char out[BOT_KEY_LEN]) {
  EVP_PKEY *mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, BOT_KEY_LEN);
  int rc = mine ? derive(mine, peer, out) : -1;
  EVP_PKEY_free(mine);
  return rc;
}

struct bot_eph {
  EVP_PKEY *key; /* owned */
};

static struct bot_eph *eph_wrap(EVP_PKEY *k, unsigned char pub[BOT_KEY_LEN]) {
  size_t n = BOT_KEY_LEN;
  struct bot_eph *e = k ? malloc(sizeof *e) : NULL;
  if (!e || EVP_PKEY_get_raw_public_key(k, pub, &n) != 1 || n != BOT_KEY_LEN) {
    free(e);
    EVP_PKEY_free(k);
    return NULL;
  }
  e->key = k;
  return e;
}

struct bot_eph *bot_eph_new(unsigned char pub[BOT_KEY_LEN]) {
  EVP_PKEY *k = NULL;
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
  if (!c || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_keygen(c, &k) != 1) k = NULL;
  EVP_PKEY_CTX_free(c);
  return eph_wrap(k, pub);
}

struct bot_eph *bot_eph_from(const unsigned char priv[BOT_KEY_LEN], unsigned char pub[BOT_KEY_LEN]) {
  return eph_wrap(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, BOT_KEY_LEN), pub);
}

void bot_eph_free(struct bot_eph *e) {
  if (!e) return;
  EVP_PKEY_free(e->key);
  free(e);
}

int bot_hkdf_sha256(const unsigned char *ikm, size_t ikmlen, const unsigned char *salt, size_t saltlen,
                    const unsigned char *info, size_t infolen, unsigned char *out, size_t L) {
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
  size_t n = L;
  int ok = c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) == 1 &&
           EVP_PKEY_CTX_set1_hkdf_salt(c, salt, (int)saltlen) == 1 &&
           EVP_PKEY_CTX_set1_hkdf_key(c, ikm, (int)ikmlen) == 1 &&
           EVP_PKEY_CTX_add1_hkdf_info(c, info, (int)infolen) == 1 && EVP_PKEY_derive(c, out, &n) == 1 && n == L;
  EVP_PKEY_CTX_free(c);
  return ok ? 0 : -1;
}

int bot_resume_secret(const unsigned char c2s[BOT_KEY_LEN], const unsigned char s2c[BOT_KEY_LEN],
                      unsigned char r[BOT_KEY_LEN]) {
  static const char info[] = "shoal resume secret v1";
  unsigned char ikm[2 * BOT_KEY_LEN];
  memcpy(ikm, c2s, BOT_KEY_LEN);
  memcpy(ikm + BOT_KEY_LEN, s2c, BOT_KEY_LEN);
  return bot_hkdf_sha256(ikm, sizeof ikm, (const unsigned char *)"", 0, (const unsigned char *)info, sizeof info - 1, r, BOT_KEY_LEN);
}

int bot_resume_proof(const unsigned char r[BOT_KEY_LEN], uint64_t account, const unsigned char nonce[BOT_NONCE_LEN],
                     unsigned char proof[BOT_KEY_LEN]) {
  static const char label[] = "shoal resume proof v1"; /* 21 bytes */
  unsigned char data[21 + 8 + BOT_NONCE_LEN];
  struct wr w = WR(data, sizeof data);
  put(&w, label, 21);
  put_u64(&w, account);
  put(&w, nonce, BOT_NONCE_LEN);
  unsigned n = 0;
  return w.ok && HMAC(EVP_sha256(), r, BOT_KEY_LEN, data, sizeof data, proof, &n) && n == BOT_KEY_LEN ? 0 : -1;
}

int bot_resume_keys(const unsigned char r[BOT_KEY_LEN], const unsigned char nonce[BOT_NONCE_LEN],
                    unsigned char c2s[BOT_KEY_LEN], unsigned char s2c[BOT_KEY_LEN]) {
  static const char info[] = "shoal resume keys v1";
  unsigned char okm[2 * BOT_KEY_LEN];
  if (bot_hkdf_sha256(r, BOT_KEY_LEN, nonce, BOT_NONCE_LEN, (const unsigned char *)info, sizeof info - 1, okm,
                      sizeof okm) < 0)
    return -1;
  memcpy(c2s, okm, BOT_KEY_LEN);
  memcpy(s2c, okm + BOT_KEY_LEN, BOT_KEY_LEN);
  return 0;
}

int bot_random(unsigned char *out, size_t n) { return RAND_bytes(out, (int)n) == 1 ? 0 : -1; }

int bot_login_keys(const struct bot_eph *ec, const unsigned char EC[BOT_KEY_LEN], const unsigned char SP[BOT_KEY_LEN],
                   const struct bot_welcome *w, unsigned char c2s[BOT_KEY_LEN], unsigned char s2c[BOT_KEY_LEN]) {
  static const char label[] = "shoal login v1";        /* 14 bytes */
  static const char info[] = "shoal session keys v1";  /* 21 bytes */
  unsigned char ikm[2 * BOT_KEY_LEN], transcript[14 + 3 * BOT_KEY_LEN + BOT_NONCE_LEN], okm[2 * BOT_KEY_LEN];
  if (derive(ec->key, SP, ikm) < 0 || derive(ec->key, w->server_eph, ikm + BOT_KEY_LEN) < 0) return -1;
  struct wr t = WR(transcript, sizeof transcript);
  put(&t, label, 14);
  put(&t, EC, BOT_KEY_LEN);
  put(&t, w->server_eph, BOT_KEY_LEN);
  put(&t, w->nonce, BOT_NONCE_LEN);
  put(&t, SP, BOT_KEY_LEN);
  if (done(&t) != (int)sizeof transcript) return -1;
  if (bot_hkdf_sha256(ikm, sizeof ikm, transcript, sizeof transcript, (const unsigned char *)info, 21, okm,
                      sizeof okm) < 0)
    return -1;
  memcpy(c2s, okm, BOT_KEY_LEN);
  memcpy(s2c, okm + BOT_KEY_LEN, BOT_KEY_LEN);
  return 0;
}

struct bot_aead {
  EVP_CIPHER_CTX *ctx; /* reinitialised with the key and nonce of each frame */
};

struct bot_aead *bot_aead_new(void) {
  struct bot_aead *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->ctx = EVP_CIPHER_CTX_new();
  if (!a->ctx) {
    free(a);
    return NULL;
  }
  return a;
}

void bot_aead_free(struct bot_aead *a) {
  if (!a) return;
  EVP_CIPHER_CTX_free(a->ctx);
  free(a);
}

/* The 96-bit nonce 00 00 00 00 | SEQ (big-endian). */
static void seq_nonce(uint64_t seq, unsigned char nonce[12]) {
  memset(nonce, 0, 4);
  for (int i = 0; i < 8; i++) nonce[4 + i] = (unsigned char)(seq >> (56 - 8 * i));
}

int bot_seal(struct bot_aead *a, const unsigned char key[BOT_KEY_LEN], uint64_t seq, const unsigned char *msg,
             size_t len, unsigned char *out, size_t cap) {
  if (len > 0xffff || cap < len + BOT_SEAL_OVERHEAD) return -1;
  unsigned char nonce[12];
  seq_nonce(seq, nonce);
  memcpy(out, nonce + 4, 8);
  int n = 0, fin = 0;
  if (EVP_EncryptInit_ex(a->ctx, EVP_chacha20_poly1305(), NULL, key, nonce) != 1 ||
      EVP_EncryptUpdate(a->ctx, out + 8, &n, msg, (int)len) != 1 ||
      EVP_EncryptFinal_ex(a->ctx, out + 8 + n, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + 8 + len) != 1)
    return -1;
  return (int)(len + BOT_SEAL_OVERHEAD);
}

int bot_open(struct bot_aead *a, const unsigned char key[BOT_KEY_LEN], uint64_t seq, const unsigned char *body,
             size_t len, unsigned char *out) {
  if (len < BOT_SEAL_OVERHEAD || len > 0xffff) return -1;
  unsigned char nonce[12];
  seq_nonce(seq, nonce);
  if (memcmp(body, nonce + 4, 8) != 0) return -1; /* exactly the next SEQ */
  size_t clen = len - BOT_SEAL_OVERHEAD;
  int n = 0, fin = 0;
  unsigned char tag[16];
  memcpy(tag, body + len - 16, 16);
  if (EVP_DecryptInit_ex(a->ctx, EVP_chacha20_poly1305(), NULL, key, nonce) != 1 ||
      EVP_DecryptUpdate(a->ctx, out, &n, body + 8, (int)clen) != 1 ||
      EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1 ||
      EVP_DecryptFinal_ex(a->ctx, out + n, &fin) != 1)
    return -1;
  return (int)clen;
}
