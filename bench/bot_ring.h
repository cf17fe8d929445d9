/*
 * bot_ring - the positions a bench/bot client had acknowledged, newest
 * last, with the wall-clock time each was acknowledged: what the client
 * can say about a restored state (docs/bot.md, "Restored state"). When a
 * server gives the entity back after a loss (a RESUME's ENTER_OK, a
 * recreated space's WORLD), the restored position is looked up here: the
 * newest entry it equals was the state the server kept, and the time the
 * next entry came in is when that state stopped being the latest one the
 * client had seen acknowledged (what was lost began then).
 *
 * Positions are compared exactly (a server that restores a state sends
 * back the very numbers it acknowledged); login-mode positions (int32)
 * and world positions (float) are both kept as doubles, which hold either
 * exactly. One thread, no locks.
 */
#ifndef SHOAL_BOT_RING_H
#define SHOAL_BOT_RING_H

#define BOT_RING_LEN 64 /* entries kept: at a round every ~50 ms, about 3 s of play */

struct bot_ring;

/* A new empty ring (owned by the caller: bot_ring_free), or NULL. */
struct bot_ring *bot_ring_new(void);
void bot_ring_free(struct bot_ring *r);
/* A target sent and not yet acknowledged (a MOVE or WALK in flight); it
 * replaces the previous one. A restore may land on it. */
void bot_ring_aim(struct bot_ring *r, double x, double y);
/* A position the server acknowledged at wall_ms: the newest entry (the
 * oldest is dropped when the ring is full); the target in flight is
 * cleared (it was answered, or replaced by the server's own position). */
void bot_ring_ack(struct bot_ring *r, double x, double y, double wall_ms);
/* Where the restored position (x, y) is: 1 when it is the target in flight
 * or an entry, with *superseded_wall_ms the wall time of the entry after
 * the newest equal one (0 when that is the newest entry, or the target in
 * flight: nothing acknowledged was lost); 0 when it is in none (older than
 * the ring, or made up). */
int bot_ring_find(const struct bot_ring *r, double x, double y, double *superseded_wall_ms);
/* Entries kept (at most BOT_RING_LEN). */
unsigned bot_ring_len(const struct bot_ring *r);

#endif
