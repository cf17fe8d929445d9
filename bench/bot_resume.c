/*
 * bot_resume - a lost session coming back (bot_resume.h; docs/bot.md, the
 * rows of "How it follows the server" about --resume, and "Restored
 * state"). One thread, like bot.c.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "bot_opts.h"
#include "bot_resume.h"
#include "bot_ring.h"
#include "bot_stats.h"

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b) {
  return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
}

void bot_resume_keep_gates(struct bot *b, const struct bot_candidate *c, unsigned n) {
  unsigned k = 0;
  for (unsigned i = 0; i < n && i < BOT_MAX_CANDIDATES; i++) {
    char host[64];
    if (c[i].host.len >= sizeof host) continue;
    memcpy(host, c[i].host.p, c[i].host.len);
    host[c[i].host.len] = 0;
    struct sockaddr_in *a = &b->cand[k];
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons(c[i].port);
    if (inet_pton(AF_INET, host, &a->sin_addr) == 1) k++;
  }
  b->ncand = k;
}

/* A password login instead (a refusal, or no gate took the RESUME). */
static void relogin(struct bot *b, const char *why) {
  if (bot_opt.events) fprintf(stderr, "EVENT relogin bot=%u wall_ms=%.0f why=%s\n", b->id, bot_wall_ms(), why);
  b->resuming = 0;
  b->t_first = 0;
  bot_retry(b, 0, why);
}

/* The next candidate after the lost gate, wrapping round, the lost one
 * skipped; when none is left, a password login. */
void bot_resume_next_gate(struct bot *b, const char *why) {
  if (why && bot_opt.events)
    fprintf(stderr, "EVENT resume_failed bot=%u wall_ms=%.0f why=%s\n", b->id, bot_wall_ms(), why);
  bot_net_close(b);
  unsigned start = 0;
  for (unsigned i = 0; i < b->ncand; i++)
    if (same_addr(&b->cand[i], &b->lost_gate)) start = i;
  while (b->tried < b->ncand) {
    unsigned i = (start + 1 + b->tried++) % b->ncand;
    if (same_addr(&b->cand[i], &b->lost_gate)) continue;
    b->gate = b->cand[i];
    b->resuming = 1;
    bot_set_step(b, BOT_S_GATE_CONNECT);
    if (bot_connect(b, &b->gate) == 0) return;
  }
  relogin(b, "no gate took the RESUME");
}

void bot_resume_lost(struct bot *b, const char *why) {
  if (!bot_opt.resume || b->st != BOT_S_PLAY || b->redirecting) return bot_fail(b, why);
  bot_run_stats->lost++;
  b->t_lost = bot_now_ns();
  b->wall_lost = bot_wall_ms();
  b->lost_gate = b->gate;
  b->tried = 0;
  if (bot_opt.events) fprintf(stderr, "EVENT lost bot=%u wall_ms=%.0f why=%s\n", b->id, b->wall_lost, why);
  if (b->ticket_len == 0 || bot_resume_secret(b->game_c2s, b->game_s2c, b->secret) < 0)
    return relogin(b, "no resume ticket");
  bot_resume_next_gate(b, NULL);
}

int bot_resume_enc(struct bot *b, unsigned char *msg, size_t cap) {
  /* The latest ticket; the resumed keys come from R and a fresh nonce
   * (each attempt its own). */
  unsigned char nonce[BOT_NONCE_LEN], proof[BOT_KEY_LEN];
  if (bot_random(nonce, sizeof nonce) < 0 || bot_resume_proof(b->secret, b->account, nonce, proof) < 0 ||
      bot_resume_keys(b->secret, nonce, b->game_c2s, b->game_s2c) < 0)
    return -1;
  return bot_enc_resume(msg, cap, b->account, b->ticket, b->ticket_len, nonce, proof);
}

void bot_resume_refused(struct bot *b, const struct bot_error *e) {
  if (e->code == BOT_E_UNAVAILABLE) return bot_resume_next_gate(b, "UNAVAILABLE");
  relogin(b, bot_code_name(e->code) ? bot_code_name(e->code) : "RESUME refused");
}

void bot_resume_back(struct bot *b, const char *how) {
  if (!b->t_lost) return;
  uint64_t t = bot_now_ns();
  bot_samples_add(&bot_run_stats->back, t - b->t_lost);
  if (bot_opt.events)
    fprintf(stderr, "EVENT back bot=%u how=%s wall_ms=%.0f ms=%.1f\n", b->id, how, bot_wall_ms(),
            (double)(t - b->t_lost) / 1e6);
  b->t_lost = 0;
}

void bot_resume_entered(struct bot *b, const struct bot_enter_ok *m) {
  /* The same account at a later epoch; the entity as the backup had it. */
  if (m->account != b->account || m->epoch <= b->epoch) return bot_fail(b, "ENTER_OK after RESUME: account or epoch");
  b->resuming = 0;
  b->epoch = m->epoch;
  b->px = m->x;
  b->py = m->y;
  bot_run_stats->resumed++;
  bot_resume_back(b, "resumed");
  if (!bot_opt.world) {
    bot_resume_restored(b, m->x, m->y, b->wall_lost);
    bot_ring_ack(b->ring, m->x, m->y, bot_wall_ms());
  }
  bot_start_play(b);
  /* With --world the cell part's position comes with the first WORLD. */
  if (bot_opt.world) b->restoring = 1;
}

void bot_resume_restored(struct bot *b, double x, double y, double loss_wall_ms) {
  struct bot_stats *s = bot_run_stats;
  double superseded, now = bot_wall_ms();
  s->restored++;
  if (!bot_ring_find(b->ring, x, y, &superseded)) {
    s->restored_unknown++;
    if (bot_opt.events) fprintf(stderr, "EVENT restored bot=%u wall_ms=%.0f unknown=1\n", b->id, now);
    return;
  }
  /* Acknowledged from `superseded` on and lost: until the loss was noticed. */
  if (superseded > 0 && loss_wall_ms - superseded > s->restored_lost_ms) s->restored_lost_ms = loss_wall_ms - superseded;
  if (bot_opt.events)
    fprintf(stderr, "EVENT restored bot=%u wall_ms=%.0f superseded_wall_ms=%.0f\n", b->id, now, superseded);
}
