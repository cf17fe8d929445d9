/*
 * socket_frame.h - a cipher for a framed socket (core/socket_frame.c), for
 * the one C service that installs it: the gate (cservice/gate_cipher.c).
 * Not in shoal.h: no other service needs it.
 *
 * Once a framed socket has a cipher, every frame written to it, by any
 * thread (shoal_socket_send_frame), has its body sealed by the cipher
 * under the socket's write lock, in the same critical section that puts
 * the frame onto the socket. So the order in which frames are sealed (the
 * AEAD sequence numbers) is the order in which they reach the client,
 * whoever writes them. The core knows no cryptography: the cipher is a
 * vtable with the owner's functions, so core does not link OpenSSL.
 */
#ifndef SHOAL_SOCKET_FRAME_H
#define SHOAL_SOCKET_FRAME_H

#include <stddef.h>

#include "shoal.h"

struct shoal_frame_cipher {
  /* Bytes a sealed body has over the plain one. */
  size_t overhead;
  /* The largest plaintext the cipher seals (0: no limit of its own): a
   * longer frame is refused like one that does not fit the header. */
  size_t max;
  /* Seals plain[0..n) into out (n + overhead bytes). 0, or a negative
   * SHOAL_E* (the frame is then not written and the writer gets it). It
   * runs under the socket's spinlock: one call at a time per socket, never
   * blocking, no runtime call. */
  int (*seal)(void *ud, const void *plain, size_t n, unsigned char *out);
  /* Frees ud: the socket is closed (on the poller's thread, or at exit). */
  void (*release)(void *ud);
};

/* Installs cipher (ops, with its state ud) on framed socket id. If clear
 * is not NULL, the frame clear[0..clear_sz) is written first, unsealed, in
 * the same critical section: it is the last clear frame of the socket and
 * every frame after it is sealed, whoever writes it, so no other writer's
 * frame can slip between. ud is owned from the call on, even on failure
 * (ops->release is then called at once). ops must outlive the socket (a
 * static table). Returns 0; SHOAL_ENOSERVICE when the socket is gone or
 * not framed; SHOAL_EINVAL when it already has a cipher or clear does not
 * fit its header; SHOAL_EFULL as shoal_socket_send (the cipher is then not
 * installed). */
SHOAL_API int shoal_socket_set_cipher(int id, const struct shoal_frame_cipher *ops, void *ud, const void *clear,
                                      size_t clear_sz);

/* Builds one frame of body[0..sz) into out: the header, then the body,
 * sealed by ops (ud) when ops is not NULL. out holds header + sz +
 * overhead bytes (shoal_frame_size). Returns the frame's length, or a
 * negative SHOAL_E*: SHOAL_EINVAL when the body does not fit the header,
 * or the cipher's error. Pure: the unit test drives it directly. */
long shoal_frame_build(int header, const struct shoal_frame_cipher *ops, void *ud, const void *body, size_t sz,
                       unsigned char *out);
/* Bytes shoal_frame_build writes for sz body bytes, or 0 when they do not
 * fit a header of that size (or are over the cipher's max). */
size_t shoal_frame_size(int header, const struct shoal_frame_cipher *ops, size_t sz);

#endif
