/*
 * harbor_fake.h - a stand-in runtime for the harbor service's unit test
 * (test_harbor.c): the shoal.h functions the harbor calls, recording what
 * it does (socket writes, sends, error replies, log lines, dials) instead
 * of doing it, with a clock the test moves by hand.
 */
#ifndef SHOAL_TEST_HARBOR_FAKE_H
#define SHOAL_TEST_HARBOR_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "shoal.h"

#define FAKE_SOCKETS 2048
#define FAKE_SENDS 4096

struct fake_send {
  uint32_t source, dest;
  int type, session;
  size_t size;
  char text[256]; /* the payload's first bytes, NUL-terminated */
  int error;      /* sent with shoal_reply_error */
};

struct fake_socket {
  uint8_t *out; /* bytes the harbor wrote */
  size_t len, read;
  int aborted, closed, started;
  char connect_host[128]; /* for a dial: the host it was given */
};

struct fake {
  uint32_t self;
  int node;
  uint64_t now;
  int next_sock;
  int timer_session;
  int random_fails; /* getrandom fails while set */
  shoal_cb cb;
  void *ud;
  struct fake_socket socks[FAKE_SOCKETS];
  struct fake_send sends[FAKE_SENDS];
  int nsends;
  char *log; /* every log line, '\n'-separated */
  size_t loglen, logcap;
  int loglines;
  const char *env[32][2];
};

extern struct fake F;

void fake_reset(int node);
void fake_setenv(const char *key, const char *value);
/* Delivers a message to the harbor's callback (the payload is not freed). */
void fake_deliver(int type, int session, uint32_t source, const void *msg, size_t sz);
/* Delivers a socket event. */
void fake_socket_event(int type, int id, int ud, const char *buffer, size_t n);
/* Next frame socket id wrote: its kind (0 when none), body into b. */
int fake_next_frame(int id, uint8_t *b, size_t cap, size_t *n);
/* Counts the log lines holding text. */
int fake_log_count(const char *text);
/* Runs the harbor's tick at the fake clock's now. */
void fake_tick(void);

#endif
