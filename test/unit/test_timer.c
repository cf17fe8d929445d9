/*
 * test_timer.c - unit test for core/timer.c, driven by a fake clock.
 *
 * Every single-threaded scenario goes through one harness: add_timer() notes
 * each timer's due tick and insertion sequence, the fire callback checks that
 * it runs exactly at its due tick (shoal_timer_now() == due), that fire order
 * is (due, insertion) ascending, and that nothing fires twice; after every
 * advance, step() checks that nothing due is still waiting. A fixed seed keeps
 * failures reproducible.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "shoal.h"
#include "timer.h"

#define CHECKF(cond, ...)                                                    \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                          \
      fputc('\n', stderr);                                                   \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

/* Handles are derived from the session so a swapped pair is caught. */
#define HANDLE_OF(session) ((uint32_t)(session) ^ 0x5a5a0000u)

/* ---- deterministic random numbers (xorshift64*) */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

static uint32_t rng_below(uint32_t n) {
  return (uint32_t)(rng() % n);
}

/* ---- the single-threaded harness */

struct rec {
  uint64_t due;   /* wheel tick it must fire at */
  uint32_t ms;    /* delay it was added with, for messages */
  int fired;      /* times fired */
  int from_fire;  /* added by a fire callback: ms == 0 may wait for the next advance */
};

static struct rec *recs;
static size_t nrecs, caprecs;
static size_t nfired;
/* Every record before this index has fired: step() need not rescan them. */
static size_t scan_from;
static int have_last;
static uint64_t last_due;
static int last_session;
/* When set, some fires add another timer, to exercise adding from fire. */
static int readd_budget;
static int in_fire;

static int add_timer(uint32_t ms) {
  if (nrecs == caprecs) {
    caprecs = caprecs ? caprecs * 2 : 1024;
    recs = realloc(recs, caprecs * sizeof *recs);
    CHECK(recs != NULL);
  }
  int session = (int)nrecs++;
  recs[session] = (struct rec){.due = shoal_timer_now() + ms, .ms = ms, .fired = 0,
                               .from_fire = in_fire};
  CHECK(shoal_timer_add(HANDLE_OF(session), session, ms) == 0);
  return session;
}

static uint32_t random_delay(void);

static void fire_checked(uint32_t handle, int session) {
  CHECKF(session >= 0 && (size_t)session < nrecs, "session %d", session);
  CHECKF(handle == HANDLE_OF(session), "session %d handle %08" PRIx32, session, handle);
  struct rec *r = &recs[session];
  uint64_t now = shoal_timer_now();
  CHECKF(r->fired == 0, "session %d fired twice", session);
  /* A ms == 0 timer added by a fire goes out with the next tick, if any. */
  int late_ok = r->from_fire && r->ms == 0 && now == r->due + 1;
  CHECKF(now == r->due || late_ok, "session %d (ms %" PRIu32 ") due %" PRIu64 " fired at %" PRIu64,
         session, r->ms, r->due, now);
  if (have_last)
    CHECKF(last_due < r->due || (last_due == r->due && last_session < session),
           "order: session %d (due %" PRIu64 ") after session %d (due %" PRIu64 ")", session,
           r->due, last_session, last_due);
  have_last = 1;
  last_due = r->due;
  last_session = session;
  r->fired = 1;
  nfired++;
  if (readd_budget > 0 && session % 7 == 0) {
    readd_budget--;
    in_fire = 1;
    add_timer(session % 21 == 0 ? 0 : random_delay());
    in_fire = 0;
  }
}

static void harness_begin(void) {
  nrecs = 0;
  nfired = 0;
  scan_from = 0;
  have_last = 0;
  readd_budget = 0;
  shoal_timer_init(fire_checked);
  CHECK(shoal_timer_now() == 0);
  CHECK(shoal_timer_pending() == 0);
}

static void harness_end(void) {
  shoal_timer_exit();
  CHECK(shoal_timer_now() == 0);
  CHECK(shoal_timer_pending() == 0);
}

/* Advances to `target` and checks every timer due by then has fired. */
static void step(uint64_t target) {
  uint64_t before = shoal_timer_now();
  shoal_timer_advance_to(target);
  uint64_t now = shoal_timer_now();
  CHECKF(now == (target > before ? target : before), "now %" PRIu64 " target %" PRIu64, now,
         target);
  while (scan_from < nrecs && recs[scan_from].fired)
    scan_from++;
  size_t armed = 0;
  for (size_t i = scan_from; i < nrecs; i++) {
    /* A ms == 0 timer added by the last tick's fire is due at the next advance. */
    int late_ok = recs[i].from_fire && recs[i].ms == 0 && recs[i].due == now;
    CHECKF(recs[i].fired || recs[i].due > now || late_ok,
           "session %zu (ms %" PRIu32 ") due %" PRIu64 " not fired at %" PRIu64, i, recs[i].ms,
           recs[i].due, now);
    armed += !recs[i].fired;
  }
  CHECKF(shoal_timer_pending() == armed, "pending %" PRIu64 " armed %zu", shoal_timer_pending(),
         armed);
}

