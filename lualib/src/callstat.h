/*
 * callstat.h - latency histograms of the calls Lua services make, local and
 * cross-node, for the metrics service (docs/operations.md, "Metrics").
 *
 * A service notes the clock when it sends a call (shoal_callstat_begin) and adds
 * the elapsed time when the answer (a response or an error) resumes the
 * caller (shoal_callstat_end). Times are kept per service in a ring of
 * SHOAL_CALLSTAT_RING slots indexed by session, allocated on the first call; a
 * call whose slot a later call took (more than SHOAL_CALLSTAT_RING in flight) is
 * not measured. The histograms are per worker thread (no shared cache line
 * between workers, no lock) and summed by shoal_callstat_read.
 */
#ifndef SHOAL_CALLSTAT_H
#define SHOAL_CALLSTAT_H

#include <stdint.h>

#define SHOAL_CALLSTAT_RING 64     /* calls in flight a service times at once */
#define SHOAL_CALLSTAT_BUCKETS 19  /* finite upper bounds (shoal_callstat_bounds), +Inf after them */

struct shoal_callstat_clock; /* a service's ring */

/* The upper bounds of the buckets, seconds. */
extern const double shoal_callstat_bounds[SHOAL_CALLSTAT_BUCKETS];

/* Notes that session was sent to dest now; *ring is allocated on first use. */
void shoal_callstat_begin(struct shoal_callstat_clock **ring, int session, uint32_t dest, uint32_t self);
/* The answer of session arrived: adds its latency if it was timed. */
void shoal_callstat_end(struct shoal_callstat_clock *ring, int session);
void shoal_callstat_free(struct shoal_callstat_clock *ring);

struct shoal_callstat_sum {
  uint64_t count[SHOAL_CALLSTAT_BUCKETS + 1]; /* per bucket (not cumulative); the last is +Inf */
  uint64_t total;                       /* calls */
  uint64_t sum_ns;                      /* their latencies */
};
/* Sums every thread's histograms: out[0] local calls, out[1] cross-node. */
void shoal_callstat_read(struct shoal_callstat_sum out[2]);

#endif
