/*
 * bot_world.h - bench/bot's --world play (docs/bot.md, "The world";
 * docs/protocol.md 6.2): the WALK of a round and the space's messages.
 * Split from bot.c (the session logic), which it calls back through
 * bot.h.
 */
#ifndef SHOAL_BOT_WORLD_H
#define SHOAL_BOT_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "bot.h"
#include "bot_stats.h"

/* Queues a round's WALK (a random step from the kept position, no faster
 * than --walk-speed, inside the bounds) and its WHERE. 0, or -1. */
int bot_world_walk(struct bot *b, uint64_t t);
/* A WORLD, AOI, PROP, REFUSED or HERE while playing: 1 when handled
 * (the round goes on), 0 when the round may be over (a HERE), or for
 * an id that is not the world's. */
int bot_world_on(struct bot *b, int id, const unsigned char *m, size_t len);

#endif
