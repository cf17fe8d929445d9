/*
 * registry - the heartbeat registry (SPEC section 4), a C service.
 *
 *   shoal.launch("registry", "interval=1000 suspect=2 dead=4 probe=0")
 *
 *   interval       default heartbeat interval, ms (10..3600000; default 1000)
 *   suspect, dead  missed intervals (or failed probes) before a component
 *                  is suspect, then dead (1..1000, dead >= suspect; 2 and 4)
 *   probe          ms between TCP probes of each component's addr:port
 *                  (0: none, the default; else 10..3600000)
 *   probe_timeout  ms a probe may take to connect (default min(probe, 1000);
 *                  at most probe)
 *   maxcomp        components at most (default 65536)
 *   maxwatch       watchers at most (default 1024)
 *   maxlease       leases at most (default 65536, at most 4194304)
 *
 * Requests are TEXT lines `VERB key=value ...` (cservice/kvline.h); a
 * request with a session > 0 gets a RESPONSE with JSON text, or an ERROR
 * with one line starting "registry: ". Requests with session 0 are applied
 * without a reply (an error is logged at warn).
 *
 *   register type= id= node= addr= port= [eaddr=] [eport=] [tags=a,b]
 *            [interval=MS] [other k=v: status]       -> {"inc":K}
 *   heartbeat type= id= inc= [k=v: status]           -> {"ok":true}
 *   leave type= id= inc=                             -> {"ok":true}
 *   watch [type=] [tag=]                             -> [component, ...]
 *   unwatch [type=] [tag=]                           -> {"ok":true}
 *   query [type=] [tag=] [healthy=1]                 -> [component, ...]
 *   lease name= type= id= inc=                       -> {granted, name, epoch, holder}
 *   release name= type= id= inc=                     -> {released, name, epoch, holder}
 *   transfer name= type= id= inc= to_type= to_id= to_inc= -> {transferred, name, epoch, holder}
 *   leases [name=]                                   -> [lease, ...]
 *   watch lease=N, unwatch lease=N                   lease events (registry_lease.c)
 *
 * A watcher then gets every event about a matching component as a TEXT
 * message with session 0: {"seq":N,"event":E,"watch":F, ...component}
 * where seq counts 1, 2, ... per watcher and F is the watch's filter as
 * "type=T tag=X" (either part left out when not given; "" for all), so a
 * service with several watches can tell which one an event is for.
 * docs/registry.md has the details; registry_health.c the failure detector.
 *
 * Known limits: one service on one worker; a snapshot or query answer is
 * one message holding every matching component. Memory is bounded by
 * maxcomp times one request line (MAX_LINE) plus the status cap
 * (REGTAB_MAX_STATUS_BYTES).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "kvline.h"
#include "registry_int.h"
#include "shoal.h"

#define MAX_LINE 4096 /* longest request, bytes */
#define MIN_INTERVAL 10
#define MAX_INTERVAL 3600000
#define REQUIRED (-1LL) /* num(): the key must be given */

struct watcher {
  uint32_t handle; /* who gets the events */
  char *type;      /* filter: only this type; NULL for any */
  char *tag;       /* filter: only components with this tag; NULL for any */
  char *lease;     /* a lease watch: only events of this lease (type and tag NULL); NULL otherwise */
  char *spec;      /* the filter as events show it ("type=T tag=X", "lease=N") */
  uint64_t seq;    /* seq of the last event sent */
};

/* One request being handled. */
struct req {
  struct registry *g;            /* the registry */
  const struct shoal_kvline *kv; /* the parsed line */
  uint32_t source;               /* who sent it */
  uint64_t now;                  /* node ms when it arrived */
  char err[320];                 /* the error line when a handler fails */
  int code;                      /* its SHOAL_E* code (SHOAL_EINVAL unless said) */
};

SHOAL_API void *registry_create(void);
SHOAL_API int registry_init(struct registry *g, struct shoal_context *ctx, const char *args);
SHOAL_API void registry_release(struct registry *g);

/* ---- request helpers ---- */

static int fail(struct req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct req *r, const char *fmt, ...) {
  int n = snprintf(r->err, sizeof(r->err), "registry: ");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
  va_end(ap);
  return -1;
}

