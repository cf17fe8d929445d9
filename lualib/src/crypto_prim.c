/*
 * crypto_prim.c - one-shot primitives over libcrypto (see crypto_prim.h).
 * OpenSSL's own failures here mean a broken library or no memory, except
 * where a caller's input can cause them (HKDF lengths, a bad X25519 peer
 * key), which are checked first or reported as SHOAL_EINVAL.
 */
#include "crypto_prim.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shoal.h"

int shoal_crypto_random(void *buf, size_t n) {
  unsigned char *p = buf;
  /* RAND_bytes takes an int: large requests in bounded chunks. */
  while (n > 0) {
    int chunk = n > (1u << 20) ? (1 << 20) : (int)n;
    if (RAND_bytes(p, chunk) != 1) return SHOAL_EINIT;
    p += chunk;
    n -= (size_t)chunk;
  }
  return 0;
}

void shoal_crypto_sha256(const void *data, size_t n, unsigned char out[SHOAL_CRYPTO_SHA256_LEN]) {
  unsigned int len = 0;
  if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1) abort(); /* no failure mode but OOM */
}

/* HMAC is fetched once too (HMAC() fetches it at every call); the
 * loginapp signs two tokens a login and the baseapp checks one. */
static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static void hmac_fetch(void) { hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL); }

void shoal_crypto_hmac_sha256(const void *key, size_t klen, const void *data, size_t n,
                              unsigned char out[SHOAL_CRYPTO_SHA256_LEN]) {
  static unsigned char nokey = 0;
  pthread_once(&hmac_once, hmac_fetch);
  if (hmac_alg == NULL) abort(); /* a libcrypto without HMAC: broken */
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_alg);
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                         OSSL_PARAM_construct_end()};
  size_t len = 0;
  /* A NULL key is refused even when its length is 0. */
  if (ctx == NULL || EVP_MAC_init(ctx, klen ? key : &nokey, klen, params) != 1 || EVP_MAC_update(ctx, data, n) != 1 ||
      EVP_MAC_final(ctx, out, &len, SHOAL_CRYPTO_SHA256_LEN) != 1 || len != SHOAL_CRYPTO_SHA256_LEN)
    abort(); /* no failure mode but OOM */
  EVP_MAC_CTX_free(ctx);
}

/* HKDF is fetched from the provider once per process: a fetch by name at
 * every call (what EVP_PKEY_CTX_new_id does) cost 2-3 times the KDF. */
static EVP_KDF *hkdf_alg;
static pthread_once_t hkdf_once = PTHREAD_ONCE_INIT;
static void hkdf_fetch(void) { hkdf_alg = EVP_KDF_fetch(NULL, "HKDF", NULL); }

int shoal_crypto_hkdf_sha256(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen, const void *info,
                             size_t infolen, unsigned char *out, size_t outlen) {
  if (outlen == 0 || outlen > SHOAL_CRYPTO_HKDF_MAX || infolen > SHOAL_CRYPTO_HKDF_INFO_MAX) return SHOAL_EINVAL;
  if (ikmlen > INT32_MAX || saltlen > INT32_MAX) return SHOAL_EINVAL;
  static unsigned char empty = 0;
  pthread_once(&hkdf_once, hkdf_fetch);
  if (hkdf_alg == NULL) return SHOAL_EINIT;
  EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(hkdf_alg);
  if (kctx == NULL) return SHOAL_ENOMEM;
  OSSL_PARAM params[5], *p = params;
  *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikmlen ? (void *)ikm : &empty, ikmlen);
  if (saltlen) *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
  if (infolen) *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
  *p = OSSL_PARAM_construct_end();
  int ok = EVP_KDF_derive(kctx, out, outlen, params) == 1;
  EVP_KDF_CTX_free(kctx);
  return ok ? 0 : SHOAL_EINVAL;
}

int shoal_crypto_x25519_keypair(unsigned char priv[SHOAL_CRYPTO_X25519_LEN], unsigned char pub[SHOAL_CRYPTO_X25519_LEN]) {
  unsigned char k[SHOAL_CRYPTO_X25519_LEN];
  if (shoal_crypto_random(k, sizeof(k)) != 0) return SHOAL_EINIT;
  int r = shoal_crypto_x25519_public(k, pub);
  if (r == 0) memcpy(priv, k, sizeof(k));
  OPENSSL_cleanse(k, sizeof(k));
  return r == 0 ? 0 : SHOAL_EINIT;
}

int shoal_crypto_x25519_public(const unsigned char priv[SHOAL_CRYPTO_X25519_LEN],
                               unsigned char pub[SHOAL_CRYPTO_X25519_LEN]) {
  EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, SHOAL_CRYPTO_X25519_LEN);
  if (key == NULL) return SHOAL_EINVAL;
  size_t len = SHOAL_CRYPTO_X25519_LEN;
  int ok = EVP_PKEY_get_raw_public_key(key, pub, &len) == 1 && len == SHOAL_CRYPTO_X25519_LEN;
  EVP_PKEY_free(key);
  return ok ? 0 : SHOAL_EINVAL;
}

/* The zero check and the wipe of a failed result (shared by both APIs):
 * OpenSSL refuses (derive fails) a result of all zeros; checked again here
 * so the contract does not rest on that. */
