/*
 * shoal_ds.h - a tiny client of the dsagent protocol for a dedicated
 * server (DS) process (docs/ds-protocol.md). Header only, no dependency
 * but libc; include it in one or more C/C++ files of the game server.
 *
 *   struct shoal_ds ds;
 *   if (shoal_ds_open(&ds) != 0) ...              // not started by dsagent
 *   shoal_ds_ready(&ds);                          // once it takes players
 *   for (;;) {
 *     char match[SHOAL_DS_MAX_MATCH]; size_t n;
 *     int ev = shoal_ds_poll(&ds, 1000, match, sizeof(match), &n);
 *     if (ev == SHOAL_DS_ALLOCATED) ...           // a match: match[0..n)
 *     if (ev == SHOAL_DS_SHUTDOWN || ev < 0) ...  // exit now
 *     shoal_ds_health(&ds);                       // at least every health interval
 *   }
 *   shoal_ds_shutdown(&ds);                       // the match ended: exiting
 *
 * The socket is fd SHOAL_DS_FD (an AF_UNIX stream socket the agent made);
 * the DS's port is SHOAL_DS_PORT, its process id SHOAL_DS_ID.
 */
#ifndef SHOAL_DS_H
#define SHOAL_DS_H

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHOAL_DS_MAX_LINE 1024    /* a line either way, with its "\n" */
#define SHOAL_DS_MAX_MATCH 65536  /* ALLOCATED's match data, bytes */

enum { SHOAL_DS_NONE = 0, SHOAL_DS_ALLOCATED = 1, SHOAL_DS_SHUTDOWN = 2 };

struct shoal_ds {
  int fd;
  size_t len;                      /* bytes in buf */
  char buf[SHOAL_DS_MAX_LINE + SHOAL_DS_MAX_MATCH];
};

/* Takes the socket from SHOAL_DS_FD; 0, or -1 when there is none. */
static inline int shoal_ds_open(struct shoal_ds *ds) {
  const char *v = getenv("SHOAL_DS_FD");
  ds->fd = v ? atoi(v) : -1;
  ds->len = 0;
  return ds->fd > 2 ? 0 : -1;
}

/* Writes one whole line; 0 or -1 (the agent is gone). */
static inline int shoal_ds_send(struct shoal_ds *ds, const char *line) {
  size_t n = strlen(line), off = 0;
  while (off < n) {
    ssize_t w = write(ds->fd, line + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    off += (size_t)w;
  }
  return 0;
}

static inline int shoal_ds_ready(struct shoal_ds *ds) { return shoal_ds_send(ds, "READY\n"); }
static inline int shoal_ds_health(struct shoal_ds *ds) { return shoal_ds_send(ds, "HEALTH\n"); }
static inline int shoal_ds_shutdown(struct shoal_ds *ds) { return shoal_ds_send(ds, "SHUTDOWN\n"); }

/* One complete message in buf: its event (match data copied to out,
 * *outlen set) and consumed, SHOAL_DS_NONE when incomplete, -1 when bad. */
static inline int shoal_ds_parse(struct shoal_ds *ds, char *out, size_t cap, size_t *outlen) {
  char *nl = memchr(ds->buf, '\n', ds->len);
  if (nl == NULL) return ds->len >= SHOAL_DS_MAX_LINE ? -1 : SHOAL_DS_NONE;
  size_t line = (size_t)(nl - ds->buf) + 1, used = line;
  int ev;
  if (line == 9 && memcmp(ds->buf, "SHUTDOWN\n", 9) == 0) {
    ev = SHOAL_DS_SHUTDOWN;
  } else if (line > 11 && memcmp(ds->buf, "ALLOCATED ", 10) == 0) {
    size_t n = (size_t)strtoul(ds->buf + 10, NULL, 10);
    if (n > SHOAL_DS_MAX_MATCH || n > cap) return -1;
    if (ds->len < line + n) return SHOAL_DS_NONE;
    memcpy(out, ds->buf + line, n);
    *outlen = n;
    used += n;
    ev = SHOAL_DS_ALLOCATED;
  } else {
    return -1;
  }
  memmove(ds->buf, ds->buf + used, ds->len - used);
  ds->len -= used;
  return ev;
}

/* Waits up to timeout_ms for a message from the agent: SHOAL_DS_NONE
 * (nothing came), SHOAL_DS_ALLOCATED (match data in out[0..*outlen)),
 * SHOAL_DS_SHUTDOWN, or -1 (the agent closed the socket or sent garbage:
 * exit). */
static inline int shoal_ds_poll(struct shoal_ds *ds, int timeout_ms, char *out, size_t cap, size_t *outlen) {
  int ev = shoal_ds_parse(ds, out, cap, outlen);
  if (ev != SHOAL_DS_NONE) return ev;
  struct pollfd pf = {ds->fd, POLLIN, 0};
  int r = poll(&pf, 1, timeout_ms);
  if (r < 0) return errno == EINTR ? SHOAL_DS_NONE : -1;
  if (r == 0) return SHOAL_DS_NONE;
  ssize_t n = read(ds->fd, ds->buf + ds->len, sizeof(ds->buf) - ds->len);
  if (n < 0 && errno == EINTR) return SHOAL_DS_NONE;
  if (n <= 0) return -1;
  ds->len += (size_t)n;
  return shoal_ds_parse(ds, out, cap, outlen);
}

#endif