/* The value of a required key, or NULL after failing the request. */
static const char *need(struct req *r, const char *key) {
  const char *v = shoal_kvline_get(r->kv, key);
  if (v == NULL) fail(r, "%s: missing %s=", shoal_kvline_verb(r->kv), key);
  return v;
}

/* An integer in lo..hi into *out; dflt when absent, unless dflt is
 * REQUIRED. Returns 0, or -1 after failing the request. */
static int num(struct req *r, const char *key, long long lo, long long hi, long long dflt, long long *out) {
  const char *v = shoal_kvline_get(r->kv, key);
  if (v == NULL) {
    if (dflt == REQUIRED) return fail(r, "%s: missing %s=", shoal_kvline_verb(r->kv), key);
    *out = dflt;
    return 0;
  }
  if (shoal_kvline_int(v, lo, hi, out) != 0)
    return fail(r, "%s: %s=%.64s is not a number in %lld..%lld", shoal_kvline_verb(r->kv), key, v, lo, hi);
  return 0;
}

/* Finds (type, id, inc) for heartbeat and leave. */
static struct reg_comp *find_life(struct req *r, const char *unknown_hint) {
  const char *type = need(r, "type"), *id = type ? need(r, "id") : NULL;
  long long inc;
  if (id == NULL || num(r, "inc", 1, UINT32_MAX, REQUIRED, &inc) != 0) return NULL;
  struct reg_comp *c = regtab_find(r->g->tab, type, id);
  if (c == NULL) {
    fail(r, "unknown component %s/%s%s", type, id, unknown_hint);
    r->code = SHOAL_ESTALE; /* the registry restarted or forgot it: register again */
    return NULL;
  }
  if ((uint32_t)inc != c->inc) {
    fail(r, "stale incarnation %lld of %s/%s (current %u)", inc, type, id, c->inc);
    r->code = SHOAL_ESTALE;
    return NULL;
  }
  return c;
}

static int matches(const struct reg_comp *c, const char *type, const char *tag, int healthy) {
  return (type == NULL || strcmp(c->type, type) == 0) && (tag == NULL || regcomp_has_tag(c, tag)) &&
         (!healthy || c->state == REG_ALIVE);
}

/* The reply: a JSON array of the matching components. */
static void write_list(struct req *r, const char *type, const char *tag, int healthy) {
  struct shoal_json *j = r->g->out;
  shoal_json_lit(j, "[");
  for (struct reg_comp *c = regtab_first(r->g->tab); c; c = regtab_next(r->g->tab, c)) {
    if (!matches(c, type, tag, healthy)) continue;
    shoal_json_sep(j);
    shoal_json_lit(j, "{");
    regcomp_json(c, r->now, j);
    shoal_json_lit(j, "}");
  }
  shoal_json_lit(j, "]");
}

/* ---- components ---- */

/* Keys of register that are not status fields. */
static const char *const register_keys[] = {"type", "id", "node", "addr", "port", "eaddr", "eport", "tags",
                                            "interval", NULL};
static const char *const life_keys[] = {"type", "id", "inc", NULL};

