/*
 * socket.h - the socket server: one thread on epoll, owning every socket's
 * reads; writes go straight to the kernel from the sending thread when the
 * socket has nothing queued, else into a per-socket write buffer that the
 * socket thread drains. The public API is in shoal.h (shoal_socket_*).
 */
#ifndef SHOAL_SOCKET_H
#define SHOAL_SOCKET_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

/* Creates the epoll set and the command pipe; starts no thread. */
int shoal_socket_init(void);
/* The socket thread's loop: returns after shoal_socket_stop(). */
void shoal_socket_run(void);
/* Asks the socket thread to stop, then closes every socket. */
void shoal_socket_stop(void);
void shoal_socket_exit(void);

#endif
