/*
 * chat_client - a small client for the chat-room demo.
 *
 *   chat_client HOST PORT NAME
 *   chat_client HOST PORT NAME --script MSG... [--expect N]
 *
 * Every message is a frame: a 2-byte big-endian length, then the bytes.
 * The client sends "login NAME" first. Interactively, each line read from
 * stdin is sent as "say <line>" (empty lines are skipped); each frame from
 * the server is printed on stdout as one line. End of stdin sends "quit"
 * and waits up to 1 s for the server to close; a close by the server ends
 * the client too. Both exit 0.
 *
 * With --script the MSGs are sent as if typed, then the client waits until
 * it has received N frames (the server's reply to the login counts, if it
 * sends one) or 5 s have passed, prints them, sends "quit" and exits 0 if
 * it got N frames, 1 if not. Frames past the N-th are not printed.
 *
 * Known limits: writes block (a chat line is small and the server reads
 * all the time); a line longer than a frame holds is cut, with a warning.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 65535            /* what a 2-byte header can announce */
#define QUIT_WAIT_MS 1000          /* grace for the server to close after "quit" */
#define SCRIPT_WAIT_MS 5000        /* how long --script waits for its frames */

/* The receive side of the connection. */
struct conn {
  int fd;                            /* connected socket */
  unsigned char buf[2 + FRAME_MAX];  /* bytes of a frame not yet complete */
  size_t len;                        /* bytes used in buf */
  long frames;                       /* frames received and printed */
  long limit;                        /* print no more than this many frames */
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect to HOST:PORT (any address family); returns the socket or -1. */
static int dial(const char *host, const char *port) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "chat_client: %s:%s: %s\n", host, port, gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  for (ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    if (fd >= 0) close(fd);
    fd = -1;
  }
  if (fd < 0) fprintf(stderr, "chat_client: connect %s:%s: %s\n", host, port, strerror(errno));
  freeaddrinfo(res);
  return fd;
}

/* Send PREFIX followed by TEXT (LEN bytes) as one frame; -1 if the
 * connection is gone. The text is cut to fit in a frame. */
static int send_frame(int fd, const char *prefix, const char *text, size_t len) {
  static unsigned char frame[2 + FRAME_MAX];
  size_t plen = strlen(prefix);
  if (plen + len > FRAME_MAX) {
    fprintf(stderr, "chat_client: message cut to %d bytes\n", FRAME_MAX);
    len = FRAME_MAX - plen;
  }
  size_t n = plen + len;
  frame[0] = (unsigned char)(n >> 8);
  frame[1] = (unsigned char)n;
  memcpy(frame + 2, prefix, plen);
  memcpy(frame + 2 + plen, text, len);
  for (size_t off = 0; off < n + 2;) {
    ssize_t k = send(fd, frame + off, n + 2 - off, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      fprintf(stderr, "chat_client: send: %s\n", strerror(errno));
      return -1;
    }
    off += (size_t)k;
  }
  return 0;
}

/* Read what the socket has and print every complete frame as a line.
 * Returns 0, or -1 when the server closed the connection (or it failed). */