static int do_register(struct req *r) {
  struct registry *g = r->g;
  const char *type, *id, *node, *addr;
  long long port, eport, interval;
  if (!(type = need(r, "type")) || !(id = need(r, "id")) || !(node = need(r, "node")) ||
      !(addr = need(r, "addr")) || num(r, "port", 1, 65535, REQUIRED, &port) ||
      num(r, "eport", 0, 65535, 0, &eport) || num(r, "interval", MIN_INTERVAL, MAX_INTERVAL, g->interval, &interval))
    return -1;
  struct reg_comp *c = regtab_find(g->tab, type, id);
  if (c == NULL && regtab_count(g->tab) >= g->maxcomp)
    return fail(r, "too many components (limit %d): %s/%s not registered", g->maxcomp, type, id);
  /* Tags and status go to a scratch component first, so a request that
   * fails halfway changes nothing. */
  struct reg_comp fresh;
  memset(&fresh, 0, sizeof(fresh));
  const char *tags = shoal_kvline_get(r->kv, "tags");
  char why[160];
  int changed = 0;
  if ((tags && regcomp_set_tags(&fresh, tags, why, sizeof(why)) != 0) ||
      regcomp_merge_status(&fresh, r->kv, register_keys, &changed, why, sizeof(why)) != 0) {
    regcomp_free_lists(&fresh);
    return fail(r, "register %s/%s: %s", type, id, why);
  }
  uint32_t inc = 1;
  if (c) {
    inc = c->inc + 1 ? c->inc + 1 : 1;
    health_forget(g, c); /* a probe of the old life says nothing about this one */
    lease_forget(g, c, "registered again"); /* the old life's leases end with it */
  } else {
    c = regtab_add(g->tab, type, id);
  }
  regcomp_move_lists(c, &fresh);
  c->inc = inc;
  regcomp_set(&c->node, node);
  regcomp_set(&c->addr, addr);
  const char *eaddr = shoal_kvline_get(r->kv, "eaddr");
  regcomp_set(&c->eaddr, eaddr ? eaddr : "");
  c->port = (int)port;
  c->eport = (int)eport;
  c->interval = (uint32_t)interval;
  if (c->interval < g->min_interval) g->min_interval = c->interval;
  c->last_hb = r->now;
  c->state = REG_ALIVE;
  c->probe_missed = 0;
  c->next_probe = r->now + g->probe;
  shoal_log(g->ctx, SHOAL_LOG_INFO, "registry: join %s/%s inc %u (%s:%d, node %s, interval %u ms)", type, id, inc,
            addr, c->port, node, c->interval);
  registry_emit(g, c, "join");
  shoal_json_lit(g->out, "{\"inc\":");
  shoal_json_int(g->out, inc);
  shoal_json_lit(g->out, "}");
  return 0;
}

static int do_heartbeat(struct req *r) {
  struct registry *g = r->g;
  struct reg_comp *c = find_life(r, ", register again");
  if (c == NULL) return -1;
  /* Judged first: a heartbeat that comes after the dead limit but before
   * the tick noticed must not bring the component back. */
  health_judge(g, c, r->now);
  if (c->state == REG_DEAD) {
    r->code = SHOAL_ESTALE;
    return fail(r, "%s/%s was declared dead, register again", c->type, c->id);
  }
  char why[160];
  int changed = 0;
  if (regcomp_merge_status(c, r->kv, life_keys, &changed, why, sizeof(why)) != 0)
    return fail(r, "heartbeat %s/%s: %s", c->type, c->id, why);
  c->last_hb = r->now;
  if (health_judge(g, c, r->now) || changed) registry_emit(g, c, "status");
  shoal_json_lit(g->out, "{\"ok\":true}");
  return 0;
}

static int do_leave(struct req *r) {
  struct registry *g = r->g;
  struct reg_comp *c = find_life(r, "");
  if (c == NULL) return -1;
  shoal_log(g->ctx, SHOAL_LOG_INFO, "registry: leave %s/%s inc %u", c->type, c->id, c->inc);
  registry_emit(g, c, "leave");
  lease_forget(g, c, "left");
  health_forget(g, c);
  regtab_remove(g->tab, c);
  shoal_json_lit(g->out, "{\"ok\":true}");
  return 0;
}

static int do_query(struct req *r) {
  long long healthy;
  if (num(r, "healthy", 0, 1, 0, &healthy) != 0) return -1;
  write_list(r, shoal_kvline_get(r->kv, "type"), shoal_kvline_get(r->kv, "tag"), (int)healthy);
  return 0;
}

/* ---- watchers ---- */

