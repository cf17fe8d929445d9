/*
 * harbor_wire.c - handshake helpers (see harbor_wire.h). HMAC comes from
 * OpenSSL's libcrypto (Debian libssl-dev); nonces from getrandom().
 */
#include "harbor_wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>

int wire_nonce(uint8_t nonce[WIRE_NONCE]) {
  return getrandom(nonce, WIRE_NONCE, 0) == WIRE_NONCE ? 0 : -1;
}

void wire_mac(const char *secret, size_t secretlen, char role, int from, int to,
              const uint8_t nonce_a[WIRE_NONCE], const uint8_t nonce_b[WIRE_NONCE], uint8_t mac[WIRE_MAC]) {
  uint8_t msg[16 + 3 + 2 * WIRE_NONCE];
  size_t n = 0;
  static const char tag[] = "shoal-harbor-1";
  for (size_t i = 0; i < sizeof(tag) - 1; i++) msg[n++] = (uint8_t)tag[i];
  msg[n++] = (uint8_t)role;
  msg[n++] = (uint8_t)from;
  msg[n++] = (uint8_t)to;
  for (int i = 0; i < WIRE_NONCE; i++) msg[n++] = nonce_a[i];
  for (int i = 0; i < WIRE_NONCE; i++) msg[n++] = nonce_b[i];
  unsigned int len = WIRE_MAC;
  HMAC(EVP_sha256(), secret, (int)secretlen, msg, n, mac, &len);
}

int wire_mac_equal(const uint8_t a[WIRE_MAC], const uint8_t b[WIRE_MAC]) {
  return CRYPTO_memcmp(a, b, WIRE_MAC) == 0; /* constant time: no timing hint of how much matched */
}
