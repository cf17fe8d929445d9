/*
 * registry_int.h - what cservice/registry.c (requests, watchers, events),
 * cservice/registry_health.c (the failure detector: heartbeat ages and
 * active probes) and cservice/registry_lease.c (leases) share. Not for
 * other services.
 */
#ifndef SHOAL_REGISTRY_INT_H
#define SHOAL_REGISTRY_INT_H

#include <stdint.h>

#include "registry_table.h"

struct shoal_context;
struct shoal_json;
struct shoal_socket_message;
struct watcher;
struct probe;
struct reg_lease;

#define REGLEASE_MAX_DEFAULT 65536 /* leases at most unless maxlease= says otherwise */
#define REGLEASE_MAX_LIMIT (1 << 22) /* the largest maxlease= */

#define REGISTRY_NVERBS 11 /* register .. transfer, stats */
#define REGISTRY_NEVENTS 6 /* join status suspect dead leave lease */

struct registry {
  struct shoal_context *ctx;  /* own context */
  struct regtab *tab;         /* the components */
  uint32_t interval;          /* default heartbeat interval, ms */
  int suspect;                /* missed intervals (or failed probes) before suspect */
  int dead;                   /* missed intervals (or failed probes) before dead */
  uint32_t probe;             /* ms between probes of one component, 0: no probes */
  uint32_t probe_timeout;     /* ms a probe's connect may take before it counts as failed */
  int maxcomp;                /* components at most */
  int maxwatch;               /* watchers at most */
  uint32_t min_interval;      /* smallest heartbeat interval ever registered (sets the tick) */
  struct watcher *watchers;   /* nwatch watchers, in order of their first watch */
  int nwatch;
  struct probe *probes;       /* PROBE slots, NULL when probes are off */
  int nprobe;                 /* probes in flight */
  struct reg_lease *leases;   /* nlease leases (room for caplease), in order of their first request */
  int nlease;
  int caplease;               /* slots allocated in leases */
  int maxlease;               /* leases at most (maxlease=) */
  int *lbucket;               /* hash of lease names -> index in leases, -1 ends a chain; nbucket slots */
  int nbucket;                /* a power of two, at least 2 x nlease once there are leases */
  int timer_session;          /* session of the pending tick, 0 if none */
  int exiting;                /* EXIT seen: no more ticks */
  struct shoal_json *out;     /* scratch for replies */
  struct shoal_json *fields;  /* scratch for an event's component fields */
  struct shoal_json *ev;      /* scratch for one event message */
  /* counters for `stats` (service/metrics.lua): owner thread only */
  uint64_t ops[REGISTRY_NVERBS]; /* requests taken, by verb (registry.c's verbs[] order) */
  uint64_t op_errors;            /* requests refused */
  uint64_t events[REGISTRY_NEVENTS]; /* events sent to watchers, by registry_event_names order */
};

/* registry.c: sends event (join, status, suspect, dead, leave) about c to
 * every watcher it matches, dropping the watchers that are gone. */
void registry_emit(struct registry *g, struct reg_comp *c, const char *event);

/* registry.c: sends a lease event (the lease's state now) to every
 * watcher of that lease, dropping the watchers that are gone. */
void registry_emit_lease(struct registry *g, const struct reg_lease *l);

/* registry_health.c */

/* Allocates the probe slots when probes are on. */
void health_init(struct registry *g);
/* Moves c to the state its heartbeat age and failed probes call for,
 * suspect always before dead, emitting suspect/dead. Dead is final (until
 * c registers again). Returns 1 when c went back from suspect to alive:
 * the caller emits that (as status), with any status change. */
int health_judge(struct registry *g, struct reg_comp *c, uint64_t now);
/* The timer: judges every component, times out and starts probes, and
 * arms the next tick. */
void health_tick(struct registry *g);
/* Arms the first tick. */
void health_start(struct registry *g);
/* A SOCKET message: the outcome of a probe (anything else is dropped). */
void health_on_socket(struct registry *g, const struct shoal_socket_message *m);
/* Abandons c's probe in flight, if any (c leaves or starts a new life). */
void health_forget(struct registry *g, struct reg_comp *c);
/* Closes every probe in flight (exit, release). */
void health_stop(struct registry *g);

/* registry_lease.c */

/* The lease called name, or NULL. */
struct reg_lease *lease_find(struct registry *g, const char *name);
/* The lease called name, created free (epoch 0) if new; NULL when there
 * are maxlease already. Pointers to leases are valid until the next
 * lease_get (the array grows). */
struct reg_lease *lease_get(struct registry *g, const char *name);
/* Gives l to c's current life if l is free (or its holder's life is over):
 * epoch + 1, a log line and a lease event. Returns 1 when c holds l
 * (now or already), 0 when another live life does. c must not be dead. */
int lease_acquire(struct registry *g, struct reg_lease *l, struct reg_comp *c);
/* Moves l from c's current life to to's (both live, to != c): epoch + 1,
 * a log line and a lease event, as one step, so the lease is never free
 * between the two holders. Returns 1 when it moved, 0 (nothing changes)
 * when c does not hold l. */
int lease_transfer(struct registry *g, struct reg_lease *l, struct reg_comp *c, struct reg_comp *to);
/* Frees l if c's current life holds it (a lease event); returns 1 then,
 * else 0 and nothing changes. */
int lease_release(struct registry *g, struct reg_lease *l, struct reg_comp *c);
/* c's current life is ending (why: "is dead", "left", "registered
 * again"): frees every lease it holds, each with a lease event. Call
 * before c's inc changes or c is removed. */
void lease_forget(struct registry *g, struct reg_comp *c, const char *why);
/* Writes l's fields ("name":..,"epoch":..,"holder":{component}|null)
 * without the enclosing braces. */
void lease_json(struct registry *g, const struct reg_lease *l, uint64_t now, struct shoal_json *j);
int lease_count(const struct registry *g);
/* The i-th lease (0..lease_count-1), in order of first request. */
struct reg_lease *lease_at(struct registry *g, int i);
const char *lease_name(const struct reg_lease *l);
/* Frees every lease (release). */
void lease_free_all(struct registry *g);

#endif
