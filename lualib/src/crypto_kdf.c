/*
 * crypto_kdf.c - scrypt and PBKDF2 password hashes in a self-describing
 * string (see crypto_kdf.h). The parser is strict (one spelling per
 * value) because the string comes back from storage, which a hostile
 * admin or a bug may have changed.
 */
#include "crypto_kdf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "crypto_prim.h"
#include "shoal.h"

#define NAME_SCRYPT "scrypt"
#define NAME_PBKDF2 "pbkdf2-sha256"

int shoal_crypto_kdf_algo_of(const char *name) {
  if (strcmp(name, NAME_SCRYPT) == 0) return SHOAL_CRYPTO_KDF_SCRYPT;
  if (strcmp(name, NAME_PBKDF2) == 0) return SHOAL_CRYPTO_KDF_PBKDF2;
  return 0;
}

int shoal_crypto_kdf_check(const struct shoal_crypto_kdf *k) {
  if (k->algo == SHOAL_CRYPTO_KDF_SCRYPT) {
    if (k->n < 2 || k->n > SHOAL_CRYPTO_SCRYPT_N_MAX || (k->n & (k->n - 1)) != 0) return SHOAL_EINVAL;
    if (k->r < 1 || k->r > SHOAL_CRYPTO_SCRYPT_R_MAX || k->p < 1 || k->p > SHOAL_CRYPTO_SCRYPT_P_MAX) return SHOAL_EINVAL;
    if (128ull * k->r * k->n > SHOAL_CRYPTO_SCRYPT_MEM_MAX) return SHOAL_EINVAL;
    return 0;
  }
  if (k->algo == SHOAL_CRYPTO_KDF_PBKDF2) {
    return k->iter >= 1 && k->iter <= SHOAL_CRYPTO_PBKDF2_ITER_MAX ? 0 : SHOAL_EINVAL;
  }
  return SHOAL_EINVAL;
}

int shoal_crypto_kdf_derive(const struct shoal_crypto_kdf *k, const void *pw, size_t pwlen, const unsigned char *salt,
                            size_t saltlen, unsigned char *out, size_t outlen) {
  if (shoal_crypto_kdf_check(k) != 0 || pwlen > SHOAL_CRYPTO_PASSWORD_MAX || outlen == 0 ||
      outlen > SHOAL_CRYPTO_KDF_MAX_BYTES || saltlen > SHOAL_CRYPTO_KDF_MAX_BYTES)
    return SHOAL_EINVAL;
  static const char empty = 0;
  if (pwlen == 0) pw = &empty;
  if (k->algo == SHOAL_CRYPTO_KDF_SCRYPT) {
    /* OpenSSL counts V (128 r (N + 2)) and B (128 r p): allow what the
     * limits allow, plus a margin, so no valid cost is refused. */
    uint64_t maxmem = 128ull * k->r * (k->n + 2) + 128ull * k->r * k->p + (1u << 20);
    int ok = EVP_PBE_scrypt(pw, pwlen, salt, saltlen, k->n, k->r, k->p, maxmem, out, outlen);
    return ok == 1 ? 0 : SHOAL_ENOMEM;
  }
  int ok = PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)saltlen, (int)k->iter, EVP_sha256(), (int)outlen, out);
  return ok == 1 ? 0 : SHOAL_ENOMEM;
}

int shoal_crypto_kdf_hash(const struct shoal_crypto_kdf *k, const void *pw, size_t pwlen,
                          char out[SHOAL_CRYPTO_ENCODED_MAX]) {
  unsigned char salt[SHOAL_CRYPTO_KDF_SALT], hash[SHOAL_CRYPTO_KDF_HASH];
  char s64[SHOAL_CRYPTO_KDF_SALT * 2], h64[SHOAL_CRYPTO_KDF_HASH * 2];
  if (shoal_crypto_random(salt, sizeof(salt)) != 0) return SHOAL_EINIT;
  int r = shoal_crypto_kdf_derive(k, pw, pwlen, salt, sizeof(salt), hash, sizeof(hash));
  if (r != 0) return r;
  shoal_crypto_b64_encode(salt, sizeof(salt), s64);
  shoal_crypto_b64_encode(hash, sizeof(hash), h64);
  OPENSSL_cleanse(hash, sizeof(hash));
  int n;
  if (k->algo == SHOAL_CRYPTO_KDF_SCRYPT)
    n = snprintf(out, SHOAL_CRYPTO_ENCODED_MAX, NAME_SCRYPT "$%llu$%u$%u$%s$%s", (unsigned long long)k->n, k->r, k->p,
                 s64, h64);
  else
    n = snprintf(out, SHOAL_CRYPTO_ENCODED_MAX, NAME_PBKDF2 "$%u$%s$%s", k->iter, s64, h64);
  return n > 0 && n < SHOAL_CRYPTO_ENCODED_MAX ? n : SHOAL_EINVAL;
}

/* The field of enc from *pos up to the next '$' (or the end): its start
 * and length; *pos moves past the '$'. Returns 0, or -1 when no field is left. */
