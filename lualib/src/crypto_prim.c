/*
 * crypto_prim.c - one-shot primitives over libcrypto (see crypto_prim.h).
 * OpenSSL's own failures here mean a broken library or no memory, except
 * where a caller's input can cause them (HKDF lengths, a bad X25519 peer
 * key), which are checked first or reported as SHOAL_EINVAL.
 */
#include "crypto_prim.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <limits.h>
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

void shoal_crypto_hmac_sha256(const void *key, size_t klen, const void *data, size_t n,
                              unsigned char out[SHOAL_CRYPTO_SHA256_LEN]) {
  static const unsigned char nokey = 0;
  unsigned int len = 0;
  /* HMAC() refuses a NULL key even when its length is 0. */
  if (HMAC(EVP_sha256(), klen ? key : &nokey, (int)klen, data, n, out, &len) == NULL) abort();
}

int shoal_crypto_hkdf_sha256(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen, const void *info,
                             size_t infolen, unsigned char *out, size_t outlen) {
  if (outlen == 0 || outlen > SHOAL_CRYPTO_HKDF_MAX || infolen > SHOAL_CRYPTO_HKDF_INFO_MAX) return SHOAL_EINVAL;
  if (ikmlen > INT32_MAX || saltlen > INT32_MAX) return SHOAL_EINVAL;
  static const unsigned char empty = 0;
  EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
  if (pctx == NULL) return SHOAL_ENOMEM;
  size_t len = outlen;
  int ok = EVP_PKEY_derive_init(pctx) == 1 && EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) == 1 &&
           EVP_PKEY_CTX_set1_hkdf_key(pctx, ikmlen ? ikm : &empty, (int)ikmlen) == 1 &&
           (saltlen == 0 || EVP_PKEY_CTX_set1_hkdf_salt(pctx, salt, (int)saltlen) == 1) &&
           (infolen == 0 || EVP_PKEY_CTX_add1_hkdf_info(pctx, info, (int)infolen) == 1) &&
           EVP_PKEY_derive(pctx, out, &len) == 1 && len == outlen;
  EVP_PKEY_CTX_free(pctx);
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

int shoal_crypto_x25519(const unsigned char priv[SHOAL_CRYPTO_X25519_LEN], const unsigned char peer[SHOAL_CRYPTO_X25519_LEN],
                        unsigned char shared[SHOAL_CRYPTO_X25519_LEN]) {
  EVP_PKEY *mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, SHOAL_CRYPTO_X25519_LEN);
  EVP_PKEY *theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, SHOAL_CRYPTO_X25519_LEN);
  EVP_PKEY_CTX *pctx = mine ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
  size_t len = SHOAL_CRYPTO_X25519_LEN;
  /* OpenSSL refuses (derive fails) a result of all zeros; checked again
   * here so the contract does not rest on that. */
  int ok = pctx && theirs && EVP_PKEY_derive_init(pctx) == 1 && EVP_PKEY_derive_set_peer(pctx, theirs) == 1 &&
           EVP_PKEY_derive(pctx, shared, &len) == 1 && len == SHOAL_CRYPTO_X25519_LEN;
  EVP_PKEY_CTX_free(pctx);
  EVP_PKEY_free(mine);
  EVP_PKEY_free(theirs);
  if (ok) {
    unsigned char acc = 0;
    for (size_t i = 0; i < SHOAL_CRYPTO_X25519_LEN; i++) acc |= shared[i];
    ok = acc != 0;
  }
  if (!ok) OPENSSL_cleanse(shared, SHOAL_CRYPTO_X25519_LEN);
  return ok ? 0 : SHOAL_EINVAL;
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
