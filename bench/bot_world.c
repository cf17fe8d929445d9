/*
 * bot_world - bench/bot's --world play (bot_world.h, docs/bot.md "The
 * world"): what a client of docs/protocol.md section 6.2 does with its
 * space. One thread, like bot.c.
 */
#include <math.h>
#include <stdio.h>

#include "bot_opts.h"
#include "bot_proto.h"
#include "bot_resume.h"
#include "bot_ring.h"
#include "bot_world.h"

/* --world: a random step from the kept position, inside the bounds, no
 * faster than --walk-speed since the last WALK (the server caps the speed). */
int bot_world_walk(struct bot *b, uint64_t t) {
  unsigned char msg[32];
  double dt = b->t_walk ? (double)(t - b->t_walk) / 1e9 : 0.5, step = bot_opt.walk_speed * (dt > 0.5 ? 0.5 : dt);
  double a = (double)(bot_rand() % 6283) / 1000.0;
  float x = b->wx + (float)(step * cos(a)), y = b->wy + (float)(step * sin(a));
  b->tx = x < 0 ? 0 : x >= b->ww ? b->ww - 0.01f : x;
  b->ty = y < 0 ? 0 : y >= b->wh ? b->wh - 0.01f : y;
  b->t_walk = t;
  b->loose = 0;
  bot_ring_aim(b->ring, b->tx, b->ty);
  bot_run_stats->walks++;
  if (bot_queue(b, msg, bot_enc_walk(msg, sizeof msg, b->tx, b->ty, (float)a)) < 0) return -1;
  return bot_queue(b, msg, bot_enc_empty(msg, sizeof msg, BOT_WHERE));
}

/* --world: the messages of the space (docs/protocol.md 6.2), at any time
 * of the session. 1 when m was one of them. */
int bot_world_on(struct bot *b, int id, const unsigned char *m, size_t len) {
  uint64_t t = bot_now_ns();
  if (id == BOT_WORLD) {
    struct bot_world w;
    if (bot_dec_world(m, len, &w) < 0 || !(w.width > 0 && w.height > 0) || !(w.x >= 0 && w.x < w.width) ||
        !(w.y >= 0 && w.y < w.height))
      return bot_fail(b, "malformed WORLD"), 1;
    b->ww = w.width, b->wh = w.height, b->wx = w.x, b->wy = w.y;
    /* Restored state: a later WORLD (a recreated space, the loss noticed
     * now), or the first after a RESUME (the cell part lived on: the
     * newest acknowledged position or the WALK in flight). Checked before
     * the WALK below replaces the target in flight. */
    if (!(b->pending & BOT_P_WORLD) || b->restoring)
      bot_resume_restored(b, w.x, w.y, b->restoring ? b->wall_lost : bot_wall_ms());
    b->restoring = 0;
    bot_ring_ack(b->ring, w.x, w.y, bot_wall_ms());
    if (b->pending & BOT_P_WORLD) { /* the session's first: play */
      if (bot_opt.events) fprintf(stderr, "EVENT entered bot=%u wall_ms=%.0f\n", b->id, bot_wall_ms());
      b->t_space = t;
      /* A probe PING sent while this WORLD was late is still answered:
       * its PONG (which must match) ends it, and then the round starts. */
      b->pending &= BOT_P_PING;
      if (!b->pending) bot_send_round(b);
      return 1;
    }
    /* The space was recreated (its cellapp died): back in the world. */
    bot_run_stats->worlds++;
    b->loose = 1;
    bot_samples_add(&bot_run_stats->world_back, t - b->t_space);
    if (bot_opt.events)
      fprintf(stderr, "EVENT world bot=%u wall_ms=%.0f ms=%.1f\n", b->id, bot_wall_ms(), (double)(t - b->t_space) / 1e6);
    b->t_space = t;
    b->stalled = 0;
    if (b->pending & BOT_P_WHERE) {
      /* The WALK and WHERE in flight may be lost with the space (or come
       * late): walk again from the snapshot's position; one stray HERE is
       * then forgiven. */
      b->spare_here++;
      if (bot_world_walk(b, t) < 0 || bot_flush(b) < 0) return bot_fail(b, "write failed"), 1;
      b->loose = 1;
    }
  } else if (id == BOT_AOI) {
    struct bot_str r;
    if (bot_dec_aoi(m, len, &r) < 0) return bot_fail(b, "malformed AOI"), 1;
    bot_run_stats->aoi_records += (long)(r.len / BOT_AOI_RECORD);
  } else if (id == BOT_PROP) {
    struct bot_prop p;
    if (bot_dec_prop(m, len, &p) < 0) return bot_fail(b, "malformed PROP"), 1;
    bot_run_stats->props++;
  } else if (id == BOT_REFUSED) {
    struct bot_refused r;
    if (bot_dec_refused(m, len, &r) < 0) return bot_fail(b, "malformed REFUSED"), 1;
    bot_run_stats->refused[r.reason < BOT_REFUSED_REASONS ? r.reason : 0]++;
    b->loose = 1; /* the space kept r.x, r.y: the HERE says so */
  } else if (id == BOT_HERE) {
    struct bot_here h;
    if (bot_dec_here(m, len, &h) < 0) return bot_fail(b, "malformed HERE"), 1;
    /* seq - applied: the requests lost with a space, 0 in a session until
     * a later WORLD, then constant again (no request lost since). */
    int matches = b->loose || (h.x == b->tx && h.y == b->ty && h.seq - h.applied == b->lost_reqs);
    if ((!(b->pending & BOT_P_WHERE) || !matches) && b->spare_here > 0) { /* the late answer of a WHERE lost with a space */
      b->spare_here--;
      return 1;
    }
    if (!(b->pending & BOT_P_WHERE)) return bot_fail(b, "HERE without a WHERE"), 1;
    if (!matches) return bot_fail(b, "HERE does not match the WALK (or a request was lost)"), 1;
    b->wx = h.x, b->wy = h.y;
    /* The WALK reached (also after a REFUSED or a later WORLD): acknowledged. */
    if (h.x == b->tx && h.y == b->ty) bot_ring_ack(b->ring, h.x, h.y, bot_wall_ms());
    if (b->loose) b->lost_reqs = h.seq - h.applied;
    b->t_space = t;
    b->pending &= ~BOT_P_WHERE;
    bot_samples_add(&bot_run_stats->rtt, t - b->t_walk);
    return 0; /* the round may be over */
  } else {
    return 0;
  }
  return 1;
}
