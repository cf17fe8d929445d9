/*
 * test_bot_ring - bench/bot's ring of acknowledged positions (bench/bot_ring.c):
 * what a restored position tells about the state lost (docs/bot.md,
 * "Restored state").
 *
 * An empty ring knows nothing; the newest entry and the target in flight
 * lose nothing (superseded 0); an older entry is superseded when the next
 * one came in; a position held twice counts as the later; the ring keeps
 * the last BOT_RING_LEN entries and forgets the rest (unknown); exact
 * comparison (a float one ulp off is unknown; an int32 and a float kept
 * as doubles compare equal when equal); an acknowledgement clears the
 * target in flight.
 */
#include <math.h>
#include <stdint.h>

#include "bot_ring.h"
#include "check.h"

int main(void) {
  struct bot_ring *r = bot_ring_new();
  double s = -1;
  CHECK(r);
  CHECK(bot_ring_find(r, 0, 0, &s) == 0 && s == 0); /* nothing acknowledged yet */
  CHECK(bot_ring_len(r) == 0);

  /* The target in flight, before any acknowledgement: nothing lost. */
  bot_ring_aim(r, 5, 6);
  s = -1;
  CHECK(bot_ring_find(r, 5, 6, &s) == 1 && s == 0);

  /* Three positions acknowledged at 1000, 2000, 3000 ms. */
  bot_ring_ack(r, 1, 1, 1000);
  CHECK(bot_ring_find(r, 5, 6, &s) == 0); /* the ack cleared the target */
  bot_ring_ack(r, 2, 2, 2000);
  bot_ring_ack(r, 3, 3, 3000);
  CHECK(bot_ring_len(r) == 3);
  s = -1;
  CHECK(bot_ring_find(r, 3, 3, &s) == 1 && s == 0);    /* the newest: nothing lost */
  CHECK(bot_ring_find(r, 2, 2, &s) == 1 && s == 3000); /* lost what came at 3000 */
  CHECK(bot_ring_find(r, 1, 1, &s) == 1 && s == 2000);
  CHECK(bot_ring_find(r, 4, 4, &s) == 0 && s == 0);    /* made up */
  CHECK(bot_ring_find(r, 3, 2, &s) == 0);              /* x of one, y of another */

  /* In flight: 7, 7 (not acknowledged); an older entry still found. */
  bot_ring_aim(r, 7, 7);
  CHECK(bot_ring_find(r, 7, 7, &s) == 1 && s == 0);
  CHECK(bot_ring_find(r, 2, 2, &s) == 1 && s == 3000);
  /* A target equal to an old entry: in flight wins, nothing lost. */
  bot_ring_aim(r, 1, 1);
  CHECK(bot_ring_find(r, 1, 1, &s) == 1 && s == 0);
  bot_ring_aim(r, 9, 9); /* replaced */
  CHECK(bot_ring_find(r, 1, 1, &s) == 1 && s == 2000);

  /* A position held twice: the later one counts. */
  bot_ring_ack(r, 1, 1, 4000);
  bot_ring_ack(r, 8, 8, 5000);
  CHECK(bot_ring_find(r, 1, 1, &s) == 1 && s == 5000);
  CHECK(bot_ring_find(r, 3, 3, &s) == 1 && s == 4000);

  /* Exact comparison: one ulp off is another position. */
  float f = 12.5f;
  bot_ring_ack(r, f, 40.0f, 6000);
  bot_ring_ack(r, 0, 0, 7000);
  CHECK(bot_ring_find(r, (double)f, 40.0, &s) == 1 && s == 7000);
  CHECK(bot_ring_find(r, (double)nextafterf(f, 13.0f), 40.0, &s) == 0);
  /* int32 login positions: -1000 and a large round count, exactly. */
  bot_ring_ack(r, (double)(int32_t)-1000, (double)(int32_t)16777217, 8000);
  CHECK(bot_ring_find(r, -1000.0, 16777217.0, &s) == 1 && s == 0);
  CHECK(bot_ring_find(r, -1000.0, 16777216.0, &s) == 0);
  /* NaN is never found (no server restores one; a made-up one is unknown). */
  CHECK(bot_ring_find(r, NAN, 0, &s) == 0);

  /* Wrap: 200 more entries; the ring keeps the last BOT_RING_LEN. */
  for (int i = 0; i < 200; i++) bot_ring_ack(r, 100 + i, -i, 10000 + i);
  CHECK(bot_ring_len(r) == BOT_RING_LEN);
  CHECK(bot_ring_find(r, 299, -199, &s) == 1 && s == 0);
  CHECK(bot_ring_find(r, 298, -198, &s) == 1 && s == 10199);
  int oldest = 200 - BOT_RING_LEN; /* the oldest kept */
  CHECK(bot_ring_find(r, 100 + oldest, -oldest, &s) == 1 && s == 10000 + oldest + 1);
  CHECK(bot_ring_find(r, 100 + oldest - 1, -(oldest - 1), &s) == 0); /* older than the ring */
  CHECK(bot_ring_find(r, 3, 3, &s) == 0);
  bot_ring_free(r);
  bot_ring_free(NULL);
  return 0;
}
