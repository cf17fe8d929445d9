/*
 * registry_health.c - the registry's failure detector.
 *
 * Two signals, judged alike: the age of a component's last heartbeat in
 * intervals, and its consecutive failed probes. The worse of the two sets
 * the state: `suspect` at g->suspect, `dead` at g->dead. A heartbeat
 * therefore cannot save a component whose port stopped answering, and a
 * port that answers cannot save a component that stopped heartbeating.
 *
 * A probe is a non-blocking TCP connect to addr:port, closed as soon as it
 * connects. Refused, failed (an ERROR event), or not connected within
 * probe_timeout ms: one failed probe. A success resets the count. At most
 * PROBE_SLOTS probes are in flight; the ones due beyond that wait for a
 * free slot, so a huge registry probes each component less often than
 * `probe` rather than running the node out of sockets.
 *
 * One periodic tick (shoal_timeout) drives it all: a quarter of the
 * smallest interval, probe period or probe timeout, 10 to 100 ms, so a
 * state changes at most a quarter interval (and at most 100 ms) late.
 *
 * Known limits: each tick walks every component (O(n); 65536 components
 * at 10 ticks a second is a few ms of work a second). A probe of a host
 * *name* resolves it with getaddrinfo inside shoal_socket_connect, which
 * blocks this service while it resolves; register numeric addresses.
 */
#include <stdio.h>
#include <string.h>

#include "registry_int.h"
#include "shoal.h"

#define PROBE_SLOTS 256 /* probes in flight at most */
#define TICK_MIN_MS 10
#define TICK_MAX_MS 100

struct probe {
  struct reg_comp *c; /* the component probed; NULL when the slot is free */
  int sock;           /* socket id of its connect */
  uint64_t started;   /* node ms of the connect */
};

void health_init(struct registry *g) {
  if (g->probe == 0) return;
  g->probes = shoal_malloc(sizeof(*g->probes) * PROBE_SLOTS);
  memset(g->probes, 0, sizeof(*g->probes) * PROBE_SLOTS);
}

static enum reg_state state_for(const struct registry *g, uint64_t missed) {
  if (missed >= (uint64_t)g->dead) return REG_DEAD;
  if (missed >= (uint64_t)g->suspect) return REG_SUSPECT;
  return REG_ALIVE;
}

/* Why c is judged worse than alive, for the log. */
static void reason(const struct reg_comp *c, uint64_t age, char *out, size_t len) {
  if ((uint64_t)c->probe_missed > age / c->interval)
    snprintf(out, len, "probe of %s:%d failed %d times in a row", c->addr, c->port, c->probe_missed);
  else
    snprintf(out, len, "no heartbeat for %llu ms (interval %u ms)", (unsigned long long)age, c->interval);
}

int health_judge(struct registry *g, struct reg_comp *c, uint64_t now) {
  if (c->state == REG_DEAD) return 0;
  uint64_t age = now > c->last_hb ? now - c->last_hb : 0;
  uint64_t missed = age / c->interval;
  if ((uint64_t)c->probe_missed > missed) missed = (uint64_t)c->probe_missed;
  enum reg_state want = state_for(g, missed);
  if (want == c->state) return 0;
  if (want == REG_ALIVE) {
    c->state = REG_ALIVE;
    shoal_log(g->ctx, SHOAL_LOG_INFO, "registry: %s/%s inc %u is alive again", c->type, c->id, c->inc);
    return 1;
  }
  char why[160];
  reason(c, age, why, sizeof(why));
  if (c->state == REG_ALIVE) {
    c->state = REG_SUSPECT;
    shoal_log(g->ctx, SHOAL_LOG_WARN, "registry: %s/%s inc %u is suspect: %s", c->type, c->id, c->inc, why);
    registry_emit(g, c, "suspect");
  }
  if (want == REG_DEAD) {
    c->state = REG_DEAD;
    health_forget(g, c);
    shoal_log(g->ctx, SHOAL_LOG_INFO, "registry: %s/%s inc %u is dead: %s", c->type, c->id, c->inc, why);
    registry_emit(g, c, "dead");
    lease_forget(g, c, "is dead"); /* the one way a holder loses a lease it did not give back */
  }
  return 0;
}

/* ---- probes ---- */

static void free_slot(struct registry *g, struct probe *p) {
  p->c->probe_slot = -1;
  p->c = NULL;
  g->nprobe--;
}

static void probe_result(struct registry *g, struct reg_comp *c, int ok, uint64_t now) {
  if (ok) {
    if (c->probe_missed == 0) return;
    c->probe_missed = 0;
    if (health_judge(g, c, now)) registry_emit(g, c, "status");
    return;
  }
  if (c->probe_missed < g->dead) c->probe_missed++;
  health_judge(g, c, now);
}

