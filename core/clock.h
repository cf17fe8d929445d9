/*
 * clock.h - a cheap monotonic nanosecond clock for the hot path.
 *
 * The scheduler stamps every dispatch (CPU time per service) and every
 * hand-off; clock_gettime costs ~20 ns even through the vDSO, a TSC read
 * ~7 ns. When the CPU's TSC is constant and non-stop we scale it to ns with
 * a factor measured at start; otherwise we fall back to CLOCK_MONOTONIC.
 * Precision: good to a few percent - use it for durations, not wall time.
 */
#ifndef SHOAL_CLOCK_H
#define SHOAL_CLOCK_H

#include <stdint.h>

#include "shoal.h"

/* Measures the TSC rate (about 2 ms); call once before the threads start. */
void shoal_clock_init(void);
/* Monotonic nanoseconds from an arbitrary origin. */
/* Exported (shoal.h): Lua services time their calls with it (lualib/src/callstat.c). */
SHOAL_API uint64_t shoal_clock_ns(void);

#endif