/* Steps forward in random strides until every timer has fired. */
static void drain(void) {
  uint64_t last = shoal_timer_now();
  for (size_t i = scan_from; i < nrecs; i++)
    if (!recs[i].fired && recs[i].due > last)
      last = recs[i].due;
  while (shoal_timer_now() < last || nfired < nrecs) {
    uint64_t now = shoal_timer_now();
    uint32_t r = rng_below(100);
    uint64_t stride = r < 5 ? 0 : r < 90 ? 1 + rng_below(300) : 1 + rng_below(5000);
    step(now + stride);
    for (size_t i = scan_from; i < nrecs; i++) /* fires may have added more */
      if (!recs[i].fired && recs[i].due > last)
        last = recs[i].due;
  }
  CHECK(nfired == nrecs);
  CHECK(shoal_timer_pending() == 0);
}

/* Delays 0..70000, a quarter of them aimed at wheel level boundaries: fixed
 * values, and values that land exactly on (or next to) the next 256 or 16384
 * block from wherever the clock is now. */
static uint32_t random_delay(void) {
  static const uint32_t fixed[] = {0,     1,     2,     255,   256,   257,   16383,
                                   16384, 16385, 32768, 65535, 65536, 69999, 70000};
  uint32_t r = rng_below(8);
  uint32_t now = (uint32_t)shoal_timer_now();
  switch (r) {
  case 0:
    return fixed[rng_below(sizeof fixed / sizeof fixed[0])];
  case 1: {
    uint32_t d = 256 - (now & 255) + rng_below(3); /* next 256 block, +0..2 */
    return d - 1;
  }
  case 2: {
    uint32_t d = 16384 - (now & 16383) + rng_below(3);
    return d - 1;
  }
  default:
    return rng_below(70001);
  }
}

/* ---- the scenarios */

static void test_uninitialised(void) {
  CHECK(shoal_timer_add(1, 1, 0) == SHOAL_EINVAL);
  CHECK(shoal_timer_pending() == 0);
  shoal_timer_advance_to(100); /* harmless no-ops */
  shoal_timer_update();
  CHECK(shoal_timer_now() == 0);
}

static void test_zero_delay(void) {
  harness_begin();
  int s = add_timer(0);
  CHECK(shoal_timer_pending() == 1);
  step(0); /* time does not move, the timer still fires */
  CHECK(recs[s].fired == 1);
  step(10);
  s = add_timer(0);
  int t = add_timer(1);
  step(10);
  CHECK(recs[s].fired == 1 && recs[t].fired == 0);
  step(11);
  CHECK(recs[t].fired == 1);
  s = add_timer(0);
  step(5); /* backwards is ignored, but still fires what is due */
  CHECK(shoal_timer_now() == 11 && recs[s].fired == 1);
  harness_end();
}

static void test_same_due_order(void) {
  harness_begin();
  /* Same due tick reached through different paths: added at different times
   * with different delays, so some cascade from levels and some go straight
   * to the near wheel. */
  for (int i = 0; i < 50; i++)
    add_timer(20000);
  step(3000);
  for (int i = 0; i < 50; i++)
    add_timer(17000);
  step(19990);
  for (int i = 0; i < 50; i++)
    add_timer(10);
  step(20000);
  CHECK(nfired == 150);
  for (int i = 0; i < 150; i++)
    CHECK(recs[i].due == 20000 && recs[i].fired);
  harness_end();
}

static void test_random_order(void) {
  harness_begin();
  readd_budget = 2000;
  for (int i = 0; i < 10000; i++)
    add_timer(random_delay());
  step(0);
  /* Keep adding while the clock runs so adds happen at every phase of every
   * wheel level. */
  while (shoal_timer_now() < 60000) {
    for (int i = 0; i < 40; i++)
      add_timer(random_delay());
    uint32_t r = rng_below(100);
    step(shoal_timer_now() + (r < 5 ? 0 : r < 95 ? 1 + rng_below(300) : 1 + rng_below(3000)));
  }
  drain();
  CHECK(nrecs > 10000);
  harness_end();
}

/* Starts from clock values just before level boundaries (reached by jumping an
 * empty wheel) and adds delays that cross them, including the 2^32 epoch. */
