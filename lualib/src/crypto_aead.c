/*
 * crypto_aead.c - ChaCha20-Poly1305 frames with a counter nonce (see
 * crypto_aead.h). One EVP_CIPHER_CTX per object, keyed once: each frame
 * only sets the nonce, which keeps a 64-byte frame cheap.
 */
#include "crypto_aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct shoal_crypto_aead {
  EVP_CIPHER_CTX *ctx; /* keyed for this direction */
  uint64_t next;       /* sequence of the next frame sealed or expected */
  int sealing;         /* 1: a sealer, 0: an opener */
};

/* The last sequence a sealer may use: 2^64 - 1 stays unused, so `next`
 * never wraps. */
#define SEQ_LAST (UINT64_MAX - 1)

const char *shoal_crypto_aead_strerror(int err) { return shoal_strerror(err); }

/* The cipher is fetched from the provider once per process: the implicit
 * fetch of EVP_chacha20_poly1305() at every key setup is a name lookup
 * under a lock, and the loginapp keys two objects per login. */
static EVP_CIPHER *chacha;
static pthread_once_t chacha_once = PTHREAD_ONCE_INIT;
static void chacha_fetch(void) { chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL); }

struct shoal_crypto_aead *shoal_crypto_aead_new(const unsigned char key[SHOAL_CRYPTO_AEAD_KEY], int sealing) {
  struct shoal_crypto_aead *a = calloc(1, sizeof(*a));
  if (a == NULL) return NULL;
  pthread_once(&chacha_once, chacha_fetch);
  a->ctx = EVP_CIPHER_CTX_new();
  a->sealing = sealing;
  int ok = chacha && a->ctx && EVP_CipherInit_ex2(a->ctx, chacha, key, NULL, sealing ? 1 : 0, NULL) == 1;
  if (!ok) {
    shoal_crypto_aead_free(a);
    return NULL;
  }
  return a;
}

void shoal_crypto_aead_free(struct shoal_crypto_aead *a) {
  if (a == NULL) return;
  EVP_CIPHER_CTX_free(a->ctx); /* wipes the key schedule */
  free(a);
}

uint64_t shoal_crypto_aead_next(const struct shoal_crypto_aead *a) { return a->next; }

static void put_be64(unsigned char *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

/* One AEAD operation on ctx (already keyed, direction set): nonce, aad, data. */
static int run(EVP_CIPHER_CTX *ctx, int encrypt, const unsigned char nonce[SHOAL_CRYPTO_AEAD_NONCE], const void *aad,
               size_t aadlen, const void *in, size_t n, unsigned char *out, unsigned char tag[SHOAL_CRYPTO_AEAD_TAG]) {
  int len = 0;
  if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, encrypt) != 1) return SHOAL_CRYPTO_AEAD_FORGED;
  if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SHOAL_CRYPTO_AEAD_TAG, tag) != 1)
    return SHOAL_CRYPTO_AEAD_FORGED;
  if (aadlen > 0 && EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1) return SHOAL_CRYPTO_AEAD_FORGED;
  if (n > 0 && EVP_CipherUpdate(ctx, out, &len, in, (int)n) != 1) return SHOAL_CRYPTO_AEAD_FORGED;
  if (EVP_CipherFinal_ex(ctx, out + n, &len) != 1) return SHOAL_CRYPTO_AEAD_FORGED; /* the tag check */
  if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SHOAL_CRYPTO_AEAD_TAG, tag) != 1)
    return SHOAL_CRYPTO_AEAD_FORGED;
  return 0;
}

static void make_nonce(unsigned char nonce[SHOAL_CRYPTO_AEAD_NONCE], uint64_t seq) {
  memset(nonce, 0, 4);
  put_be64(nonce + 4, seq);
}

int shoal_crypto_aead_seal(struct shoal_crypto_aead *a, const void *plain, size_t n, const void *aad, size_t aadlen,
                           unsigned char *out) {
  if (!a->sealing) return SHOAL_CRYPTO_AEAD_WRONGWAY;
  if (n > SHOAL_CRYPTO_AEAD_MAX || aadlen > SHOAL_CRYPTO_AEAD_AAD_MAX) return SHOAL_CRYPTO_AEAD_MALFORMED;
  if (a->next > SEQ_LAST) return SHOAL_CRYPTO_AEAD_EXHAUSTED;
  unsigned char nonce[SHOAL_CRYPTO_AEAD_NONCE];
  make_nonce(nonce, a->next);
  put_be64(out, a->next);
  int r = run(a->ctx, 1, nonce, aad, aadlen, plain, n, out + SHOAL_CRYPTO_AEAD_SEQ,
              out + SHOAL_CRYPTO_AEAD_SEQ + n);
  /* The sequence is spent even if the library failed mid-way: a nonce is
   * never offered twice. */
  a->next++;
  return r;
}

int shoal_crypto_aead_open(struct shoal_crypto_aead *a, const unsigned char *frame, size_t n, const void *aad,
                           size_t aadlen, unsigned char *out) {
  if (a->sealing) return SHOAL_CRYPTO_AEAD_WRONGWAY;
  if (n < SHOAL_CRYPTO_AEAD_OVERHEAD || n - SHOAL_CRYPTO_AEAD_OVERHEAD > SHOAL_CRYPTO_AEAD_MAX ||
      aadlen > SHOAL_CRYPTO_AEAD_AAD_MAX)
    return SHOAL_CRYPTO_AEAD_MALFORMED;
  if (a->next > SEQ_LAST) return SHOAL_CRYPTO_AEAD_EXHAUSTED;
  uint64_t seq = get_be64(frame);
  if (seq < a->next) return SHOAL_CRYPTO_AEAD_REPLAYED;
  if (seq > a->next) return SHOAL_CRYPTO_AEAD_REORDERED;
  size_t len = n - SHOAL_CRYPTO_AEAD_OVERHEAD;
  unsigned char nonce[SHOAL_CRYPTO_AEAD_NONCE], tag[SHOAL_CRYPTO_AEAD_TAG];
  make_nonce(nonce, seq);
  memcpy(tag, frame + SHOAL_CRYPTO_AEAD_SEQ + len, sizeof(tag));
  int r = run(a->ctx, 0, nonce, aad, aadlen, frame + SHOAL_CRYPTO_AEAD_SEQ, len, out, tag);
  if (r != 0) {
    OPENSSL_cleanse(out, len);
    return r;
  }
  a->next++;
  return 0;
}

int shoal_crypto_aead_raw(int encrypt, const unsigned char key[SHOAL_CRYPTO_AEAD_KEY],
                          const unsigned char nonce[SHOAL_CRYPTO_AEAD_NONCE], const void *aad, size_t aadlen,
                          const void *in, size_t n, unsigned char *out, unsigned char tag[SHOAL_CRYPTO_AEAD_TAG]) {
  if (n > SHOAL_CRYPTO_AEAD_MAX || aadlen > SHOAL_CRYPTO_AEAD_AAD_MAX) return SHOAL_CRYPTO_AEAD_MALFORMED;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) abort();
  int r = SHOAL_CRYPTO_AEAD_FORGED;
  if (EVP_CipherInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, NULL, encrypt) == 1)
    r = run(ctx, encrypt, nonce, aad, aadlen, in, n, out, tag);
  EVP_CIPHER_CTX_free(ctx);
  return r;
}