static int next_field(const char *enc, size_t len, size_t *pos, const char **f, size_t *flen) {
  if (*pos > len) return -1;
  const char *start = enc + *pos;
  const char *end = memchr(start, '$', len - *pos);
  size_t n = end ? (size_t)(end - start) : len - *pos;
  *f = start;
  *flen = n;
  *pos += n + 1; /* past the end when this was the last field */
  return 0;
}

/* A decimal in 1..max, no sign, no leading zero. */
static int parse_uint(const char *f, size_t n, uint64_t max, uint64_t *out) {
  if (n == 0 || n > 10 || (f[0] == '0')) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (f[i] < '0' || f[i] > '9') return -1;
    v = v * 10 + (uint64_t)(f[i] - '0');
  }
  if (v > max) return -1;
  *out = v;
  return 0;
}

static int parse_b64(const char *f, size_t n, unsigned char *out, size_t *outlen) {
  long r = shoal_crypto_b64_decode(f, n, out, SHOAL_CRYPTO_KDF_MAX_BYTES);
  if (r < SHOAL_CRYPTO_KDF_MIN_BYTES) return -1;
  *outlen = (size_t)r;
  return 0;
}

int shoal_crypto_kdf_parse(const char *enc, size_t len, struct shoal_crypto_kdf *k, unsigned char *salt,
                           size_t *saltlen, unsigned char *hash, size_t *hashlen) {
  if (len == 0 || len >= SHOAL_CRYPTO_ENCODED_MAX || memchr(enc, '\0', len)) return SHOAL_EINVAL;
  size_t pos = 0, flen;
  const char *f;
  uint64_t v[3];
  memset(k, 0, sizeof(*k));
  if (next_field(enc, len, &pos, &f, &flen) != 0) return SHOAL_EINVAL;
  int nums;
  if (flen == strlen(NAME_SCRYPT) && memcmp(f, NAME_SCRYPT, flen) == 0) {
    k->algo = SHOAL_CRYPTO_KDF_SCRYPT;
    nums = 3;
  } else if (flen == strlen(NAME_PBKDF2) && memcmp(f, NAME_PBKDF2, flen) == 0) {
    k->algo = SHOAL_CRYPTO_KDF_PBKDF2;
    nums = 1;
  } else {
    return SHOAL_EINVAL;
  }
  for (int i = 0; i < nums; i++) {
    if (next_field(enc, len, &pos, &f, &flen) != 0 || parse_uint(f, flen, 0xffffffffu, &v[i]) != 0) return SHOAL_EINVAL;
  }
  if (k->algo == SHOAL_CRYPTO_KDF_SCRYPT) {
    k->n = v[0];
    k->r = (uint32_t)v[1];
    k->p = (uint32_t)v[2];
  } else {
    k->iter = (uint32_t)v[0];
  }
  if (shoal_crypto_kdf_check(k) != 0) return SHOAL_EINVAL;
  if (next_field(enc, len, &pos, &f, &flen) != 0 || parse_b64(f, flen, salt, saltlen) != 0) return SHOAL_EINVAL;
  if (next_field(enc, len, &pos, &f, &flen) != 0 || parse_b64(f, flen, hash, hashlen) != 0) return SHOAL_EINVAL;
  if (pos <= len) return SHOAL_EINVAL; /* a field too many */
  return 0;
}

int shoal_crypto_kdf_verify(const void *pw, size_t pwlen, const char *enc, size_t len) {
  struct shoal_crypto_kdf k;
  unsigned char salt[SHOAL_CRYPTO_KDF_MAX_BYTES], want[SHOAL_CRYPTO_KDF_MAX_BYTES], got[SHOAL_CRYPTO_KDF_MAX_BYTES];
  size_t saltlen, wantlen;
  if (pwlen > SHOAL_CRYPTO_PASSWORD_MAX) return SHOAL_EINVAL;
  if (shoal_crypto_kdf_parse(enc, len, &k, salt, &saltlen, want, &wantlen) != 0) return SHOAL_EINVAL;
  int r = shoal_crypto_kdf_derive(&k, pw, pwlen, salt, saltlen, got, wantlen);
  if (r != 0) return r;
  int same = CRYPTO_memcmp(got, want, wantlen) == 0;
  OPENSSL_cleanse(got, sizeof(got));
  return same;
}

int shoal_crypto_kdf_stale(const char *enc, size_t len, const struct shoal_crypto_kdf *want) {
  struct shoal_crypto_kdf k;
  unsigned char salt[SHOAL_CRYPTO_KDF_MAX_BYTES], hash[SHOAL_CRYPTO_KDF_MAX_BYTES];
  size_t saltlen, hashlen;
  if (shoal_crypto_kdf_parse(enc, len, &k, salt, &saltlen, hash, &hashlen) != 0) return SHOAL_EINVAL;
  if (k.algo != want->algo || saltlen != SHOAL_CRYPTO_KDF_SALT || hashlen != SHOAL_CRYPTO_KDF_HASH) return 1;
  if (k.algo == SHOAL_CRYPTO_KDF_SCRYPT) return k.n != want->n || k.r != want->r || k.p != want->p;
  return k.iter != want->iter;
}