static void test_level_boundaries(void) {
  static const struct {
    uint64_t block;  /* jump to `before` ms ahead of the next multiple of this */
    uint64_t before;
    int far;         /* also add the delays past 2^20 (1M ticks to drain) */
  } starts[] = {
      {1, 0, 1},
      {1ull << 8, 3, 0},
      {1ull << 14, 5, 0},
      {1ull << 14, 1, 0},
      {1ull << 20, 7, 1},
      {1ull << 26, 300, 0},
      {1ull << 32, 300, 1},
      {1ull << 26, 1000, 0},
      {1ull << 32, 17000, 0},
      {1ull << 8, 200, 0},
  };
  static const uint32_t delays[] = {
      0,   1,   2,    3,    4,     5,     6,     7,     8,     199,   200,  201,
      255, 256, 257,  299,  300,   301,   1000,  1001,  16383, 16384, 16385, 17000, 17001,
  };
  static const uint32_t far_delays[] = {
      (1u << 20) - 1, 1u << 20, (1u << 20) + 1, (1u << 20) + 16384 + 256 + 1,
  };
  harness_begin();
  for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
    CHECK(shoal_timer_pending() == 0);
    uint64_t now = shoal_timer_now();
    uint64_t start = (now / starts[s].block + 1) * starts[s].block - starts[s].before;
    if (start < now)
      start += starts[s].block;
    step(start);
    CHECK(shoal_timer_now() == start);
    for (size_t d = 0; d < sizeof delays / sizeof delays[0]; d++)
      add_timer(delays[d]);
    for (size_t d = 0; starts[s].far && d < sizeof far_delays / sizeof far_delays[0]; d++)
      add_timer(far_delays[d]);
    for (int i = 0; i < 200; i++)
      add_timer(random_delay());
    drain();
  }
  harness_end();
}

/* Delays near 2^32 must not fire early (a 32-bit clock compared bit-for-bit
 * would put some in the near wheel). Running 2^32 ticks to see them fire is
 * too slow for a unit test; exit() must free them (ASan checks the leak). */
static void test_huge_delays(void) {
  static const uint32_t delays[] = {
      UINT32_MAX, UINT32_MAX - 1, UINT32_MAX - 255, UINT32_MAX - 16384,
      (uint32_t)((1ull << 32) - (1ull << 26)), (uint32_t)((1ull << 32) - (1ull << 26) - 1),
      1u << 31, (1u << 26) + 1,
  };
  static const uint64_t starts[] = {0, 1000, (1ull << 26) - 5, (1ull << 32) - 100};
  size_t n = sizeof delays / sizeof delays[0];
  for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++) {
    harness_begin();
    step(starts[s]);
    for (size_t d = 0; d < n; d++)
      add_timer(delays[d]);
    for (uint64_t t = starts[s]; t <= starts[s] + 70000; t += 1 + rng_below(2000))
      step(t);
    CHECK(nfired == 0);
    CHECK(shoal_timer_pending() == n);
    harness_end();
  }
}

static int exit_fires;
static void fire_count_exit(uint32_t handle, int session) {
  (void)handle;
  (void)session;
  exit_fires++;
}

static void test_exit_and_reinit(void) {
  for (int round = 0; round < 3; round++) {
    shoal_timer_init(fire_count_exit);
    CHECK(shoal_timer_now() == 0);
    CHECK(shoal_timer_pending() == 0);
    exit_fires = 0;
    for (int i = 0; i < 1000; i++)
      CHECK(shoal_timer_add(1, i, (uint32_t)i * 37) == 0);
    CHECK(shoal_timer_pending() == 1000);
    shoal_timer_advance_to(37 * 10); /* sessions 0..10 */
    CHECK(exit_fires == 11);
    CHECK(shoal_timer_pending() == 989);
    shoal_timer_exit(); /* the rest are dropped, not fired */
    CHECK(exit_fires == 11);
    CHECK(shoal_timer_pending() == 0);
    CHECK(shoal_timer_now() == 0);
    CHECK(shoal_timer_add(1, 1, 0) == SHOAL_EINVAL);
    shoal_timer_advance_to(100000);
    CHECK(exit_fires == 11);
  }
}

