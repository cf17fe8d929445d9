/*
 * crypto_kdf.h - password hashing: scrypt (RFC 7914) and PBKDF2-HMAC-SHA256
 * (RFC 8018), salted, stored as one self-describing string:
 *
 *   scrypt$N$r$p$SALT$HASH           e.g. scrypt$16384$8$1$<22 chars>$<43 chars>
 *   pbkdf2-sha256$ITER$SALT$HASH
 *
 * SALT and HASH are unpadded standard base64 (crypto_prim.h); numbers are
 * decimal without sign or leading zeros. The string records the algorithm
 * and its cost, so the configured cost can rise later and old hashes still
 * verify (shoal_crypto_kdf_stale tells which to re-hash at the next login).
 * Blocking and CPU-heavy by design: the Lua binding runs these on the
 * helper threads of crypto_pool.c, never on a worker. Thread-safe.
 */
#ifndef SHOAL_CRYPTO_KDF_H
#define SHOAL_CRYPTO_KDF_H

#include <stddef.h>
#include <stdint.h>

enum shoal_crypto_kdf_algo {
  SHOAL_CRYPTO_KDF_SCRYPT = 1, /* "scrypt" */
  SHOAL_CRYPTO_KDF_PBKDF2 = 2, /* "pbkdf2-sha256" */
};

/* An algorithm and its cost. */
struct shoal_crypto_kdf {
  int algo;      /* enum shoal_crypto_kdf_algo */
  uint64_t n;    /* scrypt: CPU/memory cost, a power of two */
  uint32_t r;    /* scrypt: block size */
  uint32_t p;    /* scrypt: parallelism */
  uint32_t iter; /* pbkdf2: iterations */
};

#define SHOAL_CRYPTO_KDF_SALT 16      /* bytes of salt a new hash gets */
#define SHOAL_CRYPTO_KDF_HASH 32      /* bytes of hash a new hash gets */
#define SHOAL_CRYPTO_KDF_MIN_BYTES 8  /* shortest salt/hash a stored string may carry */
#define SHOAL_CRYPTO_KDF_MAX_BYTES 64 /* longest salt/hash a stored string may carry */
#define SHOAL_CRYPTO_PASSWORD_MAX 1024
#define SHOAL_CRYPTO_ENCODED_MAX 256  /* longest encoded string, with its NUL */
/* Hard cost limits, also for strings read back from storage: a tampered
 * row must not make a verify allocate gigabytes or run for hours. */
#define SHOAL_CRYPTO_SCRYPT_N_MAX (1u << 20)
#define SHOAL_CRYPTO_SCRYPT_R_MAX 32
#define SHOAL_CRYPTO_SCRYPT_P_MAX 16
#define SHOAL_CRYPTO_SCRYPT_MEM_MAX (256u << 20) /* 128 * r * N bytes */
#define SHOAL_CRYPTO_PBKDF2_ITER_MAX 10000000u

/* The algorithm named name ("scrypt", "pbkdf2-sha256"), or 0. */
int shoal_crypto_kdf_algo_of(const char *name);
/* Is this cost within the hard limits (N a power of two >= 2)? 0 or SHOAL_EINVAL. */
int shoal_crypto_kdf_check(const struct shoal_crypto_kdf *k);
/* out (outlen bytes) = the KDF of password and salt. 0, SHOAL_EINVAL, or SHOAL_ENOMEM. */
int shoal_crypto_kdf_derive(const struct shoal_crypto_kdf *k, const void *pw, size_t pwlen, const unsigned char *salt,
                            size_t saltlen, unsigned char *out, size_t outlen);
/* Hashes password with a fresh random salt and writes the encoded string
 * (NUL-terminated) to out (SHOAL_CRYPTO_ENCODED_MAX bytes). Returns its
 * length or a negative SHOAL_E*. */
int shoal_crypto_kdf_hash(const struct shoal_crypto_kdf *k, const void *pw, size_t pwlen,
                          char out[SHOAL_CRYPTO_ENCODED_MAX]);
/* Reads an encoded string: its cost to *k, salt and hash (each up to
 * SHOAL_CRYPTO_KDF_MAX_BYTES) with their lengths. 0 or SHOAL_EINVAL for
 * anything not exactly in the format and the limits. */
int shoal_crypto_kdf_parse(const char *enc, size_t len, struct shoal_crypto_kdf *k, unsigned char *salt,
                           size_t *saltlen, unsigned char *hash, size_t *hashlen);
/* 1 if password matches the encoded string, 0 if not (compared in
 * constant time), SHOAL_EINVAL if the string is malformed. */
int shoal_crypto_kdf_verify(const void *pw, size_t pwlen, const char *enc, size_t len);
/* 1 if the encoded string was made with another algorithm or cost than
 * *want (re-hash it at the next good login), 0 if not, SHOAL_EINVAL if malformed. */
int shoal_crypto_kdf_stale(const char *enc, size_t len, const struct shoal_crypto_kdf *want);

#endif
