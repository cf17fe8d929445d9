/*
 * example_ds.c - an example dedicated server for dsagent (shoal_ds.h,
 * docs/ds-protocol.md). It becomes READY, sends HEALTH every interval,
 * takes a match (ALLOCATED), plays it for --match-ms and exits 0. The
 * other options make it misbehave, for the tests:
 *
 *   --ready-ms N      READY after N ms (default 0)     --never-ready
 *   --health-ms N     HEALTH interval (default 200)    --match-ms N (default 100)
 *   --crash-ms N      abort() N ms after start         --exit-code-ms N (exit 3 after N ms)
 *   --hang-ms N       stop all heartbeats N ms after READY (and sleep)
 *   --spin-ms N       spin the CPU N ms after READY (still sends HEALTH)
 *   --grow-mb N       grow the RSS by N MB every 100 ms after READY
 *   --helper          start a helper that calls setsid() and sleeps
 *   --garbage         send a line that is not the protocol after READY
 *   --garbage-long    send 2,000 bytes without a newline after READY
 *   --ignore-term     ignore SIGTERM (the agent must SIGKILL it)
 *   --spam-kb N       write N KB of text to stdout after READY (its log is rotated)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shoal_ds.h"

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static long opt(int argc, char **argv, const char *name, long def) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], name) == 0) return (i + 1 < argc && argv[i + 1][0] != '-') ? atol(argv[i + 1]) : 1;
  }
  return def;
}

static struct shoal_ds ds;
static volatile unsigned long spin_sink;
static void *volatile grown;
static char match[SHOAL_DS_MAX_MATCH];

int main(int argc, char **argv) {
  if (shoal_ds_open(&ds) != 0) {
    fprintf(stderr, "example_ds: no SHOAL_DS_FD: start me from dsagent\n");
    return 2;
  }
  long ready_ms = opt(argc, argv, "--ready-ms", 0), health_ms = opt(argc, argv, "--health-ms", 200);
  long match_ms = opt(argc, argv, "--match-ms", 100), crash_ms = opt(argc, argv, "--crash-ms", -1);
  long exit_ms = opt(argc, argv, "--exit-code-ms", -1), hang_ms = opt(argc, argv, "--hang-ms", -1);
  long spin_ms = opt(argc, argv, "--spin-ms", -1), grow_mb = opt(argc, argv, "--grow-mb", 0);
  int never_ready = opt(argc, argv, "--never-ready", 0) > 0, garbage = opt(argc, argv, "--garbage", 0) > 0;
  int garbage_long = opt(argc, argv, "--garbage-long", 0) > 0;
  if (opt(argc, argv, "--ignore-term", 0) > 0) signal(SIGTERM, SIG_IGN);
  long spam_kb = opt(argc, argv, "--spam-kb", 0);
  if (opt(argc, argv, "--helper", 0) > 0 && fork() == 0) {
    setsid();
    close(3);
    for (int i = 0; i < 600; i++) sleep(1); /* bounded: 10 minutes */
    _exit(0);
  }
  const char *port = getenv("SHOAL_DS_PORT");
  printf("example_ds: pid %d port %s\n", (int)getpid(), port ? port : "?");
  fflush(stdout);
  long start = now_ms(), ready_at = -1, last_health = 0, match_end = -1, last_grow = 0;
  for (;;) {
    long t = now_ms();
    if (crash_ms >= 0 && t - start >= crash_ms) abort();
    if (exit_ms >= 0 && t - start >= exit_ms) return 3;
    if (ready_at < 0 && !never_ready && t - start >= ready_ms) {
      if (shoal_ds_ready(&ds) != 0) return 1;
      ready_at = t;
      if (garbage) shoal_ds_send(&ds, "HELLO I AM NOT THE PROTOCOL\n");
      if (garbage_long) {
        static char junk[2001];
        memset(junk, 'x', 2000);
        shoal_ds_send(&ds, junk);
      }
      for (long i = 0; i < spam_kb * 16; i++) printf("example_ds: spam line %09ld ...............................\n", i); /* 64 bytes */
      fflush(stdout);
    }
    if (ready_at >= 0 && hang_ms >= 0 && t - ready_at >= hang_ms) {
      for (;;) pause(); /* a hang: no more heartbeats */
    }
    if (ready_at >= 0 && spin_ms >= 0 && t - ready_at >= spin_ms) {
      for (long i = 0; i < 20000000L; i++) spin_sink += (unsigned long)i; /* ~10-30 ms of CPU */
    }
    if (ready_at >= 0 && grow_mb > 0 && t - last_grow >= 100) {
      size_t n = (size_t)grow_mb << 20;
      char *p = malloc(n);
      if (p) {
        memset(p, 1, n); /* touched: it counts in the RSS */
        *(void **)p = grown; /* kept: a compiler may not drop the allocation */
        grown = p;
      }
      last_grow = t;
    }
    if (t - last_health >= health_ms) {
      if (shoal_ds_health(&ds) != 0) return 1;
      last_health = t;
    }
    if (match_end >= 0 && t >= match_end) {
      printf("example_ds: match over\n");
      shoal_ds_shutdown(&ds);
      return 0;
    }
    size_t n = 0;
    int ev = shoal_ds_poll(&ds, spin_ms >= 0 ? 0 : 20, match, sizeof(match), &n);
    if (ev < 0 || ev == SHOAL_DS_SHUTDOWN) {
      printf("example_ds: %s\n", ev < 0 ? "the agent closed the socket" : "SHUTDOWN");
      return 0;
    }
    if (ev == SHOAL_DS_ALLOCATED) {
      printf("example_ds: allocated: %.*s\n", (int)(n > 200 ? 200 : n), match);
      fflush(stdout);
      match_end = now_ms() + match_ms;
    }
  }
}