static void test_real_clock(void) {
  uint64_t ms0 = shoal_timer_monotonic_ms();
  uint64_t ns0 = shoal_timer_monotonic_ns();
  CHECK(ns0 / 1000000u >= ms0 && ns0 / 1000000u - ms0 <= 1000);
  uint64_t unix_before = (uint64_t)time(NULL);
  harness_begin();
  uint64_t start = shoal_timer_starttime();
  CHECKF(start + 1 >= unix_before && start <= (uint64_t)time(NULL) + 1,
         "starttime %" PRIu64 " time %" PRIu64, start, unix_before);
  int a = add_timer(0);
  int b = add_timer(5);
  int c = add_timer(60000);
  shoal_timer_update();
  CHECK(recs[a].fired == 1);
  struct timespec ts = {0, 20 * 1000000};
  nanosleep(&ts, NULL);
  /* fire_checked demands now == due, which holds with the real clock too:
   * update walks every tick in between. */
  shoal_timer_update();
  CHECK(shoal_timer_now() >= 20);
  CHECK(recs[b].fired == 1 && recs[c].fired == 0);
  CHECK(shoal_timer_pending() == 1);
  CHECK(shoal_timer_monotonic_ms() >= ms0 + 20);
  harness_end();
  CHECK(shoal_timer_starttime() == 0);
}

/* ---- many threads adding while the main thread advances */

#define MT_THREADS 4
#define MT_PER_THREAD 20000
#define MT_MAX_DELAY 300
#define MT_TOTAL (MT_THREADS * MT_PER_THREAD)

static int mt_fired[MT_TOTAL];      /* written by the advancing thread only */
static uint64_t mt_fired_at[MT_TOTAL];
static uint64_t mt_lo[MT_TOTAL];    /* written by the adding threads only */
static uint64_t mt_hi[MT_TOTAL];
static uint32_t mt_ms[MT_TOTAL];
static atomic_int mt_done;

static void fire_mt(uint32_t handle, int session) {
  CHECKF(session >= 0 && session < MT_TOTAL, "session %d", session);
  CHECK(handle == HANDLE_OF(session));
  mt_fired[session]++;
  mt_fired_at[session] = shoal_timer_now();
}

static void *mt_adder(void *arg) {
  int base = (int)(intptr_t)arg * MT_PER_THREAD;
  uint64_t seed = 0x1234567ull * (uint64_t)(base + 1);
  for (int i = 0; i < MT_PER_THREAD; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    uint32_t ms = (uint32_t)(seed >> 33) % (MT_MAX_DELAY + 1);
    int s = base + i;
    /* The wheel's time at the add lies between these two reads. */
    mt_ms[s] = ms;
    mt_lo[s] = shoal_timer_now() + ms;
    CHECK(shoal_timer_add(HANDLE_OF(s), s, ms) == 0);
    mt_hi[s] = shoal_timer_now() + ms;
  }
  atomic_fetch_add(&mt_done, 1);
  return NULL;
}

static void test_threads(void) {
  shoal_timer_init(fire_mt);
  memset(mt_fired, 0, sizeof mt_fired);
  atomic_store(&mt_done, 0);
  pthread_t th[MT_THREADS];
  for (int i = 0; i < MT_THREADS; i++)
    CHECK(pthread_create(&th[i], NULL, mt_adder, (void *)(intptr_t)i) == 0);
  uint64_t t = 0;
  while (atomic_load(&mt_done) < MT_THREADS)
    shoal_timer_advance_to(++t);
  for (int i = 0; i < MT_THREADS; i++)
    CHECK(pthread_join(th[i], NULL) == 0);
  shoal_timer_advance_to(t + MT_MAX_DELAY + 1);
  CHECK(shoal_timer_pending() == 0);
  for (int s = 0; s < MT_TOTAL; s++) {
    CHECKF(mt_fired[s] == 1, "session %d fired %d times", s, mt_fired[s]);
    /* A ms == 0 add that races the tick it is due at goes out with the next. */
    uint64_t slack = mt_ms[s] == 0;
    CHECKF(mt_fired_at[s] >= mt_lo[s] && mt_fired_at[s] <= mt_hi[s] + slack,
           "session %d (ms %" PRIu32 ") fired at %" PRIu64 ", due in [%" PRIu64 ", %" PRIu64 "]",
           s, mt_ms[s], mt_fired_at[s], mt_lo[s], mt_hi[s]);
  }
  shoal_timer_exit();
  printf("  threads: %d timers fired once each, wheel reached %" PRIu64 " ms while adding\n",
         MT_TOTAL, t);
}

int main(void) {
  struct {
    const char *name;
    void (*fn)(void);
  } tests[] = {
      {"uninitialised", test_uninitialised},
      {"zero_delay", test_zero_delay},
      {"same_due_order", test_same_due_order},
      {"random_order", test_random_order},
      {"level_boundaries", test_level_boundaries},
      {"huge_delays", test_huge_delays},
      {"exit_and_reinit", test_exit_and_reinit},
      {"real_clock", test_real_clock},
      {"threads", test_threads},
  };
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    printf("test_timer: %s\n", tests[i].name);
    fflush(stdout);
    tests[i].fn();
  }
  free(recs);
  printf("test_timer: all passed\n");
  return 0;
}
