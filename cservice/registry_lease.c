/*
 * registry_lease.c - leases: the one election rule of the cluster's
 * active/standby pairs (baseappmgr, cellappmgr, dscontroller).
 *
 * A lease is a name held by at most one life of a component: (type, id,
 * inc). It has no expiry of its own: the registry's failure detector is
 * the only judge, so a lease goes free exactly when its holder's life
 * ends — declared dead, left, or registered again (a new inc is a new
 * life) — and never because a lease timer ran out. A live component that
 * asks for a free lease gets it; the epoch of the lease grows by one on
 * every grant to another life, so "at most one active at any time" can be
 * checked (and writes fenced) by comparing epochs.
 *
 * A holder may also hand its lease to another live life in one step
 * (transfer: epoch + 1, never free in between): how a distributed object
 * moves from the node that owns it to the node that borrows it
 * (lualib/game/object.lua).
 *
 * Leases are never deleted (a freed one keeps its epoch, so the next
 * grant is higher). At most maxlease of them (default 65536: objects need
 * many); names are found through a chained hash, so a request costs the
 * same with one lease or a million.
 *
 * Known limit: the epochs live in the registry's memory; a restarted
 * registry starts every lease again at epoch 0 (free).
 */
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "registry_int.h"
#include "shoal.h"

struct reg_lease {
  char *name;     /* the lease's name */
  char *type;     /* holder's type; NULL when free */
  char *id;       /* holder's id; NULL when free */
  uint32_t inc;   /* holder's incarnation (0 when free) */
  uint64_t epoch; /* grants to another life so far; 0: never held */
  int next;       /* the next lease in this one's hash chain, -1: none */
};

/* FNV-1a: names are short, and the registry runs on one worker. */
static uint32_t name_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

/* Rebuilds the hash with n buckets (a power of two). */
static void rehash(struct registry *g, int n) {
  shoal_free(g->lbucket);
  g->lbucket = shoal_malloc(sizeof(int) * (size_t)n);
  g->nbucket = n;
  for (int i = 0; i < n; i++) g->lbucket[i] = -1;
  for (int i = 0; i < g->nlease; i++) {
    int b = (int)(name_hash(g->leases[i].name) & (uint32_t)(n - 1));
    g->leases[i].next = g->lbucket[b];
    g->lbucket[b] = i;
  }
}

struct reg_lease *lease_find(struct registry *g, const char *name) {
  if (g->nbucket == 0) return NULL;
  int i = g->lbucket[name_hash(name) & (uint32_t)(g->nbucket - 1)];
  for (; i >= 0; i = g->leases[i].next)
    if (strcmp(g->leases[i].name, name) == 0) return &g->leases[i];
  return NULL;
}

struct reg_lease *lease_get(struct registry *g, const char *name) {
  struct reg_lease *l = lease_find(g, name);
  if (l || g->nlease >= g->maxlease) return l;
  if (g->nlease == g->caplease) { /* doubling: tens of thousands of object leases stay cheap to add */
    g->caplease = g->caplease ? 2 * g->caplease : 16;
    g->leases = shoal_realloc(g->leases, sizeof(*g->leases) * (size_t)g->caplease);
  }
  l = &g->leases[g->nlease++];
  memset(l, 0, sizeof(*l));
  l->name = shoal_strdup(name);
  if (2 * g->nlease > g->nbucket) {
    rehash(g, g->nbucket ? 2 * g->nbucket : 64); /* links the new one too */
  } else {
    int b = (int)(name_hash(name) & (uint32_t)(g->nbucket - 1));
    l->next = g->lbucket[b];
    g->lbucket[b] = g->nlease - 1;
  }
  return l;
}

/* The holder's component, when the lease is held by a life that is still
 * current (registered with that inc, not dead). The table is the truth:
 * lease_forget frees a lease as soon as a life ends, this is the check
 * that keeps a missed hook from ever granting a lease twice. */