static int same(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

static struct watcher *find_watcher(struct registry *g, uint32_t handle, const char *type, const char *tag,
                                    const char *lease) {
  for (int i = 0; i < g->nwatch; i++) {
    struct watcher *w = &g->watchers[i];
    if (w->handle == handle && same(w->type, type) && same(w->tag, tag) && same(w->lease, lease)) return w;
  }
  return NULL;
}

static void free_watcher(struct watcher *w) {
  shoal_free(w->type);
  shoal_free(w->tag);
  shoal_free(w->lease);
  shoal_free(w->spec);
}

static void remove_watcher(struct registry *g, struct watcher *w) {
  free_watcher(w);
  int i = (int)(w - g->watchers);
  memmove(w, w + 1, sizeof(*w) * (size_t)(g->nwatch - i - 1));
  g->nwatch--;
}

/* The watch filter of a watch or unwatch request: type and tag, or a
 * lease name alone. Returns 0, or -1 after failing the request. */
static int watch_filter(struct req *r, const char **type, const char **tag, const char **lease) {
  *type = shoal_kvline_get(r->kv, "type");
  *tag = shoal_kvline_get(r->kv, "tag");
  *lease = shoal_kvline_get(r->kv, "lease");
  if (*lease && (*type || *tag))
    return fail(r, "%s: lease= watches one lease; it does not go with type= or tag=", shoal_kvline_verb(r->kv));
  return 0;
}

/* The reply to a lease watch: [the lease now], free at epoch 0 when it
 * was never asked for (a watch does not create it). */
static void write_lease_list(struct req *r, const char *name) {
  struct shoal_json *j = r->g->out;
  struct reg_lease *l = lease_find(r->g, name);
  shoal_json_lit(j, "[{");
  if (l) {
    lease_json(r->g, l, r->now, j);
  } else {
    shoal_json_key(j, "name");
    shoal_json_str(j, name);
    shoal_json_lit(j, ",\"epoch\":0,\"holder\":null");
  }
  shoal_json_lit(j, "}]");
}

static int do_watch(struct req *r) {
  struct registry *g = r->g;
  const char *type, *tag, *lease;
  if (watch_filter(r, &type, &tag, &lease) != 0) return -1;
  if (find_watcher(g, r->source, type, tag, lease) == NULL) {
    if (g->nwatch >= g->maxwatch) return fail(r, "too many watchers (limit %d)", g->maxwatch);
    g->watchers = shoal_realloc(g->watchers, sizeof(*g->watchers) * (size_t)(g->nwatch + 1));
    struct watcher *w = &g->watchers[g->nwatch++];
    char spec[MAX_LINE + 16];
    if (lease)
      snprintf(spec, sizeof(spec), "lease=%s", lease);
    else
      snprintf(spec, sizeof(spec), "%s%s%s%s", type ? "type=" : "", type ? type : "",
               type && tag ? " tag=" : tag ? "tag=" : "", tag ? tag : "");
    w->handle = r->source;
    w->type = type ? shoal_strdup(type) : NULL;
    w->tag = tag ? shoal_strdup(tag) : NULL;
    w->lease = lease ? shoal_strdup(lease) : NULL;
    w->spec = shoal_strdup(spec);
    w->seq = 0;
  }
  if (lease)
    write_lease_list(r, lease);
  else
    write_list(r, type, tag, 0);
  return 0;
}

static int do_unwatch(struct req *r) {
  const char *type, *tag, *lease;
  if (watch_filter(r, &type, &tag, &lease) != 0) return -1;
  struct watcher *w = find_watcher(r->g, r->source, type, tag, lease);
  if (w) remove_watcher(r->g, w);
  shoal_json_lit(r->g->out, "{\"ok\":true}");
  return 0;
}

static const char *const event_names[REGISTRY_NEVENTS] = {"join", "status", "suspect", "dead", "leave", "lease"};

/* Sends w one event: seq, event, watch, then the fields in g->fields.
 * Returns 0, or -1 after dropping w (its service is gone). */
static int send_event(struct registry *g, struct watcher *w, const char *event) {
  size_t flen, len;
  const char *fields = shoal_json_data(g->fields, &flen);
  struct shoal_json *j = g->ev;
  shoal_json_reset(j);
  shoal_json_lit(j, "{\"seq\":");
  shoal_json_int(j, (long long)(w->seq + 1));
  shoal_json_key(j, "event");
  shoal_json_str(j, event);
  shoal_json_key(j, "watch");
  shoal_json_str(j, w->spec);
  shoal_json_lit(j, ",");
  shoal_json_raw(j, fields, flen);
  shoal_json_lit(j, "}");
  char *msg = shoal_json_copy(j, &len);
  for (int e = 0; e < REGISTRY_NEVENTS; e++)
    if (strcmp(event_names[e], event) == 0) g->events[e]++;
  if (shoal_send(g->ctx, 0, w->handle, SHOAL_PTYPE_TEXT, 0, msg, len) < 0) {
    shoal_log(g->ctx, SHOAL_LOG_INFO, "registry: watcher :%08x (%s) is gone, dropped", w->handle,
              w->spec[0] ? w->spec : "everything");
    remove_watcher(g, w);
    return -1;
  }
  w->seq++;
  return 0;
}

void registry_emit(struct registry *g, struct reg_comp *c, const char *event) {
  if (g->nwatch == 0) return;
  int have_fields = 0;
  for (int i = 0; i < g->nwatch;) {
    struct watcher *w = &g->watchers[i];
    if (w->lease || !matches(c, w->type, w->tag, 0)) {
      i++;
      continue;
    }
    if (!have_fields) { /* written once, shared by every watcher */
      shoal_json_reset(g->fields);
      regcomp_json(c, shoal_now(), g->fields);
      have_fields = 1;
    }
    if (send_event(g, w, event) == 0) i++;
  }
}

void registry_emit_lease(struct registry *g, const struct reg_lease *l) {
  int have_fields = 0;
  for (int i = 0; i < g->nwatch;) {
    struct watcher *w = &g->watchers[i];
    if (w->lease == NULL || strcmp(w->lease, lease_name(l)) != 0) {
      i++;
      continue;
    }
    if (!have_fields) {
      shoal_json_reset(g->fields);
      lease_json(g, l, shoal_now(), g->fields);
      have_fields = 1;
    }
    if (send_event(g, w, "lease") == 0) i++;
  }
}

/* ---- leases (registry_lease.c) ---- */

static const char *const lease_keys[] = {"name", "type", "id", "inc", NULL};
static const char *const leases_keys[] = {"name", NULL};

/* The requesting life of lease and release: registered with that inc and
 * not dead (a dead life may hold nothing). */
static struct reg_comp *lease_life(struct req *r) {
  struct reg_comp *c = find_life(r, ", register again");
  if (c == NULL) return NULL;
  health_judge(r->g, c, r->now); /* as for a heartbeat: past the dead limit is dead */
  if (c->state == REG_DEAD) {
    r->code = SHOAL_ESTALE;
    fail(r, "%s/%s was declared dead, register again", c->type, c->id);
    return NULL;
  }
  return c;
}

/* {"granted":B,...the lease} (B named by key). */
static void write_lease(struct req *r, const char *key, int yes, const struct reg_lease *l) {
  shoal_json_lit(r->g->out, "{");
  shoal_json_key(r->g->out, key);
  shoal_json_lit(r->g->out, yes ? "true" : "false");
  lease_json(r->g, l, r->now, r->g->out);
  shoal_json_lit(r->g->out, "}");
}

static int do_lease(struct req *r) {
  const char *name = need(r, "name");
  struct reg_comp *c = name ? lease_life(r) : NULL;
  if (c == NULL) return -1;
  struct reg_lease *l = lease_get(r->g, name);
  if (l == NULL) {
    r->code = SHOAL_EFULL;
    return fail(r, "too many leases (limit %d): %s not created", r->g->maxlease, name);
  }
  write_lease(r, "granted", lease_acquire(r->g, l, c), l);
  return 0;
}

static const char *const transfer_keys[] = {"name", "type", "id", "inc", "to_type", "to_id", "to_inc", NULL};

/* The holder hands the lease to another live life in one step (an object
 * moving to the node that borrows it): never free in between, epoch + 1.
 * A requester that does not hold it gets transferred false (nothing
 * changes); a target that is not a live life is refused (NOTOWNER would
 * be wrong: the requester may well hold it), with INVAL. */
static int do_transfer(struct req *r) {
  const char *name = need(r, "name");
  struct reg_comp *c = name ? lease_life(r) : NULL;
  if (c == NULL) return -1;
  const char *tt = need(r, "to_type"), *ti = tt ? need(r, "to_id") : NULL;
  long long tinc;
  if (ti == NULL || num(r, "to_inc", 1, UINT32_MAX, REQUIRED, &tinc) != 0) return -1;
  struct reg_lease *l = lease_find(r->g, name);
  if (l == NULL) return fail(r, "transfer: no lease %s", name);
  struct reg_comp *to = regtab_find(r->g->tab, tt, ti);
  if (to != NULL) health_judge(r->g, to, r->now);
  if (to == NULL || to->inc != (uint32_t)tinc || to->state == REG_DEAD)
    return fail(r, "transfer: %s/%s inc %lld is not a live component", tt, ti, tinc);
  if (to == c) return fail(r, "transfer: %s/%s already is the requester", tt, ti);
  write_lease(r, "transferred", lease_transfer(r->g, l, c, to), l);
  return 0;
}

static int do_release(struct req *r) {
  const char *name = need(r, "name");
  struct reg_comp *c = name ? find_life(r, ", register again") : NULL;
  if (c == NULL) return -1;
  struct reg_lease *l = lease_find(r->g, name);
  if (l == NULL) return fail(r, "release: no lease %s", name);
  write_lease(r, "released", lease_release(r->g, l, c), l);
  return 0;
}

static int do_leases(struct req *r) {
  const char *name = shoal_kvline_get(r->kv, "name");
  struct shoal_json *j = r->g->out;
  shoal_json_lit(j, "[");
  for (int i = 0; i < lease_count(r->g); i++) {
    struct reg_lease *l = lease_at(r->g, i);
    if (name && strcmp(lease_name(l), name) != 0) continue;
    shoal_json_sep(j);
    shoal_json_lit(j, "{");
    lease_json(r->g, l, r->now, j);
    shoal_json_lit(j, "}");
  }
  shoal_json_lit(j, "]");
  return 0;
}

static int do_stats(struct req *r);

/* ---- requests ---- */

static const char *const filter_keys[] = {"type", "tag", "lease", NULL};
static const char *const query_keys[] = {"type", "tag", "healthy", NULL};
static const char *const none_keys[] = {NULL};

static const struct verb {
  const char *name;                /* the first word of the line */
  int (*run)(struct req *r);       /* 0 with the reply in g->out, or -1 with r->err */
  const char *const *keys;         /* the keys it takes; NULL: any (the rest is status) */
} verbs[] = {
    {"register", do_register, NULL}, {"heartbeat", do_heartbeat, NULL}, {"leave", do_leave, life_keys},
    {"watch", do_watch, filter_keys}, {"unwatch", do_unwatch, filter_keys}, {"query", do_query, query_keys},
    {"lease", do_lease, lease_keys}, {"release", do_release, lease_keys}, {"leases", do_leases, leases_keys},
    {"transfer", do_transfer, transfer_keys}, {"stats", do_stats, none_keys},
};
_Static_assert(sizeof(verbs) / sizeof(verbs[0]) == REGISTRY_NVERBS, "REGISTRY_NVERBS");

/* stats -> {"ops":{"register":n,...},"errors":n,"events":{"join":n,...},
 * "components":n,"watchers":n,"leases":n}: the counters since start. */
static int do_stats(struct req *r) {
  struct registry *g = r->g;
  struct shoal_json *j = g->out;
  shoal_json_lit(j, "{\"ops\":{");
  for (int i = 0; i < REGISTRY_NVERBS; i++) {
    shoal_json_key(j, verbs[i].name);
    shoal_json_int(j, (long long)g->ops[i]);
  }
  shoal_json_lit(j, "}");
  shoal_json_key(j, "errors");
  shoal_json_int(j, (long long)g->op_errors);
  shoal_json_key(j, "events");
  shoal_json_lit(j, "{");
  for (int e = 0; e < REGISTRY_NEVENTS; e++) {
    shoal_json_key(j, event_names[e]);
    shoal_json_int(j, (long long)g->events[e]);
  }
  shoal_json_lit(j, "}");
  shoal_json_key(j, "components");
  shoal_json_int(j, regtab_count(g->tab));
  shoal_json_key(j, "watchers");
  shoal_json_int(j, g->nwatch);
  shoal_json_key(j, "leases");
  shoal_json_int(j, lease_count(g));
  shoal_json_lit(j, "}");
  return 0;
}

static int word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

static int blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static const struct verb *find_verb(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
    if (strlen(verbs[i].name) == len && memcmp(verbs[i].name, name, len) == 0) return &verbs[i];
  return NULL;
}

/* Runs the request; 0 with the reply in g->out, or -1 with r->err. */
static int run_request(struct req *r, const char *msg, size_t sz) {
  static const char verb_list[] = "(register heartbeat leave watch unwatch query lease release leases transfer stats)";
  if (sz > MAX_LINE) return fail(r, "request of %zu bytes is too long (limit %d)", sz, MAX_LINE);
  /* The verb first: an unknown one is the thing to say even when the rest
   * of the line is bad too. (msg is not NUL-terminated.) */
  size_t at = 0, len = 0;
  while (at < sz && blank(msg[at])) at++;
  while (at + len < sz && word_char(msg[at + len])) len++;
  const struct verb *v = NULL;
  if (len > 0 && (at + len == sz || blank(msg[at + len]))) {
    v = find_verb(msg + at, len);
    if (v == NULL) return fail(r, "unknown verb '%.*s' %s", (int)(len < 32 ? len : 32), msg + at, verb_list);
  }
  char why[160];
  struct shoal_kvline *kv = shoal_kvline_parse(msg, sz, SHOAL_KVLINE_VERB, why, sizeof(why));
  if (kv == NULL) return fail(r, "%s", why);
  if (v == NULL) { /* a verb of other characters: valid text, but no verb */
    fail(r, "unknown verb '%.32s' %s", shoal_kvline_verb(kv), verb_list);
    shoal_kvline_free(kv);
    return -1;
  }
  r->kv = kv;
  r->g->ops[v - verbs]++;
  int rc = 0;
  for (int i = 0; rc == 0 && v->keys && i < shoal_kvline_count(kv); i++)
    if (!regtab_key_listed(v->keys, shoal_kvline_key(kv, i)))
      rc = fail(r, "%s: unknown key '%s'", v->name, shoal_kvline_key(kv, i));
  if (rc == 0) rc = v->run(r);
  shoal_kvline_free(kv);
  return rc;
}

static void on_request(struct registry *g, uint32_t source, int session, const char *msg, size_t sz) {
  struct req r = {.g = g, .kv = NULL, .source = source, .now = shoal_now()};
  r.err[0] = '\0';
  r.code = SHOAL_EINVAL;
  shoal_json_reset(g->out);
  int rc = run_request(&r, msg, sz);
  if (rc != 0) g->op_errors++;
  if (session <= 0) {
    if (rc != 0) shoal_log(g->ctx, SHOAL_LOG_WARN, "%s (one-way request from :%08x)", r.err, source);
    return;
  }
  if (rc != 0) {
    shoal_reply_error(g->ctx, source, session, r.code, r.err, strlen(r.err));
    return;
  }
  size_t len;
  char *reply = shoal_json_copy(g->out, &len);
  shoal_send(g->ctx, 0, source, SHOAL_PTYPE_RESPONSE, session, reply, len);
}

static int registry_cb(struct shoal_context *ctx, void *ud, int type, int session, uint32_t source, const void *msg,
                       size_t sz) {
  struct registry *g = ud;
  switch (type) {
    case SHOAL_PTYPE_TEXT:
      on_request(g, source, session, msg, sz);
      return 0;
    case SHOAL_PTYPE_RESPONSE:
      if (session != 0 && session == g->timer_session) health_tick(g);
      return 0;
    case SHOAL_PTYPE_SOCKET:
      if (sz >= sizeof(struct shoal_socket_message)) health_on_socket(g, msg);
      return 0;
    case SHOAL_PTYPE_SYSTEM:
      if (shoal_system_is(msg, sz, SHOAL_SYSTEM_EXIT) && !g->exiting) {
        g->exiting = 1;
        health_stop(g);
        shoal_exit(ctx);
      }
      return 0;
    case SHOAL_PTYPE_ERROR:
      return 0;
    default: {
      static const char why[] =
          "registry: requests are TEXT lines (register heartbeat leave watch unwatch query lease release leases transfer)";
      shoal_log(ctx, SHOAL_LOG_WARN, "registry: message of type %d from :%08x ignored", type, source);
      if (session > 0) shoal_reply_error(ctx, source, session, SHOAL_EINVAL, why, sizeof(why) - 1);
      return 0;
    }
  }
}

/* ---- life cycle ---- */

void *registry_create(void) {
  struct registry *g = shoal_malloc(sizeof(*g));
  memset(g, 0, sizeof(*g));
  return g;
}

void registry_release(struct registry *g) {
  health_stop(g); /* killed without EXIT: do not leak probe sockets */
  for (int i = 0; i < g->nwatch; i++) free_watcher(&g->watchers[i]);
  shoal_free(g->watchers);
  shoal_free(g->probes);
  lease_free_all(g);
  regtab_free(g->tab);
  shoal_json_free(g->out);
  shoal_json_free(g->fields);
  shoal_json_free(g->ev);
  shoal_free(g);
}

/* Parses the module arguments into g; logs and returns -1 on a bad one. */
static int parse_args(struct registry *g, const char *args) {
  char why[160];
  struct shoal_kvline *kv = shoal_kvline_parse(args, strlen(args), 0, why, sizeof(why));
  if (kv == NULL) {
    shoal_log(g->ctx, SHOAL_LOG_ERROR, "registry: bad arguments: %s", why);
    return -1;
  }
  long long interval = 1000, suspect = 2, dead = 4, probe = 0, probe_timeout = -1, maxcomp = 65536,
            maxwatch = 1024, maxlease = REGLEASE_MAX_DEFAULT;
  const struct {
    const char *name;    /* key */
    long long lo, hi;    /* accepted range */
    long long *out;      /* where the value goes */
  } keys[] = {{"interval", MIN_INTERVAL, MAX_INTERVAL, &interval}, {"suspect", 1, 1000, &suspect},
              {"dead", 1, 1000, &dead},         {"probe", 0, MAX_INTERVAL, &probe},
              {"probe_timeout", MIN_INTERVAL, MAX_INTERVAL, &probe_timeout},
              {"maxcomp", 1, 1 << 20, &maxcomp}, {"maxwatch", 1, 65536, &maxwatch},
              {"maxlease", 1, REGLEASE_MAX_LIMIT, &maxlease}};
  size_t nkeys = sizeof(keys) / sizeof(keys[0]);
  int rc = 0;
  for (int i = 0; i < shoal_kvline_count(kv) && rc == 0; i++) {
    const char *key = shoal_kvline_key(kv, i), *val = shoal_kvline_value(kv, i);
    size_t k = 0;
    while (k < nkeys && strcmp(key, keys[k].name) != 0) k++;
    if (k == nkeys) {
      shoal_log(g->ctx, SHOAL_LOG_ERROR,
                "registry: unknown argument '%s' (interval suspect dead probe probe_timeout maxcomp maxwatch maxlease)", key);
      rc = -1;
    } else if (shoal_kvline_int(val, keys[k].lo, keys[k].hi, keys[k].out) != 0) {
      shoal_log(g->ctx, SHOAL_LOG_ERROR, "registry: %s=%s: expected a number in %lld..%lld", key, val, keys[k].lo,
                keys[k].hi);
      rc = -1;
    }
  }
  shoal_kvline_free(kv);
  if (rc != 0) return -1;
  if (dead < suspect) {
    shoal_log(g->ctx, SHOAL_LOG_ERROR, "registry: dead=%lld must not be less than suspect=%lld", dead, suspect);
    return -1;
  }
  if (probe != 0 && probe < MIN_INTERVAL) {
    shoal_log(g->ctx, SHOAL_LOG_ERROR, "registry: probe=%lld: expected 0 (off) or %d..%d", probe, MIN_INTERVAL,
              MAX_INTERVAL);
    return -1;
  }
  if (probe_timeout < 0) probe_timeout = probe < 1000 ? probe : 1000;
  if (probe != 0 && probe_timeout > probe) {
    shoal_log(g->ctx, SHOAL_LOG_ERROR, "registry: probe_timeout=%lld must not exceed probe=%lld", probe_timeout,
              probe);
    return -1;
  }
  g->interval = g->min_interval = (uint32_t)interval;
  g->suspect = (int)suspect;
  g->dead = (int)dead;
  g->probe = (uint32_t)probe;
  g->probe_timeout = (uint32_t)probe_timeout;
  g->maxcomp = (int)maxcomp;
  g->maxwatch = (int)maxwatch;
  g->maxlease = (int)maxlease;
  return 0;
}

int registry_init(struct registry *g, struct shoal_context *ctx, const char *args) {
  g->ctx = ctx;
  if (parse_args(g, args ? args : "") != 0) return SHOAL_EINVAL;
  g->tab = regtab_new();
  g->out = shoal_json_new();
  g->fields = shoal_json_new();
  g->ev = shoal_json_new();
  health_init(g);
  shoal_set_label(ctx, "registry");
  shoal_callback(ctx, g, registry_cb);
  health_start(g);
  if (g->probe)
    shoal_log(ctx, SHOAL_LOG_INFO, "registry: interval %u ms, suspect after %d, dead after %d, probe every %u ms "
              "(timeout %u ms)", g->interval, g->suspect, g->dead, g->probe, g->probe_timeout);
  else
    shoal_log(ctx, SHOAL_LOG_INFO, "registry: interval %u ms, suspect after %d, dead after %d, no probes",
              g->interval, g->suspect, g->dead);
  return 0;
}
