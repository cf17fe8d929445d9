/*
 * bot_ring - a bot's acknowledged positions (bot_ring.h): a fixed ring,
 * searched from the newest entry back.
 */
#include "bot_ring.h"

#include <stdlib.h>

struct bot_ring_entry {
  double x, y;    /* the position acknowledged */
  double wall_ms; /* when (wall clock, ms) */
};

struct bot_ring {
  struct bot_ring_entry e[BOT_RING_LEN];
  unsigned head; /* index of the oldest entry */
  unsigned n;    /* entries kept */
  int aimed;     /* a target is in flight */
  double ax, ay; /* that target */
};

struct bot_ring *bot_ring_new(void) { return calloc(1, sizeof(struct bot_ring)); }

void bot_ring_free(struct bot_ring *r) { free(r); }

void bot_ring_aim(struct bot_ring *r, double x, double y) {
  r->aimed = 1;
  r->ax = x;
  r->ay = y;
}

void bot_ring_ack(struct bot_ring *r, double x, double y, double wall_ms) {
  struct bot_ring_entry *e;
  if (r->n < BOT_RING_LEN) {
    e = &r->e[(r->head + r->n++) % BOT_RING_LEN];
  } else {
    e = &r->e[r->head];
    r->head = (r->head + 1) % BOT_RING_LEN;
  }
  e->x = x;
  e->y = y;
  e->wall_ms = wall_ms;
  r->aimed = 0;
}

int bot_ring_find(const struct bot_ring *r, double x, double y, double *superseded_wall_ms) {
  *superseded_wall_ms = 0;
  if (r->aimed && r->ax == x && r->ay == y) return 1;
  /* Newest first: a position held twice (standing still, a wall) counts
   * as the later one, the smaller loss; the state is the same. */
  for (unsigned k = r->n; k-- > 0;) {
    const struct bot_ring_entry *e = &r->e[(r->head + k) % BOT_RING_LEN];
    if (e->x == x && e->y == y) {
      if (k + 1 < r->n) *superseded_wall_ms = r->e[(r->head + k + 1) % BOT_RING_LEN].wall_ms;
      return 1;
    }
  }
  return 0;
}

unsigned bot_ring_len(const struct bot_ring *r) { return r->n; }