static struct reg_comp *holder_of(struct registry *g, const struct reg_lease *l) {
  if (l->type == NULL) return NULL;
  struct reg_comp *c = regtab_find(g->tab, l->type, l->id);
  if (c == NULL || c->inc != l->inc || c->state == REG_DEAD) return NULL;
  return c;
}

void lease_json(struct registry *g, const struct reg_lease *l, uint64_t now, struct shoal_json *j) {
  shoal_json_key(j, "name");
  shoal_json_str(j, l->name);
  shoal_json_key(j, "epoch");
  shoal_json_int(j, (long long)l->epoch);
  shoal_json_key(j, "holder");
  struct reg_comp *c = holder_of(g, l);
  if (c == NULL) {
    shoal_json_lit(j, "null");
    return;
  }
  shoal_json_lit(j, "{");
  regcomp_json(c, now, j);
  shoal_json_lit(j, "}");
}

/* Frees l (its holder's life ended: why) and tells the lease's watchers. */
static void set_free(struct registry *g, struct reg_lease *l, const char *why) {
  shoal_log(g->ctx, SHOAL_LOG_INFO, "registry: lease %s (epoch %llu) is free: %s/%s inc %u %s", l->name,
            (unsigned long long)l->epoch, l->type, l->id, l->inc, why);
  shoal_free(l->type);
  shoal_free(l->id);
  l->type = l->id = NULL;
  l->inc = 0;
  registry_emit_lease(g, l);
}

int lease_acquire(struct registry *g, struct reg_lease *l, struct reg_comp *c) {
  struct reg_comp *h = holder_of(g, l);
  if (h == c) return 1; /* already this life's: nothing changes */
  if (h != NULL) return 0;
  if (l->type != NULL) set_free(g, l, "is gone"); /* a life lease_forget did not see end */
  l->type = shoal_strdup(c->type);
  l->id = shoal_strdup(c->id);
  l->inc = c->inc;
  l->epoch++;
  shoal_log(g->ctx, SHOAL_LOG_INFO, "registry: lease %s granted to %s/%s inc %u (epoch %llu)", l->name, c->type,
            c->id, c->inc, (unsigned long long)l->epoch);
  registry_emit_lease(g, l);
  return 1;
}

int lease_transfer(struct registry *g, struct reg_lease *l, struct reg_comp *c, struct reg_comp *to) {
  if (holder_of(g, l) != c || to == c) return 0;
  shoal_free(l->type);
  shoal_free(l->id);
  l->type = shoal_strdup(to->type);
  l->id = shoal_strdup(to->id);
  l->inc = to->inc;
  l->epoch++;
  shoal_log(g->ctx, SHOAL_LOG_INFO, "registry: lease %s moved from %s/%s inc %u to %s/%s inc %u (epoch %llu)",
            l->name, c->type, c->id, c->inc, to->type, to->id, to->inc, (unsigned long long)l->epoch);
  registry_emit_lease(g, l);
  return 1;
}

int lease_release(struct registry *g, struct reg_lease *l, struct reg_comp *c) {
  if (holder_of(g, l) != c) return 0;
  set_free(g, l, "released it");
  return 1;
}

void lease_forget(struct registry *g, struct reg_comp *c, const char *why) {
  for (int i = 0; i < g->nlease; i++) {
    struct reg_lease *l = &g->leases[i];
    if (l->type && l->inc == c->inc && strcmp(l->type, c->type) == 0 && strcmp(l->id, c->id) == 0)
      set_free(g, l, why);
  }
}

int lease_count(const struct registry *g) { return g->nlease; }

struct reg_lease *lease_at(struct registry *g, int i) { return i < g->nlease ? &g->leases[i] : NULL; }

const char *lease_name(const struct reg_lease *l) { return l->name; }

void lease_free_all(struct registry *g) {
  for (int i = 0; i < g->nlease; i++) {
    shoal_free(g->leases[i].name);
    shoal_free(g->leases[i].type);
    shoal_free(g->leases[i].id);
  }
  shoal_free(g->leases);
  shoal_free(g->lbucket);
  g->leases = NULL;
  g->lbucket = NULL;
  g->nlease = g->caplease = g->nbucket = 0;
}