static int derive_checked(EVP_PKEY *mine, const unsigned char peer[SHOAL_CRYPTO_X25519_LEN],
                          unsigned char shared[SHOAL_CRYPTO_X25519_LEN]) {
  EVP_PKEY *theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, SHOAL_CRYPTO_X25519_LEN);
  EVP_PKEY_CTX *pctx = mine ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
  size_t len = SHOAL_CRYPTO_X25519_LEN;
  int ok = pctx && theirs && EVP_PKEY_derive_init(pctx) == 1 && EVP_PKEY_derive_set_peer(pctx, theirs) == 1 &&
           EVP_PKEY_derive(pctx, shared, &len) == 1 && len == SHOAL_CRYPTO_X25519_LEN;
  EVP_PKEY_CTX_free(pctx);
  EVP_PKEY_free(theirs);
  if (ok) {
    unsigned char acc = 0;
    for (size_t i = 0; i < SHOAL_CRYPTO_X25519_LEN; i++) acc |= shared[i];
    ok = acc != 0;
  }
  if (!ok) OPENSSL_cleanse(shared, SHOAL_CRYPTO_X25519_LEN);
  return ok ? 0 : SHOAL_EINVAL;
}

int shoal_crypto_x25519(const unsigned char priv[SHOAL_CRYPTO_X25519_LEN], const unsigned char peer[SHOAL_CRYPTO_X25519_LEN],
                        unsigned char shared[SHOAL_CRYPTO_X25519_LEN]) {
  EVP_PKEY *mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, SHOAL_CRYPTO_X25519_LEN);
  int r = derive_checked(mine, peer, shared);
  EVP_PKEY_free(mine);
  return r;
}

/* ---- reusable keys ---- */

struct shoal_crypto_x25519_key {
  EVP_PKEY *pkey;                              /* owns the private bytes */
  unsigned char pub[SHOAL_CRYPTO_X25519_LEN]; /* computed once */
};

struct shoal_crypto_x25519_key *shoal_crypto_x25519_key_new(const unsigned char *priv) {
  EVP_PKEY *pkey = NULL;
  if (priv) {
    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, SHOAL_CRYPTO_X25519_LEN);
  } else {
    /* OpenSSL's own generator draws from the same CSPRNG as
     * shoal_crypto_random and clamps the scalar (RFC 7748). */
    EVP_PKEY_CTX *g = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
    if (g == NULL || EVP_PKEY_keygen_init(g) != 1 || EVP_PKEY_keygen(g, &pkey) != 1) pkey = NULL;
    EVP_PKEY_CTX_free(g);
  }
  if (pkey == NULL) return NULL;
  struct shoal_crypto_x25519_key *k = malloc(sizeof(*k));
  size_t len = SHOAL_CRYPTO_X25519_LEN;
  if (k == NULL || EVP_PKEY_get_raw_public_key(pkey, k->pub, &len) != 1 || len != SHOAL_CRYPTO_X25519_LEN) {
    free(k);
    EVP_PKEY_free(pkey);
    return NULL;
  }
  k->pkey = pkey;
  return k;
}

const unsigned char *shoal_crypto_x25519_key_public(const struct shoal_crypto_x25519_key *k) { return k->pub; }

int shoal_crypto_x25519_key_exchange(struct shoal_crypto_x25519_key *k, const unsigned char peer[SHOAL_CRYPTO_X25519_LEN],
                                     unsigned char shared[SHOAL_CRYPTO_X25519_LEN]) {
  return derive_checked(k->pkey, peer, shared);
}

void shoal_crypto_x25519_key_free(struct shoal_crypto_x25519_key *k) {
  if (k == NULL) return;
  EVP_PKEY_free(k->pkey);
  free(k);
}

/* ---- hex and base64 ---- */

void shoal_crypto_hex_encode(const unsigned char *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long shoal_crypto_hex_decode(const char *in, size_t n, unsigned char *out, size_t cap) {
  if (n % 2 != 0 || n / 2 > cap || n / 2 > LONG_MAX) return SHOAL_EINVAL;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
    if (hi < 0 || lo < 0) return SHOAL_EINVAL;
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  return (long)(n / 2);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t shoal_crypto_b64_len(size_t n) { return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0); }

void shoal_crypto_b64_encode(const unsigned char *in, size_t n, char *out) {
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64chars[v >> 18];
    out[o++] = b64chars[(v >> 12) & 63];
    out[o++] = b64chars[(v >> 6) & 63];
    out[o++] = b64chars[v & 63];
  }
  if (n - i == 1) {
    out[o++] = b64chars[in[i] >> 2];
    out[o++] = b64chars[(in[i] & 3) << 4];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
    out[o++] = b64chars[v >> 10];
    out[o++] = b64chars[(v >> 4) & 63];
    out[o++] = b64chars[(v & 15) << 2];
  }
  out[o] = '\0';
}

static int b64val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Canonical only: a last group's unused bits must be zero, so that one
 * byte string has exactly one encoding (a tampered encoded hash cannot
 * pass for the original). */
long shoal_crypto_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap) {
  if (n % 4 == 1) return SHOAL_EINVAL;
  size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
  if (need > cap || need > LONG_MAX) return SHOAL_EINVAL;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64val(in[i]);
    if (v < 0) return SHOAL_EINVAL;
    acc = (acc << 6 | (uint32_t)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return SHOAL_EINVAL;
  return (long)o;
}