static struct probe *find_probe(struct registry *g, int sock) {
  if (g->probes == NULL || g->nprobe == 0) return NULL;
  for (int i = 0; i < PROBE_SLOTS; i++)
    if (g->probes[i].c && g->probes[i].sock == sock) return &g->probes[i];
  return NULL;
}

/* Starts c's probe. Returns -1 when this node cannot open another socket
 * now (not c's fault: nothing is counted, and no more probes start this
 * tick), 0 otherwise. */
static int start_probe(struct registry *g, struct reg_comp *c, uint64_t now) {
  c->next_probe = now + g->probe;
  int sock = shoal_socket_connect(g->ctx, c->addr, c->port);
  if (sock == SHOAL_EFULL) {
    shoal_log(g->ctx, SHOAL_LOG_WARN, "registry: cannot probe %s/%s now: this node is out of sockets", c->type,
              c->id);
    return -1;
  }
  if (sock < 0) { /* refused at once, or addr does not resolve */
    probe_result(g, c, 0, now);
    return 0;
  }
  int i = 0;
  while (g->probes[i].c) i++; /* the caller checked that a slot is free */
  g->probes[i].c = c;
  g->probes[i].sock = sock;
  g->probes[i].started = now;
  c->probe_slot = i;
  g->nprobe++;
  return 0;
}

static void expire_probes(struct registry *g, uint64_t now) {
  for (int i = 0; i < PROBE_SLOTS && g->nprobe > 0; i++) {
    struct probe *p = &g->probes[i];
    if (p->c == NULL || now - p->started < g->probe_timeout) continue;
    struct reg_comp *c = p->c;
    if (shoal_log_enabled(SHOAL_LOG_DEBUG))
      shoal_log(g->ctx, SHOAL_LOG_DEBUG, "registry: probe of %s/%s at %s:%d timed out after %u ms", c->type, c->id,
                c->addr, c->port, g->probe_timeout);
    shoal_socket_close(g->ctx, p->sock);
    free_slot(g, p);
    probe_result(g, c, 0, now);
  }
}

void health_on_socket(struct registry *g, const struct shoal_socket_message *m) {
  if (m->type == SHOAL_SOCKET_DATA || m->type == SHOAL_SOCKET_UDP) return; /* a probed peer that talks: not listened to */
  struct probe *p = find_probe(g, m->id);
  if (p == NULL) return; /* a probe already judged (timed out, forgotten) */
  struct reg_comp *c = p->c;
  free_slot(g, p);
  if (m->type == SHOAL_SOCKET_CONNECT) {
    shoal_socket_close(g->ctx, m->id);
    probe_result(g, c, 1, shoal_now());
  } else { /* ERROR (the socket is closed already) or CLOSE */
    if (shoal_log_enabled(SHOAL_LOG_DEBUG))
      shoal_log(g->ctx, SHOAL_LOG_DEBUG, "registry: probe of %s/%s failed: %s", c->type, c->id,
                m->type == SHOAL_SOCKET_ERROR && m->buffer ? m->buffer : "closed");
    probe_result(g, c, 0, shoal_now());
  }
}

void health_forget(struct registry *g, struct reg_comp *c) {
  if (c->probe_slot < 0) return;
  struct probe *p = &g->probes[c->probe_slot];
  shoal_socket_close(g->ctx, p->sock);
  free_slot(g, p);
}

void health_stop(struct registry *g) {
  for (int i = 0; g->probes && i < PROBE_SLOTS; i++)
    if (g->probes[i].c) health_forget(g, g->probes[i].c);
}

/* ---- the tick ---- */

static uint32_t tick_ms(const struct registry *g) {
  uint32_t t = g->min_interval;
  if (g->probe && g->probe < t) t = g->probe;
  if (g->probe && g->probe_timeout < t) t = g->probe_timeout;
  t /= 4;
  return t < TICK_MIN_MS ? TICK_MIN_MS : t > TICK_MAX_MS ? TICK_MAX_MS : t;
}

void health_start(struct registry *g) {
  int s = shoal_timeout(g->ctx, tick_ms(g));
  g->timer_session = s > 0 ? s : 0;
}

void health_tick(struct registry *g) {
  g->timer_session = 0;
  if (g->exiting) return;
  uint64_t now = shoal_now();
  if (g->probes) expire_probes(g, now);
  int can_probe = g->probes != NULL;
  /* Judging never removes a component, so the walk is safe. */
  for (struct reg_comp *c = regtab_first(g->tab); c; c = regtab_next(g->tab, c)) {
    health_judge(g, c, now);
    if (!can_probe || c->state == REG_DEAD || c->probe_slot >= 0 || now < c->next_probe) continue;
    if (g->nprobe == PROBE_SLOTS || start_probe(g, c, now) != 0) can_probe = 0;
  }
  health_start(g);
}
