/*
 * socket.h - the socket server: whichever thread holds the poll token runs
 * epoll and every socket's reads and state changes (usually an idle
 * worker, else the timer thread); writes go straight to the kernel from
 * the sending thread when the socket has nothing queued, else into a
 * per-socket write buffer that the poller drains. The public API is in
 * shoal.h (shoal_socket_*).
 */
#ifndef SHOAL_SOCKET_H
#define SHOAL_SOCKET_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

/* Creates the epoll set and the command pipe; starts no thread. */
int shoal_socket_init(void);
/* Closes every socket (after the threads have stopped). */
void shoal_socket_exit(void);

/* Polls without blocking and handles what is ready; the events become
 * messages pushed by the calling thread (on a worker, through its hand-off
 * slot). Skipped (cheaply) when another thread is the poller, when no
 * socket is open, or when the last poll is younger than age_ns (0: poll
 * anyway). Returns the number of events handled. */
int shoal_socket_poll(uint64_t age_ns);
/* An idle worker's sleep: unless another thread is the poller or no
 * socket is open (returns 0 at once), blocks in epoll_wait for up to
 * timeout_ms, handles what came and returns 1. It does not block when has_work() is true after the
 * poller announced itself, and shoal_socket_wake() ends the wait. */
int shoal_socket_wait(int timeout_ms, int (*has_work)(void));
/* Ends a poller's shoal_socket_wait early (cheap when nobody waits). */
void shoal_socket_wake(void);

#endif
