/*
 * test_crypto.c - shoal.crypto's C layer (lualib/src/crypto_*.c): known-
 * answer vectors from the RFCs, the encoded password format (also hostile
 * strings), AEAD frames refusing replays, reordering and forgeries, and
 * the helper-thread pool (bounded queue, cancel, stop and restart).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "crypto_aead.h"
#include "crypto_kdf.h"
#include "crypto_pool.h"
#include "crypto_prim.h"
#include "shoal.h"

/* hex -> bytes; returns the length. */
static size_t unhex(const char *hex, unsigned char *out, size_t cap) {
  long n = shoal_crypto_hex_decode(hex, strlen(hex), out, cap);
  CHECK(n >= 0);
  return (size_t)n;
}

static int same_hex(const unsigned char *got, size_t n, const char *hex) {
  char buf[1024];
  CHECK(n * 2 < sizeof(buf));
  shoal_crypto_hex_encode(got, n, buf);
  if (strcmp(buf, hex) != 0) {
    fprintf(stderr, "got  %s\nwant %s\n", buf, hex);
    return 0;
  }
  return 1;
}

static void test_sha_hmac_hkdf(void) {
  unsigned char out[64], key[131], data[64];
  shoal_crypto_sha256("abc", 3, out);
  CHECK(same_hex(out, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  /* RFC 4231 test cases 1, 2 and 6 (a key longer than the block). */
  memset(key, 0x0b, 20);
  shoal_crypto_hmac_sha256(key, 20, "Hi There", 8, out);
  CHECK(same_hex(out, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
  shoal_crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, out);
  CHECK(same_hex(out, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
  memset(key, 0xaa, 131);
  const char *t6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  shoal_crypto_hmac_sha256(key, 131, t6, strlen(t6), out);
  CHECK(same_hex(out, 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
  shoal_crypto_hmac_sha256("", 0, "", 0, out); /* empty key and data: no crash */
  /* RFC 5869 test case 1. */
  unsigned char ikm[22], salt[13], info[10];
  memset(ikm, 0x0b, sizeof(ikm));
  for (int i = 0; i < 13; i++) salt[i] = (unsigned char)i;
  for (int i = 0; i < 10; i++) info[i] = (unsigned char)(0xf0 + i);
  CHECK(shoal_crypto_hkdf_sha256(ikm, 22, salt, 13, info, 10, out, 42) == 0);
  CHECK(same_hex(out, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"));
  /* Hostile lengths: refused, not truncated. */
  CHECK(shoal_crypto_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, out, 0) == SHOAL_EINVAL);
  static unsigned char big[SHOAL_CRYPTO_HKDF_MAX + 1];
  CHECK(shoal_crypto_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, big, sizeof(big)) == SHOAL_EINVAL);
  CHECK(shoal_crypto_hkdf_sha256(ikm, 22, NULL, 0, big, SHOAL_CRYPTO_HKDF_INFO_MAX + 1, out, 32) == SHOAL_EINVAL);
  CHECK(shoal_crypto_hkdf_sha256(NULL, 0, NULL, 0, NULL, 0, out, 32) == 0);
  (void)data;
}

static void test_random_and_codecs(void) {
  unsigned char a[32], b[32];
  CHECK(shoal_crypto_random(a, sizeof(a)) == 0 && shoal_crypto_random(b, sizeof(b)) == 0);
  CHECK(memcmp(a, b, 32) != 0);
  CHECK(shoal_crypto_random(a, 0) == 0);
  /* base64: every length 0..40 round-trips; RFC 4648's examples (unpadded). */
  const char *ex[][2] = {{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"foobar", "Zm9vYmFy"}};
  char enc[128];
  unsigned char dec[128];
  for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
    shoal_crypto_b64_encode((const unsigned char *)ex[i][0], strlen(ex[i][0]), enc);
    CHECK(strcmp(enc, ex[i][1]) == 0);
    CHECK(shoal_crypto_b64_len(strlen(ex[i][0])) == strlen(ex[i][1]));
  }
  unsigned char raw[40];
  for (int i = 0; i < 40; i++) raw[i] = (unsigned char)(i * 37 + 11);
  for (size_t n = 0; n <= 40; n++) {
    shoal_crypto_b64_encode(raw, n, enc);
    CHECK(shoal_crypto_b64_decode(enc, strlen(enc), dec, sizeof(dec)) == (long)n);
    CHECK(memcmp(dec, raw, n) == 0);
  }
  CHECK(shoal_crypto_b64_decode("Zh", 2, dec, sizeof(dec)) == SHOAL_EINVAL);   /* non-canonical bits */
  CHECK(shoal_crypto_b64_decode("Zm9=", 4, dec, sizeof(dec)) == SHOAL_EINVAL); /* padding is not ours */
  CHECK(shoal_crypto_b64_decode("Z", 1, dec, sizeof(dec)) == SHOAL_EINVAL);    /* no encoding is 1 char */
  CHECK(shoal_crypto_b64_decode("Zm9vYmFy", 8, dec, 5) == SHOAL_EINVAL);       /* too big for out */
  CHECK(shoal_crypto_hex_decode("0g", 2, dec, sizeof(dec)) == SHOAL_EINVAL);
  CHECK(shoal_crypto_hex_decode("abc", 3, dec, sizeof(dec)) == SHOAL_EINVAL);
  CHECK(shoal_crypto_hex_decode("ABcd", 4, dec, sizeof(dec)) == 2 && dec[0] == 0xab && dec[1] == 0xcd);
}

static void test_x25519(void) {
  /* RFC 7748 section 6.1. */
  unsigned char apriv[32], bpriv[32], apub[32], bpub[32], s1[32], s2[32];
  unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", apriv, 32);
  unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", bpriv, 32);
  CHECK(shoal_crypto_x25519_public(apriv, apub) == 0);
  CHECK(same_hex(apub, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
  CHECK(shoal_crypto_x25519_public(bpriv, bpub) == 0);
  CHECK(same_hex(bpub, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
  CHECK(shoal_crypto_x25519(apriv, bpub, s1) == 0);
  CHECK(shoal_crypto_x25519(bpriv, apub, s2) == 0);
  CHECK(same_hex(s1, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"));
  CHECK(memcmp(s1, s2, 32) == 0);
  /* Fresh pairs agree. */
  CHECK(shoal_crypto_x25519_keypair(apriv, apub) == 0 && shoal_crypto_x25519_keypair(bpriv, bpub) == 0);
  CHECK(shoal_crypto_x25519(apriv, bpub, s1) == 0 && shoal_crypto_x25519(bpriv, apub, s2) == 0);
  CHECK(memcmp(s1, s2, 32) == 0);
  /* A small-order peer key (zero, and one) would force an all-zero secret: refused. */
  unsigned char zero[32] = {0}, one[32] = {1};
  CHECK(shoal_crypto_x25519(apriv, zero, s1) == SHOAL_EINVAL);
  CHECK(shoal_crypto_x25519(apriv, one, s1) == SHOAL_EINVAL);
}

/* The reusable key objects give the one-shot functions' answers. */
static void test_x25519_key(void) {
  unsigned char apriv[32], bpub[32], s1[32];
  unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", apriv, 32);
  unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", bpub, 32);
  struct shoal_crypto_x25519_key *a = shoal_crypto_x25519_key_new(apriv);
  CHECK(a != NULL);
  CHECK(same_hex(shoal_crypto_x25519_key_public(a), 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
  for (int i = 0; i < 2; i++) { /* used twice: the same secret */
    CHECK(shoal_crypto_x25519_key_exchange(a, bpub, s1) == 0);
    CHECK(same_hex(s1, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"));
  }
  unsigned char zero[32] = {0}, one[32] = {1};
  CHECK(shoal_crypto_x25519_key_exchange(a, zero, s1) == SHOAL_EINVAL);
  CHECK(shoal_crypto_x25519_key_exchange(a, one, s1) == SHOAL_EINVAL);
  /* A fresh key agrees with the one-shot exchange of the other side. */
  struct shoal_crypto_x25519_key *g = shoal_crypto_x25519_key_new(NULL), *h = shoal_crypto_x25519_key_new(NULL);
  CHECK(g != NULL && h != NULL);
  CHECK(memcmp(shoal_crypto_x25519_key_public(g), shoal_crypto_x25519_key_public(h), 32) != 0);
  unsigned char s2[32];
  CHECK(shoal_crypto_x25519_key_exchange(g, shoal_crypto_x25519_key_public(a), s1) == 0);
  CHECK(shoal_crypto_x25519(apriv, shoal_crypto_x25519_key_public(g), s2) == 0);
  CHECK(memcmp(s1, s2, 32) == 0);
  shoal_crypto_x25519_key_free(a);
  shoal_crypto_x25519_key_free(g);
  shoal_crypto_x25519_key_free(h);
  shoal_crypto_x25519_key_free(NULL);
}

static const char *RFC8439_PLAIN =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";

static void test_aead_kat(void) {
  /* RFC 8439 section 2.8.2. */
  unsigned char key[32], nonce[12], aad[12], ct[256], tag[16], back[256];
  unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", key, 32);
  unhex("070000004041424344454647", nonce, 12);
  unhex("50515253c0c1c2c3c4c5c6c7", aad, 12);
  size_t n = strlen(RFC8439_PLAIN);
  CHECK(n == 114);
  CHECK(shoal_crypto_aead_raw(1, key, nonce, aad, 12, RFC8439_PLAIN, n, ct, tag) == 0);
  CHECK(same_hex(ct, 32, "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"));
  CHECK(same_hex(tag, 16, "1ae10b594f09e26a7e902ecbd0600691"));
  CHECK(shoal_crypto_aead_raw(0, key, nonce, aad, 12, ct, n, back, tag) == 0);
  CHECK(memcmp(back, RFC8439_PLAIN, n) == 0);
  ct[5] ^= 1;
  CHECK(shoal_crypto_aead_raw(0, key, nonce, aad, 12, ct, n, back, tag) == SHOAL_CRYPTO_AEAD_FORGED);
}

static void test_aead_frames(void) {
  unsigned char key[32], other[32];
  CHECK(shoal_crypto_random(key, 32) == 0 && shoal_crypto_random(other, 32) == 0);
  struct shoal_crypto_aead *tx = shoal_crypto_aead_new(key, 1), *rx = shoal_crypto_aead_new(key, 0);
  struct shoal_crypto_aead *wrong = shoal_crypto_aead_new(other, 0);
  CHECK(tx && rx && wrong);
  unsigned char f[3][64 + SHOAL_CRYPTO_AEAD_OVERHEAD], out[64];
  const char *msg[3] = {"frame zero", "frame one", ""};
  for (int i = 0; i < 3; i++) CHECK(shoal_crypto_aead_seal(tx, msg[i], strlen(msg[i]), "ad", 2, f[i]) == 0);
  CHECK(shoal_crypto_aead_next(tx) == 3);
  size_t n0 = strlen(msg[0]) + SHOAL_CRYPTO_AEAD_OVERHEAD, n1 = strlen(msg[1]) + SHOAL_CRYPTO_AEAD_OVERHEAD;
  /* Wrong way, wrong key, wrong aad, reordered: refused, and nothing moves. */
  CHECK(shoal_crypto_aead_open(tx, f[0], n0, "ad", 2, out) == SHOAL_CRYPTO_AEAD_WRONGWAY);
  CHECK(shoal_crypto_aead_seal(rx, "x", 1, NULL, 0, f[2]) == SHOAL_CRYPTO_AEAD_WRONGWAY);
  CHECK(shoal_crypto_aead_open(wrong, f[0], n0, "ad", 2, out) == SHOAL_CRYPTO_AEAD_FORGED);
  CHECK(shoal_crypto_aead_open(rx, f[0], n0, "AD", 2, out) == SHOAL_CRYPTO_AEAD_FORGED);
  CHECK(shoal_crypto_aead_open(rx, f[1], n1, "ad", 2, out) == SHOAL_CRYPTO_AEAD_REORDERED);
  CHECK(shoal_crypto_aead_next(rx) == 0);
  /* Every bit of a frame is covered: each flipped bit is refused. */
  for (size_t bit = 0; bit < n0 * 8; bit++) {
    f[0][bit / 8] ^= (unsigned char)(1u << (bit % 8));
    int r = shoal_crypto_aead_open(rx, f[0], n0, "ad", 2, out);
    CHECK(r == SHOAL_CRYPTO_AEAD_FORGED || r == SHOAL_CRYPTO_AEAD_REORDERED);
    f[0][bit / 8] ^= (unsigned char)(1u << (bit % 8));
  }
  CHECK(shoal_crypto_aead_open(rx, f[0], n0, "ad", 2, out) == 0 && memcmp(out, msg[0], strlen(msg[0])) == 0);
  CHECK(shoal_crypto_aead_open(rx, f[0], n0, "ad", 2, out) == SHOAL_CRYPTO_AEAD_REPLAYED);
  CHECK(shoal_crypto_aead_open(rx, f[1], n1, "ad", 2, out) == 0 && memcmp(out, msg[1], strlen(msg[1])) == 0);
  /* A forged sequence number with the body of frame 2: the tag covers it. */
  CHECK(shoal_crypto_aead_open(rx, f[2], SHOAL_CRYPTO_AEAD_OVERHEAD, "ad", 2, out) == 0); /* empty plaintext */
  /* Too short / too long: malformed, not read. */
  CHECK(shoal_crypto_aead_open(rx, f[0], SHOAL_CRYPTO_AEAD_OVERHEAD - 1, NULL, 0, out) == SHOAL_CRYPTO_AEAD_MALFORMED);
  CHECK(shoal_crypto_aead_open(rx, f[0], 0, NULL, 0, out) == SHOAL_CRYPTO_AEAD_MALFORMED);
  CHECK(shoal_crypto_aead_open(rx, f[0], SHOAL_CRYPTO_AEAD_MAX + SHOAL_CRYPTO_AEAD_OVERHEAD + 1, NULL, 0, out) ==
        SHOAL_CRYPTO_AEAD_MALFORMED);
  CHECK(shoal_crypto_aead_seal(tx, out, SHOAL_CRYPTO_AEAD_MAX + 1, NULL, 0, f[0]) == SHOAL_CRYPTO_AEAD_MALFORMED);
  CHECK(strcmp(shoal_crypto_aead_strerror(SHOAL_CRYPTO_AEAD_REPLAYED), "frame sequence already seen (replay)") == 0);
  shoal_crypto_aead_free(tx);
  shoal_crypto_aead_free(rx);
  shoal_crypto_aead_free(wrong);
}

static void test_kdf_kat(void) {
  unsigned char out[64];
  /* RFC 7914 section 12, vectors 1 and 2. */
  struct shoal_crypto_kdf s1 = {SHOAL_CRYPTO_KDF_SCRYPT, 16, 1, 1, 0};
  CHECK(shoal_crypto_kdf_derive(&s1, "", 0, (const unsigned char *)"", 0, out, 64) == 0);
  CHECK(same_hex(out, 64,
                 "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
                 "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"));
  struct shoal_crypto_kdf s2 = {SHOAL_CRYPTO_KDF_SCRYPT, 1024, 8, 16, 0};
  CHECK(shoal_crypto_kdf_derive(&s2, "password", 8, (const unsigned char *)"NaCl", 4, out, 64) == 0);
  CHECK(same_hex(out, 64,
                 "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
                 "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"));
  /* PBKDF2-HMAC-SHA256, RFC 6070's inputs (the SHA-256 answers). */
  struct shoal_crypto_kdf p = {SHOAL_CRYPTO_KDF_PBKDF2, 0, 0, 0, 1};
  const unsigned char *salt = (const unsigned char *)"salt";
  CHECK(shoal_crypto_kdf_derive(&p, "password", 8, salt, 4, out, 32) == 0);
  CHECK(same_hex(out, 32, "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"));
  p.iter = 2;
  CHECK(shoal_crypto_kdf_derive(&p, "password", 8, salt, 4, out, 32) == 0);
  CHECK(same_hex(out, 32, "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"));
  p.iter = 4096;
  CHECK(shoal_crypto_kdf_derive(&p, "password", 8, salt, 4, out, 32) == 0);
  CHECK(same_hex(out, 32, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"));
}

static void test_kdf_format(void) {
  char enc[SHOAL_CRYPTO_ENCODED_MAX], enc2[SHOAL_CRYPTO_ENCODED_MAX];
  struct shoal_crypto_kdf s = {SHOAL_CRYPTO_KDF_SCRYPT, 1024, 1, 1, 0};
  struct shoal_crypto_kdf p = {SHOAL_CRYPTO_KDF_PBKDF2, 0, 0, 0, 1000};
  int n = shoal_crypto_kdf_hash(&s, "hunter2", 7, enc);
  CHECK(n > 0 && (size_t)n == strlen(enc));
  CHECK(strncmp(enc, "scrypt$1024$1$1$", 16) == 0);
  CHECK(strlen(enc) == 16 + 22 + 1 + 43);
  CHECK(shoal_crypto_kdf_verify("hunter2", 7, enc, (size_t)n) == 1);
  CHECK(shoal_crypto_kdf_verify("hunter3", 7, enc, (size_t)n) == 0);
  CHECK(shoal_crypto_kdf_verify("", 0, enc, (size_t)n) == 0);
  /* Same password, fresh salt: another string. */
  CHECK(shoal_crypto_kdf_hash(&s, "hunter2", 7, enc2) == n && strcmp(enc, enc2) != 0);
  CHECK(shoal_crypto_kdf_stale(enc, (size_t)n, &s) == 0);
  struct shoal_crypto_kdf s2 = s;
  s2.n = 2048;
  CHECK(shoal_crypto_kdf_stale(enc, (size_t)n, &s2) == 1);
  CHECK(shoal_crypto_kdf_stale(enc, (size_t)n, &p) == 1);
  n = shoal_crypto_kdf_hash(&p, "", 0, enc2);
  CHECK(n > 0 && strncmp(enc2, "pbkdf2-sha256$1000$", 19) == 0);
  CHECK(shoal_crypto_kdf_verify("", 0, enc2, (size_t)n) == 1);
  CHECK(shoal_crypto_kdf_verify("x", 1, enc2, (size_t)n) == 0);
  /* Every single-character change of a good string fails: wrong or malformed, never a match. */
  size_t len = strlen(enc);
  for (size_t i = 0; i < len; i++) {
    char save = enc[i];
    for (int c = 32; c < 127; c++) {
      if (c == save) continue;
      enc[i] = (char)c;
      CHECK(shoal_crypto_kdf_verify("hunter2", 7, enc, len) != 1);
      if (i < 16) break; /* the cost fields: one change each is enough (each is a full KDF) */
    }
    enc[i] = save;
  }
  CHECK(shoal_crypto_kdf_verify("hunter2", 7, enc, len) == 1);
  /* Hostile strings: malformed, and the costs bounded before any work. */
  const char *bad[] = {
      "", "$", "scrypt", "scrypt$", "md5$1$c2FsdHNhbHQ$aGFzaGhhc2g",
      "scrypt$1024$1$1$c2FsdHNhbHQ", /* no hash */
      "scrypt$1024$1$1$c2FsdHNhbHQ$aGFzaGhhc2g$", /* a field too many */
      "scrypt$01024$1$1$c2FsdHNhbHQ$aGFzaGhhc2g", /* leading zero */
      "scrypt$-1024$1$1$c2FsdHNhbHQ$aGFzaGhhc2g", "scrypt$1000$1$1$c2FsdHNhbHQ$aGFzaGhhc2g", /* not a power of 2 */
      "scrypt$1099511627776$8$1$c2FsdHNhbHQ$aGFzaGhhc2g",  /* N = 2^40 */
      "scrypt$1048576$8$1$c2FsdHNhbHQ$aGFzaGhhc2g",        /* 1 GiB of memory */
      "scrypt$1024$0$1$c2FsdHNhbHQ$aGFzaGhhc2g", "scrypt$1024$1$99$c2FsdHNhbHQ$aGFzaGhhc2g",
      "pbkdf2-sha256$4294967295$c2FsdHNhbHQ$aGFzaGhhc2g", /* 4 billion iterations */
      "pbkdf2-sha256$0$c2FsdHNhbHQ$aGFzaGhhc2g", "pbkdf2-sha256$1000$c2Fsd$aGFzaGhhc2g", /* salt too short */
      "pbkdf2-sha256$1000$c2FsdHNhbHQ$aGFzaGhhc2g=", "pbkdf2-sha256$1000$c2FsdHNhbHQ$aGFz aGhhc2g",
      "pbkdf2-sha256$1000$$aGFzaGhhc2g",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (shoal_crypto_kdf_verify("pw", 2, bad[i], strlen(bad[i])) != SHOAL_EINVAL) {
      fprintf(stderr, "accepted: %s\n", bad[i]);
      CHECK(0);
    }
  }
  char nul[] = "pbkdf2-sha256$1000$c2FsdHNhbHQ$aGFzaGhhc2g";
  nul[20] = '\0';
  CHECK(shoal_crypto_kdf_verify("pw", 2, nul, sizeof(nul) - 1) == SHOAL_EINVAL);
  static char huge[100000];
  memset(huge, 'a', sizeof(huge));
  CHECK(shoal_crypto_kdf_verify("pw", 2, huge, sizeof(huge)) == SHOAL_EINVAL);
  CHECK(shoal_crypto_kdf_verify(huge, SHOAL_CRYPTO_PASSWORD_MAX + 1, enc, len) == SHOAL_EINVAL);
  CHECK(shoal_crypto_kdf_hash(&p, huge, SHOAL_CRYPTO_PASSWORD_MAX + 1, enc2) == SHOAL_EINVAL);
  struct shoal_crypto_kdf none = {0, 0, 0, 0, 0};
  CHECK(shoal_crypto_kdf_hash(&none, "pw", 2, enc2) == SHOAL_EINVAL);
  CHECK(shoal_crypto_kdf_algo_of("scrypt") == SHOAL_CRYPTO_KDF_SCRYPT);
  CHECK(shoal_crypto_kdf_algo_of("pbkdf2-sha256") == SHOAL_CRYPTO_KDF_PBKDF2);
  CHECK(shoal_crypto_kdf_algo_of("bcrypt") == 0);
}

/* ---- the pool ---- */

struct test_job {
  struct shoal_crypto_job job;
  atomic_int *done;    /* counts finished jobs */
  atomic_int *dropped; /* counts cancelled jobs */
  atomic_int *gate;    /* run waits while *gate == 0 */
  char enc[SHOAL_CRYPTO_ENCODED_MAX];
};

static atomic_int started; /* gated jobs that began to run */

static void test_job_run(struct shoal_crypto_job *j) {
  struct test_job *t = (struct test_job *)j;
  if (t->gate) atomic_fetch_add(&started, 1);
  struct timespec ts = {0, 1000000};
  while (t->gate && atomic_load(t->gate) == 0) nanosleep(&ts, NULL);
  struct shoal_crypto_kdf s = {SHOAL_CRYPTO_KDF_SCRYPT, 64, 1, 1, 0};
  CHECK(shoal_crypto_kdf_hash(&s, "pw", 2, t->enc) > 0);
  CHECK(shoal_crypto_kdf_verify("pw", 2, t->enc, strlen(t->enc)) == 1);
  atomic_fetch_add(t->done, 1);
  free(t);
}

static void test_job_drop(struct shoal_crypto_job *j) {
  struct test_job *t = (struct test_job *)j;
  atomic_fetch_add(t->dropped, 1);
  free(t);
}

static struct test_job *new_job(const void *owner, atomic_int *done, atomic_int *dropped, atomic_int *gate) {
  struct test_job *t = calloc(1, sizeof(*t));
  CHECK(t != NULL);
  t->job.run = test_job_run;
  t->job.drop = test_job_drop;
  t->job.owner = owner;
  t->done = done;
  t->dropped = dropped;
  t->gate = gate;
  return t;
}

/* Polls until the condition holds, 10 s at most. */
#define WAIT_FOR(cond)                                                   \
  do {                                                                   \
    struct timespec ts_ = {0, 1000000};                                  \
    for (int i_ = 0; !(cond) && i_ < 10000; i_++) nanosleep(&ts_, NULL); \
    CHECK(cond);                                                         \
  } while (0)

static void test_pool(void) {
  static const char owner_a = 'a', owner_b = 'b';
  atomic_int done = 0, dropped = 0, gate = 0;
  struct test_job *j = new_job(&owner_a, &done, &dropped, NULL);
  CHECK(shoal_crypto_pool_submit(&j->job) == SHOAL_EINVAL); /* no pool yet */
  free(j);
  CHECK(shoal_crypto_pool_acquire(2, 4) == 0);
  CHECK(shoal_crypto_pool_acquire(9, 99) == 0); /* a second user: same pool */
  /* Many jobs from several threads' worth of owners: all run. */
  for (int i = 0; i < 200; i++) {
    struct test_job *t = new_job(i % 2 ? &owner_a : &owner_b, &done, &dropped, NULL);
    while (shoal_crypto_pool_submit(&t->job) == SHOAL_EFULL) {
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
  }
  WAIT_FOR(atomic_load(&done) == 200);
  /* The queue bound: 2 running (held at the gate) + 4 queued, then full. */
  int submitted = 0;
  for (int i = 0; i < 6; i++) {
    struct test_job *t = new_job(i < 2 ? &owner_b : &owner_a, &done, &dropped, &gate);
    CHECK(shoal_crypto_pool_submit(&t->job) == 0);
    submitted++;
    if (i == 1) WAIT_FOR(atomic_load(&started) == 2); /* both helpers hold one */
  }
  WAIT_FOR(shoal_crypto_pool_pending() == 6);
  struct test_job *extra = new_job(&owner_a, &done, &dropped, &gate);
  CHECK(shoal_crypto_pool_submit(&extra->job) == SHOAL_EFULL);
  free(extra);
  /* Cancel a's four queued jobs: dropped, never run; b's two still run. */
  long long total_done, total_dropped;
  shoal_crypto_pool_totals(&total_done, &total_dropped);
  CHECK(total_dropped == 0 && total_done == 200);
  shoal_crypto_pool_cancel(&owner_a);
  CHECK(atomic_load(&dropped) == 4);
  shoal_crypto_pool_totals(&total_done, &total_dropped);
  CHECK(total_dropped == 4);
  atomic_store(&gate, 1);
  WAIT_FOR(atomic_load(&done) == 202);
  CHECK(shoal_crypto_pool_pending() == 0);
  (void)submitted;
  shoal_crypto_pool_release();
  shoal_crypto_pool_release(); /* the last user: threads joined */
  shoal_crypto_pool_release(); /* one too many: ignored */
  j = new_job(&owner_a, &done, &dropped, NULL);
  CHECK(shoal_crypto_pool_submit(&j->job) == SHOAL_EINVAL);
  /* Restart after a full stop. */
  CHECK(shoal_crypto_pool_acquire(1, 8) == 0);
  CHECK(shoal_crypto_pool_submit(&j->job) == 0);
  WAIT_FOR(atomic_load(&done) == 203);
  shoal_crypto_pool_release();
}

int main(void) {
  test_sha_hmac_hkdf();
  test_random_and_codecs();
  test_x25519();
  test_x25519_key();
  test_aead_kat();
  test_aead_frames();
  test_kdf_kat();
  test_kdf_format();
  test_pool();
  printf("test_crypto: ok\n");
  return 0;
}
