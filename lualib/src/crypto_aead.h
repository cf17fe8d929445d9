/*
 * crypto_aead.h - ChaCha20-Poly1305 (RFC 8439) frames for one direction of
 * an encrypted connection, with a counter nonce that never repeats.
 *
 * A frame is   SEQ (8 bytes, big-endian) | CIPHERTEXT (as long as the
 * plaintext) | TAG (16 bytes), 24 bytes over the plaintext. The nonce is
 * 4 zero bytes then SEQ: 96 bits, unique per key because a sealer counts
 * 0, 1, 2, ... and refuses to go past 2^64 - 2. The optional associated
 * data (aad) is authenticated, not sent. An opener accepts exactly the
 * next SEQ: a lower one is a replay, a higher one a reordered (or lost)
 * frame, a bad tag a forgery; a refused frame changes nothing, the next
 * good one still opens. A key serves ONE direction: each side derives a
 * client-to-server and a server-to-client key (docs/crypto.md), so the two
 * counters never meet under one key.
 *
 * An object is used by one thread at a time (its service's).
 */
#ifndef SHOAL_CRYPTO_AEAD_H
#define SHOAL_CRYPTO_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

#define SHOAL_CRYPTO_AEAD_KEY 32
#define SHOAL_CRYPTO_AEAD_NONCE 12
#define SHOAL_CRYPTO_AEAD_SEQ 8
#define SHOAL_CRYPTO_AEAD_TAG 16
#define SHOAL_CRYPTO_AEAD_OVERHEAD (SHOAL_CRYPTO_AEAD_SEQ + SHOAL_CRYPTO_AEAD_TAG)
#define SHOAL_CRYPTO_AEAD_MAX (16u << 20) /* largest plaintext of one frame */
#define SHOAL_CRYPTO_AEAD_AAD_MAX 65536

/* Why a seal or an open failed: a closed set, folded into the runtime's
 * one error list (SHOAL_ERRNO_LIST in shoal.h), so a frame code is a
 * shoal.errors code in Lua and in an ERROR message. The names here are
 * aliases. */
#define SHOAL_CRYPTO_AEAD_ERRORS(X) \
  X(MALFORMED) X(REPLAYED) X(REORDERED) X(FORGED) X(EXHAUSTED) X(WRONGWAY)
#define SHOAL_CRYPTO_AEAD_MALFORMED SHOAL_EMALFORMED
#define SHOAL_CRYPTO_AEAD_REPLAYED SHOAL_EREPLAYED
#define SHOAL_CRYPTO_AEAD_REORDERED SHOAL_EREORDERED
#define SHOAL_CRYPTO_AEAD_FORGED SHOAL_EFORGED
#define SHOAL_CRYPTO_AEAD_EXHAUSTED SHOAL_EEXHAUSTED
#define SHOAL_CRYPTO_AEAD_WRONGWAY SHOAL_EWRONGWAY
/* The text of a frame code (shoal_strerror's, for every code). */
const char *shoal_crypto_aead_strerror(int err);

struct shoal_crypto_aead;

/* A sealer (sealing = 1) or opener (0) over key; the object keeps only
 * OpenSSL's schedule of it (the caller wipes its copy). NULL on failure. */
struct shoal_crypto_aead *shoal_crypto_aead_new(const unsigned char key[SHOAL_CRYPTO_AEAD_KEY], int sealing);
void shoal_crypto_aead_free(struct shoal_crypto_aead *a);
/* The sequence number the next seal uses / the next open expects. */
uint64_t shoal_crypto_aead_next(const struct shoal_crypto_aead *a);
/* Seals n plaintext bytes into out (n + SHOAL_CRYPTO_AEAD_OVERHEAD bytes).
 * 0 or a SHOAL_CRYPTO_AEAD_* error. */
int shoal_crypto_aead_seal(struct shoal_crypto_aead *a, const void *plain, size_t n, const void *aad, size_t aadlen,
                           unsigned char *out);
/* Opens an n-byte frame into out (n - SHOAL_CRYPTO_AEAD_OVERHEAD bytes).
 * 0 or a SHOAL_CRYPTO_AEAD_* error; out is wiped on failure. */
int shoal_crypto_aead_open(struct shoal_crypto_aead *a, const unsigned char *frame, size_t n, const void *aad,
                           size_t aadlen, unsigned char *out);
/* The bare RFC 8439 AEAD with a caller's nonce (for known-answer tests):
 * encrypt: out = ciphertext, tag written; decrypt: tag checked, out =
 * plaintext. 0, or SHOAL_CRYPTO_AEAD_FORGED. */
int shoal_crypto_aead_raw(int encrypt, const unsigned char key[SHOAL_CRYPTO_AEAD_KEY],
                          const unsigned char nonce[SHOAL_CRYPTO_AEAD_NONCE], const void *aad, size_t aadlen,
                          const void *in, size_t n, unsigned char *out, unsigned char tag[SHOAL_CRYPTO_AEAD_TAG]);

#endif
