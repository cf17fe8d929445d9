/*
 * crypto_prim.h - the one-shot primitives of shoal.crypto over OpenSSL's
 * libcrypto: random bytes, SHA-256, HMAC-SHA256, HKDF-SHA256, X25519.
 * Pure C (no Lua, no runtime): the Lua binding (lua-crypto.c) and the unit
 * test (test/unit/test_crypto.c) call them. Every function is safe from
 * any thread. Errors: 0 or a negative SHOAL_E* code.
 */
#ifndef SHOAL_CRYPTO_PRIM_H
#define SHOAL_CRYPTO_PRIM_H

#include <stddef.h>

#define SHOAL_CRYPTO_SHA256_LEN 32
#define SHOAL_CRYPTO_X25519_LEN 32 /* private key, public key and shared secret */
#define SHOAL_CRYPTO_HKDF_MAX (255 * 32) /* RFC 5869: at most 255 blocks of the hash */
#define SHOAL_CRYPTO_HKDF_INFO_MAX 1024  /* OpenSSL's own limit on the info string */

/* Fills buf with n bytes from the OS-seeded CSPRNG (RAND_bytes). Returns 0,
 * or SHOAL_EINIT when the generator fails: the caller must then fail too,
 * never fall back to weaker bytes. */
int shoal_crypto_random(void *buf, size_t n);
/* out = SHA-256(data). */
void shoal_crypto_sha256(const void *data, size_t n, unsigned char out[SHOAL_CRYPTO_SHA256_LEN]);
/* out = HMAC-SHA256(key, data) (RFC 2104; any key length). */
void shoal_crypto_hmac_sha256(const void *key, size_t klen, const void *data, size_t n,
                              unsigned char out[SHOAL_CRYPTO_SHA256_LEN]);
/* RFC 5869 extract-and-expand: outlen (1..SHOAL_CRYPTO_HKDF_MAX) bytes from
 * ikm, salt (may be empty: a hash-length of zeros) and info (at most
 * SHOAL_CRYPTO_HKDF_INFO_MAX). Returns 0 or SHOAL_EINVAL. */
int shoal_crypto_hkdf_sha256(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen, const void *info,
                             size_t infolen, unsigned char *out, size_t outlen);
/* A fresh X25519 key pair (RFC 7748). Returns 0 or SHOAL_EINIT. */
int shoal_crypto_x25519_keypair(unsigned char priv[SHOAL_CRYPTO_X25519_LEN], unsigned char pub[SHOAL_CRYPTO_X25519_LEN]);
/* The public key of a private key. Returns 0 or SHOAL_EINVAL. */
int shoal_crypto_x25519_public(const unsigned char priv[SHOAL_CRYPTO_X25519_LEN],
                               unsigned char pub[SHOAL_CRYPTO_X25519_LEN]);
/* The shared secret of our private key and the peer's public key. Returns
 * 0, or SHOAL_EINVAL for a peer key that yields the all-zero secret (a
 * small-order point: a hostile peer forcing a known key). */
int shoal_crypto_x25519(const unsigned char priv[SHOAL_CRYPTO_X25519_LEN], const unsigned char peer[SHOAL_CRYPTO_X25519_LEN],
                        unsigned char shared[SHOAL_CRYPTO_X25519_LEN]);

/* A loaded X25519 private key (an OpenSSL key object) and its public key,
 * for a key used more than once or made to be used at once: the one-shot
 * functions above load the raw bytes at every call, and OpenSSL recomputes
 * the public key at each load (a scalar multiplication, as costly as the
 * exchange itself). The loginapp keeps its static key this way and makes
 * each ephemeral key as one. One owner at a time (not locked). */
struct shoal_crypto_x25519_key;
/* priv NULL: a fresh key from the CSPRNG. Returns the key, or NULL for a
 * generator or library failure. The caller frees it. */
struct shoal_crypto_x25519_key *shoal_crypto_x25519_key_new(const unsigned char *priv);
/* The key's public half (computed once, at creation). */
const unsigned char *shoal_crypto_x25519_key_public(const struct shoal_crypto_x25519_key *k);
/* As shoal_crypto_x25519 with this key as ours: 0 or SHOAL_EINVAL. */
int shoal_crypto_x25519_key_exchange(struct shoal_crypto_x25519_key *k, const unsigned char peer[SHOAL_CRYPTO_X25519_LEN],
                                     unsigned char shared[SHOAL_CRYPTO_X25519_LEN]);
/* Frees k (OpenSSL wipes the private bytes); NULL is fine. */
void shoal_crypto_x25519_key_free(struct shoal_crypto_x25519_key *k);

/* Hex (lowercase) and base64 (RFC 4648 standard alphabet, no padding, no
 * line breaks): the encoded password format and the Lua helpers use them.
 * Encoders write 2n / 4n/3 rounded up bytes and a NUL; decoders return the
 * decoded length or SHOAL_EINVAL for a character outside the alphabet, a
 * length no encoding has, or an out buffer smaller than needed (cap). */
void shoal_crypto_hex_encode(const unsigned char *in, size_t n, char *out);
long shoal_crypto_hex_decode(const char *in, size_t n, unsigned char *out, size_t cap);
size_t shoal_crypto_b64_len(size_t n); /* encoded length of n bytes (without the NUL) */
void shoal_crypto_b64_encode(const unsigned char *in, size_t n, char *out);
long shoal_crypto_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap);

#endif