static int receive(struct conn *c) {
  ssize_t k = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
  if (k < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
  if (k <= 0) {
    if (k < 0) fprintf(stderr, "chat_client: recv: %s\n", strerror(errno));
    if (c->len > 0) fprintf(stderr, "chat_client: %zu bytes of an unfinished frame dropped\n", c->len);
    return -1;
  }
  c->len += (size_t)k;
  size_t pos = 0;
  while (c->len - pos >= 2) {
    size_t n = (size_t)c->buf[pos] << 8 | c->buf[pos + 1];
    if (c->len - pos < 2 + n) break;
    if (c->frames < c->limit) {
      fwrite(c->buf + pos + 2, 1, n, stdout);
      putchar('\n');
      c->frames++;
    }
    pos += 2 + n;
  }
  fflush(stdout);
  memmove(c->buf, c->buf + pos, c->len - pos); /* keep the unfinished frame */
  c->len -= pos;
  return 0;
}

/* Wait for the socket until UNTIL (ms on the monotonic clock) or until
 * STOP frames have arrived; returns -1 if the server closed. */
static int drain_until(struct conn *c, int64_t until, long stop) {
  while (c->frames < stop) {
    int64_t left = until - now_ms();
    if (left <= 0) return 0;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int n = poll(&p, 1, (int)left);
    if (n < 0 && errno != EINTR) return -1;
    if (n > 0 && receive(c) < 0) return -1;
  }
  return 0;
}

/* Send the line at LINE (LEN bytes, no newline) as "say <line>". */
static int say_line(int fd, char *line, size_t len) {
  if (len > 0 && line[len - 1] == '\r') len--;
  if (len == 0) return 0;
  return send_frame(fd, "say ", line, len);
}

/* The interactive loop: stdin lines out, frames in. */
static int run_interactive(struct conn *c) {
  static char line[FRAME_MAX];
  size_t used = 0;
  for (;;) {
    struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      perror("chat_client: poll");
      return 1;
    }
    if ((p[0].revents & (POLLIN | POLLERR | POLLHUP)) && receive(c) < 0) {
      fprintf(stderr, "chat_client: server closed the connection\n");
      return 0;
    }
    if (!(p[1].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))) continue;
    ssize_t k = read(STDIN_FILENO, line + used, sizeof(line) - used);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) { /* end of input: say goodbye and give the server a moment */
      if (say_line(c->fd, line, used) < 0 || send_frame(c->fd, "quit", "", 0) < 0) return 0;
      drain_until(c, now_ms() + QUIT_WAIT_MS, LONG_MAX);
      return 0;
    }
    used += (size_t)k;
    size_t start = 0;
    for (size_t i = 0; i < used; i++) {
      if (line[i] != '\n') continue;
      if (say_line(c->fd, line + start, i - start) < 0) return 0;
      start = i + 1;
    }
    if (start == 0 && used == sizeof(line)) { /* no newline in a full buffer */
      if (say_line(c->fd, line, used) < 0) return 0;
      start = used;
    }
    memmove(line, line + start, used - start);
    used -= start;
  }
}

/* --script: send MSGS, collect EXPECT frames within SCRIPT_WAIT_MS. */
static int run_script(struct conn *c, char **msgs, int nmsg, long expect) {
  for (int i = 0; i < nmsg; i++)
    if (say_line(c->fd, msgs[i], strlen(msgs[i])) < 0) return 1;
  c->limit = expect;
  int closed = drain_until(c, now_ms() + SCRIPT_WAIT_MS, expect) < 0;
  if (!closed) send_frame(c->fd, "quit", "", 0);
  if (c->frames < expect)
    fprintf(stderr, "chat_client: got %ld of %ld frames%s\n", c->frames, expect,
            closed ? " before the server closed" : " in time");
  return c->frames >= expect ? 0 : 1;
}

static void usage(void) {
  fprintf(stderr, "usage: chat_client HOST PORT NAME\n"
                  "       chat_client HOST PORT NAME --script MSG... [--expect N]\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 4) usage();
  int script = 0, nmsg = 0;
  long expect = 0;
  char **msgs = NULL;
  for (int i = 4; i < argc; i++) {
    if (strcmp(argv[i], "--script") == 0 && !script) {
      script = 1;
      msgs = argv + i + 1;
      while (i + 1 < argc && strcmp(argv[i + 1], "--expect") != 0) i++, nmsg++;
    } else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) {
      char *end;
      expect = strtol(argv[++i], &end, 10);
      if (*end || expect < 0) usage();
    } else {
      usage();
    }
  }
  signal(SIGPIPE, SIG_IGN);
  /* With stdin closed the socket would become fd 0 and read as input. */
  if (fcntl(STDIN_FILENO, F_GETFD) < 0 && open("/dev/null", O_RDONLY) != STDIN_FILENO) return 1;
  static struct conn c; /* 64 KB buffer: not on the stack */
  c.limit = LONG_MAX;
  c.fd = dial(argv[1], argv[2]);
  if (c.fd < 0) return 1;
  const char *name = argv[3];
  int rc = 1;
  if (send_frame(c.fd, "login ", name, strlen(name)) == 0)
    rc = script ? run_script(&c, msgs, nmsg, expect) : run_interactive(&c);
  close(c.fd);
  return rc;
}
