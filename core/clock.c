/*
 * clock.c - cheap monotonic clock (see clock.h).
 */
#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

static int use_tsc;        /* 1 when the TSC is usable */
static double ns_per_tick; /* measured at init */
static uint64_t tsc_origin;

static uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Both flags are needed: constant_tsc (fixed rate across frequency changes)
 * and nonstop_tsc (keeps counting in deep idle states). */
static int tsc_is_reliable(void) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f == NULL) return 0;
  char line[4096];
  int ok = 0;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, "flags", 5) == 0) {
      ok = strstr(line, " constant_tsc") != NULL && strstr(line, " nonstop_tsc") != NULL;
      break;
    }
  }
  fclose(f);
  return ok;
}

void shoal_clock_init(void) {
#if defined(__x86_64__)
  if (!tsc_is_reliable()) return;
  uint64_t t0 = monotonic_ns(), c0 = __rdtsc();
  struct timespec pause = {0, 2000000};
  nanosleep(&pause, NULL);
  uint64_t t1 = monotonic_ns(), c1 = __rdtsc();
  if (c1 <= c0 || t1 <= t0) return;
  ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
  tsc_origin = c0 - (uint64_t)((double)t0 / ns_per_tick);
  use_tsc = 1;
#endif
}

uint64_t shoal_clock_ns(void) {
#if defined(__x86_64__)
  if (use_tsc) return (uint64_t)((double)(__rdtsc() - tsc_origin) * ns_per_tick);
#endif
  return monotonic_ns();
}
