/*
 * aoi.c - the area-of-interest grid (see aoi.h, docs/aoi.md).
 *
 * Layout: entities live in one array of slots (free slots reused), found
 * by id through an open-addressing hash; each grid cell is an array of
 * slot numbers. Each entity keeps the pairs it is part of: every other
 * entity within the radius of which at least one of the two is a watcher
 * (NPC-NPC pairs make no events, so they are never tracked; that is most
 * of the saving in a world of NPCs). A pair is stored on both sides.
 *
 * A move rescans the 3 x 3 cells around the new position and compares the
 * result with the entity's pairs, using a per-move generation stamp on the
 * other entities instead of a set: stamp == gen means "was a neighbour",
 * gen + 1 "still is". Cost per move: the entities of 9 cells (about
 * 9 / pi times the neighbour count) plus one event per watcher in view.
 *
 * Events are written as ready records into each watcher's buffer, so a
 * flush hands the buffer over without copying. The pair entry on the
 * subject's side remembers where its last enter/move record sits in the
 * watcher's buffer (valid while the watcher's epoch is unchanged), so
 * later moves overwrite that record's x, y in place: coalescing in O(1).
 */
#include "aoi.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shoal.h"

#define NONE UINT32_MAX
#define MAX_CELLS (1u << 22) /* 4M cells (48 MiB of empty cells at most): larger spaces get larger cells */

struct aoi_pair {
  uint32_t other; /* the other entity's slot */
  uint32_t ev;    /* index of my last enter/move record in other's buffer, or NONE */
  uint32_t epoch; /* other's epoch when ev was written */
};

struct aoi_entity {
  uint64_t id;      /* 0: free slot */
  double x, y;      /* position */
  uint32_t cell;    /* grid cell index */
  uint32_t cslot;   /* index in that cell's array */
  uint32_t stamp;   /* scan scratch: generation (see aoi_rescan) */
  uint32_t mslot;   /* scan scratch: index in the mover's pairs */
  uint8_t watcher;  /* gets events */
  uint8_t queued;   /* in the pending list with events */
  struct aoi_pair *pairs; /* entities in view with a watcher among the two */
  uint32_t npairs, cappairs;
  char *ev;         /* pending records (watchers only) */
  uint32_t nev, capev; /* records, not bytes */
  uint32_t epoch;   /* bumped when the events are taken */
};

struct aoi_cell {
  uint32_t *items; /* entity slots */
  uint32_t n, cap;
};

struct shoal_aoi {
  struct shoal_aoi_opts o;
  double r2;                /* radius squared */
  double cellsize;          /* >= radius */
  uint32_t cols, rows;
  struct aoi_cell *cells;   /* cols * rows */
  struct aoi_entity *ents;  /* slots */
  uint32_t nents, capents;  /* slots in use (high-water), allocated */
  uint32_t *freeslots;      /* free slot stack */
  uint32_t nfree, capfree;
  uint64_t *hkeys;          /* id hash: keys (0 = empty) */
  uint32_t *hvals;          /* slots */
  uint32_t hmask;           /* capacity - 1 (power of two) */
  uint32_t count, watchers; /* live entities, of which watchers */
  uint32_t gen;             /* scan generation, += 2 per scan */
  uint32_t *pending;        /* watcher slots with events, FIFO */
  uint32_t npending, headpending, cappending;
  uint32_t nqueued;         /* watchers with events (the list may hold stale entries) */
  struct shoal_aoi_stats st;
};

static const char *const refusal_text[] = {
    "ok",
#define SHOAL_AOI_REFUSAL_TEXT(name, value, text) text,
    SHOAL_AOI_REFUSAL_LIST(SHOAL_AOI_REFUSAL_TEXT)
#undef SHOAL_AOI_REFUSAL_TEXT
};

const char *shoal_aoi_strerror(int code) {
  if (code < 0 || code >= (int)(sizeof refusal_text / sizeof refusal_text[0])) return "?";
  return refusal_text[code];
}

const char *shoal_aoi_check_opts(const struct shoal_aoi_opts *o) {
  if (!(isfinite(o->width) && o->width > 0 && o->width <= 1e9)) return "width must be a number in (0, 1e9]";
  if (!(isfinite(o->height) && o->height > 0 && o->height <= 1e9)) return "height must be a number in (0, 1e9]";
  if (!(isfinite(o->radius) && o->radius > 0)) return "radius must be a finite number > 0";
  if (!(isfinite(o->max_speed) && o->max_speed >= 0)) return "max_speed must be a finite number >= 0";
  if (o->max_entities > 10000000) return "max_entities must be at most 10000000";
  return NULL;
}

/* ---- the id hash (linear probing, backward-shift deletion) ---- */

static uint32_t hash_id(uint64_t id) {
  id ^= id >> 33;
  id *= 0xff51afd7ed558ccdULL;
  id ^= id >> 33;
  return (uint32_t)id;
}

static uint32_t hfind(const struct shoal_aoi *a, uint64_t id) {
  if (id == 0) return NONE; /* 0 marks an empty bucket */
  for (uint32_t i = hash_id(id) & a->hmask;; i = (i + 1) & a->hmask) {
    if (a->hkeys[i] == id) return a->hvals[i];
    if (a->hkeys[i] == 0) return NONE;
  }
}

static void hput_raw(uint64_t *keys, uint32_t *vals, uint32_t mask, uint64_t id, uint32_t slot) {
  uint32_t i = hash_id(id) & mask;
  while (keys[i] != 0) i = (i + 1) & mask;
  keys[i] = id;
  vals[i] = slot;
}

static void hput(struct shoal_aoi *a, uint64_t id, uint32_t slot) {
  if ((a->count + 1) * 2 > a->hmask + 1) { /* keep the load under 1/2 */
    uint32_t ncap = (a->hmask + 1) * 2;
    uint64_t *keys = shoal_malloc(ncap * sizeof *keys);
    uint32_t *vals = shoal_malloc(ncap * sizeof *vals);
    memset(keys, 0, ncap * sizeof *keys);
    for (uint32_t i = 0; i <= a->hmask; i++)
      if (a->hkeys[i]) hput_raw(keys, vals, ncap - 1, a->hkeys[i], a->hvals[i]);
    shoal_free(a->hkeys);
    shoal_free(a->hvals);
    a->hkeys = keys;
    a->hvals = vals;
    a->hmask = ncap - 1;
  }
  hput_raw(a->hkeys, a->hvals, a->hmask, id, slot);
}

static void hdel(struct shoal_aoi *a, uint64_t id) {
  uint32_t i = hash_id(id) & a->hmask;
  while (a->hkeys[i] != id) i = (i + 1) & a->hmask;
  /* Shift later members of the cluster back so no probe stops early. */
  for (uint32_t j = (i + 1) & a->hmask; a->hkeys[j] != 0; j = (j + 1) & a->hmask) {
    uint32_t home = hash_id(a->hkeys[j]) & a->hmask;
    if (((j - home) & a->hmask) >= ((j - i) & a->hmask)) {
      a->hkeys[i] = a->hkeys[j];
      a->hvals[i] = a->hvals[j];
      i = j;
    }
  }
  a->hkeys[i] = 0;
}

/* ---- growable arrays ---- */

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t elem) {
  if (need <= *cap) return p;
  uint32_t ncap = *cap ? *cap : 4;
  while (ncap < need) ncap *= 2;
  *cap = ncap;
  return shoal_realloc(p, (size_t)ncap * elem);
}

/* ---- the grid ---- */

static uint32_t cell_of(const struct shoal_aoi *a, double x, double y) {
  uint32_t cx = (uint32_t)(x / a->cellsize), cy = (uint32_t)(y / a->cellsize);
  if (cx >= a->cols) cx = a->cols - 1; /* x just under width may round up */
  if (cy >= a->rows) cy = a->rows - 1;
  return cy * a->cols + cx;
}

static void cell_insert(struct shoal_aoi *a, uint32_t slot) {
  struct aoi_entity *e = &a->ents[slot];
  struct aoi_cell *c = &a->cells[e->cell];
  c->items = grow(c->items, &c->cap, c->n + 1, sizeof *c->items);
  e->cslot = c->n;
  c->items[c->n++] = slot;
}

static void cell_remove(struct shoal_aoi *a, uint32_t slot) {
  struct aoi_entity *e = &a->ents[slot];
  struct aoi_cell *c = &a->cells[e->cell];
  uint32_t last = c->items[--c->n];
  c->items[e->cslot] = last;
  a->ents[last].cslot = e->cslot;
  if (c->n == 0 && c->cap > 64) { /* a crowd left: give the memory back */
    shoal_free(c->items);
    c->items = NULL;
    c->cap = 0;
  }
}

struct shoal_aoi *shoal_aoi_new(const struct shoal_aoi_opts *o) {
  assert(shoal_aoi_check_opts(o) == NULL);
  struct shoal_aoi *a = shoal_malloc(sizeof *a);
  memset(a, 0, sizeof *a);
  a->o = *o;
  if (a->o.max_entities == 0) a->o.max_entities = SHOAL_AOI_MAX_ENTITIES_DEFAULT;
  a->r2 = o->radius * o->radius;
  a->cellsize = o->radius;
  /* Too many cells for the area: make them larger (3 x 3 still covers the radius). */
  if ((o->width / a->cellsize) * (o->height / a->cellsize) > MAX_CELLS)
    a->cellsize = sqrt(o->width * o->height / MAX_CELLS) * 1.001;
  a->cols = (uint32_t)ceil(o->width / a->cellsize);
  a->rows = (uint32_t)ceil(o->height / a->cellsize);
  if (a->cols == 0) a->cols = 1;
  if (a->rows == 0) a->rows = 1;
  size_t ncells = (size_t)a->cols * a->rows;
  a->cells = shoal_malloc(ncells * sizeof *a->cells);
  memset(a->cells, 0, ncells * sizeof *a->cells);
  a->hmask = 63;
  a->hkeys = shoal_malloc(64 * sizeof *a->hkeys);
  a->hvals = shoal_malloc(64 * sizeof *a->hvals);
  memset(a->hkeys, 0, 64 * sizeof *a->hkeys);
  a->gen = 2;
  return a;
}

void shoal_aoi_free(struct shoal_aoi *a) {
  if (!a) return;
  size_t ncells = (size_t)a->cols * a->rows;
  for (size_t i = 0; i < ncells; i++) shoal_free(a->cells[i].items);
  for (uint32_t i = 0; i < a->nents; i++) {
    shoal_free(a->ents[i].pairs);
    shoal_free(a->ents[i].ev);
  }
  shoal_free(a->cells);
  shoal_free(a->ents);
  shoal_free(a->freeslots);
  shoal_free(a->hkeys);
  shoal_free(a->hvals);
  shoal_free(a->pending);
  shoal_free(a);
}

/* ---- events ---- */

static void put_be32(char *p, uint32_t v) {
  p[0] = (char)(v >> 24);
  p[1] = (char)(v >> 16);
  p[2] = (char)(v >> 8);
  p[3] = (char)v;
}

static void put_xy(char *p, double x, double y) {
  float fx = (float)x, fy = (float)y;
  uint32_t ux, uy;
  memcpy(&ux, &fx, 4);
  memcpy(&uy, &fy, 4);
  put_be32(p, ux);
  put_be32(p + 4, uy);
}

/* Appends a record to watcher w's buffer; returns its index. */
static uint32_t emit(struct shoal_aoi *a, uint32_t w, int kind, const struct aoi_entity *subj) {
  struct aoi_entity *e = &a->ents[w];
  assert(e->watcher);
  e->ev = grow(e->ev, &e->capev, e->nev + 1, SHOAL_AOI_RECORD_SIZE);
  char *p = e->ev + (size_t)e->nev * SHOAL_AOI_RECORD_SIZE;
  p[0] = (char)kind;
  put_be32(p + 1, (uint32_t)(subj->id >> 32));
  put_be32(p + 5, (uint32_t)subj->id);
  put_xy(p + 9, subj->x, subj->y);
  if (!e->queued) {
    if (a->headpending > 0 && a->headpending * 2 >= a->npending) { /* taken entries: compact */
      a->npending -= a->headpending;
      memmove(a->pending, a->pending + a->headpending, a->npending * sizeof *a->pending);
      a->headpending = 0;
    }
    e->queued = 1;
    a->nqueued++;
    a->pending = grow(a->pending, &a->cappending, a->npending + 1, sizeof *a->pending);
    a->pending[a->npending++] = w;
  }
  a->st.events++;
  return e->nev++;
}

/* A move of s seen by watcher w, through s's pair entry p about w:
 * overwrites s's last enter/move record in w's buffer, or appends one. */
static void emit_move(struct shoal_aoi *a, struct aoi_pair *p, const struct aoi_entity *s) {
  struct aoi_entity *w = &a->ents[p->other];
  if (p->ev != NONE && p->epoch == w->epoch) {
    put_xy(w->ev + (size_t)p->ev * SHOAL_AOI_RECORD_SIZE + 9, s->x, s->y);
    return;
  }
  p->ev = emit(a, p->other, SHOAL_AOI_MOVE, s);
  p->epoch = w->epoch;
}

/* ---- pairs ---- */

static void pair_push(struct aoi_entity *e, uint32_t other, uint32_t ev, uint32_t epoch) {
  e->pairs = grow(e->pairs, &e->cappairs, e->npairs + 1, sizeof *e->pairs);
  e->pairs[e->npairs++] = (struct aoi_pair){other, ev, epoch};
}

/* Removes the pair about `other` from e's list (order does not matter). */
static void pair_drop(struct aoi_entity *e, uint32_t other) {
  for (uint32_t i = 0; i < e->npairs; i++) {
    if (e->pairs[i].other == other) {
      e->pairs[i] = e->pairs[--e->npairs];
      return;
    }
  }
  assert(0 && "pair missing on the other side");
}

/* s and o came into view of each other: both sides get the pair, watchers an enter. */
static void pair_open(struct shoal_aoi *a, uint32_t s, uint32_t o) {
  struct aoi_entity *es = &a->ents[s], *eo = &a->ents[o];
  uint32_t ev_to_o = eo->watcher ? emit(a, o, SHOAL_AOI_ENTER, es) : NONE;
  uint32_t ev_to_s = es->watcher ? emit(a, s, SHOAL_AOI_ENTER, eo) : NONE;
  pair_push(es, o, ev_to_o, eo->epoch);
  pair_push(eo, s, ev_to_s, es->epoch);
}

/* s and o went out of view: o's side loses the pair (the caller drops s's
 * side), watchers get a leave. */
static void pair_close(struct shoal_aoi *a, uint32_t s, uint32_t o) {
  struct aoi_entity *es = &a->ents[s], *eo = &a->ents[o];
  pair_drop(eo, s);
  if (eo->watcher) emit(a, o, SHOAL_AOI_LEAVE, es);
  if (es->watcher) emit(a, s, SHOAL_AOI_LEAVE, eo);
}

/* Next scan generation; on wrap-around every stamp is reset. */
static uint32_t next_gen(struct shoal_aoi *a) {
  a->gen += 2;
  if (a->gen < 2) {
    for (uint32_t i = 0; i < a->nents; i++) a->ents[i].stamp = 0;
    a->gen = 2;
  }
  return a->gen;
}

/* Entity s is at its (new) position: compares what it sees now with its
 * pairs and emits enter, leave and move events. */
static void aoi_rescan(struct shoal_aoi *a, uint32_t s, int moved) {
  uint32_t gen = next_gen(a);
  struct aoi_entity *es = &a->ents[s];
  uint32_t old = es->npairs;
  for (uint32_t i = 0; i < old; i++) {
    struct aoi_entity *o = &a->ents[es->pairs[i].other];
    o->stamp = gen;
    o->mslot = i;
  }
  uint32_t cx = es->cell % a->cols, cy = es->cell / a->cols;
  uint32_t x0 = cx ? cx - 1 : 0, x1 = cx + 1 < a->cols ? cx + 1 : cx;
  uint32_t y0 = cy ? cy - 1 : 0, y1 = cy + 1 < a->rows ? cy + 1 : cy;
  double x = es->x, y = es->y;
  int swatch = es->watcher;
  for (uint32_t gy = y0; gy <= y1; gy++) {
    for (uint32_t gx = x0; gx <= x1; gx++) {
      const struct aoi_cell *c = &a->cells[gy * a->cols + gx];
      for (uint32_t k = 0; k < c->n; k++) {
        uint32_t o = c->items[k];
        struct aoi_entity *eo = &a->ents[o];
        if (o == s || !(swatch || eo->watcher)) continue;
        double dx = eo->x - x, dy = eo->y - y;
        if (dx * dx + dy * dy > a->r2) continue;
        if (eo->stamp == gen) { /* still in view */
          eo->stamp = gen + 1;
          if (moved && eo->watcher) emit_move(a, &a->ents[s].pairs[eo->mslot], &a->ents[s]);
        } else {
          pair_open(a, s, o);
        }
      }
    }
  }
  /* Old pairs not seen again are out of view; compact s's list. */
  uint32_t keep = 0;
  for (uint32_t i = 0; i < es->npairs; i++) {
    struct aoi_pair p = es->pairs[i];
    if (i < old && a->ents[p.other].stamp == gen) {
      pair_close(a, s, p.other);
      continue;
    }
    es->pairs[keep++] = p;
  }
  es->npairs = keep;
}

/* ---- the API ---- */

static int check_point(const struct shoal_aoi *a, double x, double y) {
  if (!isfinite(x) || !isfinite(y)) return SHOAL_AOI_NOT_A_NUMBER;
  if (x < 0 || y < 0 || x >= a->o.width || y >= a->o.height) return SHOAL_AOI_OUT_OF_BOUNDS;
  return SHOAL_AOI_OK;
}

static int refuse(struct shoal_aoi *a, int code) {
  a->st.refused++;
  return code;
}

int shoal_aoi_add(struct shoal_aoi *a, uint64_t id, double x, double y, int watcher) {
  if (id == 0 || id >= SHOAL_AOI_ID_MAX) return refuse(a, SHOAL_AOI_BAD_ID);
  int rc = check_point(a, x, y);
  if (rc) return refuse(a, rc);
  if (hfind(a, id) != NONE) return refuse(a, SHOAL_AOI_DUPLICATE_ID);
  if (a->count >= a->o.max_entities) return refuse(a, SHOAL_AOI_FULL);
  uint32_t s;
  if (a->nfree) {
    s = a->freeslots[--a->nfree];
  } else {
    a->ents = grow(a->ents, &a->capents, a->nents + 1, sizeof *a->ents);
    s = a->nents++;
    memset(&a->ents[s], 0, sizeof a->ents[s]);
  }
  struct aoi_entity *e = &a->ents[s];
  e->id = id;
  e->x = x;
  e->y = y;
  e->watcher = watcher ? 1 : 0;
  e->stamp = 0;
  e->cell = cell_of(a, x, y);
  cell_insert(a, s);
  hput(a, id, s);
  a->count++;
  a->watchers += e->watcher;
  aoi_rescan(a, s, 0);
  return SHOAL_AOI_OK;
}

static int place(struct shoal_aoi *a, uint32_t s, double x, double y) {
  struct aoi_entity *e = &a->ents[s];
  uint32_t cell = cell_of(a, x, y);
  e->x = x;
  e->y = y;
  if (cell != e->cell) {
    cell_remove(a, s);
    e->cell = cell;
    cell_insert(a, s);
  }
  a->st.moves++;
  aoi_rescan(a, s, 1);
  return SHOAL_AOI_OK;
}

int shoal_aoi_move(struct shoal_aoi *a, uint64_t id, double x, double y, double dt_ms) {
  if (id == 0 || id >= SHOAL_AOI_ID_MAX) return refuse(a, SHOAL_AOI_BAD_ID);
  uint32_t s = hfind(a, id);
  if (s == NONE) return refuse(a, SHOAL_AOI_UNKNOWN_ENTITY);
  int rc = check_point(a, x, y);
  if (rc) return refuse(a, rc);
  if (a->o.max_speed > 0) {
    const struct aoi_entity *e = &a->ents[s];
    double dx = x - e->x, dy = y - e->y;
    double allowed = SHOAL_AOI_SPEED_SLACK;
    if (dt_ms > 0 && isfinite(dt_ms)) allowed += a->o.max_speed * 1.1 * dt_ms / 1000.0;
    if (dx * dx + dy * dy > allowed * allowed) return refuse(a, SHOAL_AOI_TOO_FAST);
  }
  return place(a, s, x, y);
}

int shoal_aoi_set_position(struct shoal_aoi *a, uint64_t id, double x, double y) {
  if (id == 0 || id >= SHOAL_AOI_ID_MAX) return refuse(a, SHOAL_AOI_BAD_ID);
  uint32_t s = hfind(a, id);
  if (s == NONE) return refuse(a, SHOAL_AOI_UNKNOWN_ENTITY);
  int rc = check_point(a, x, y);
  if (rc) return refuse(a, rc);
  return place(a, s, x, y);
}

int shoal_aoi_remove(struct shoal_aoi *a, uint64_t id) {
  uint32_t s = hfind(a, id);
  if (s == NONE) return SHOAL_AOI_UNKNOWN_ENTITY;
  struct aoi_entity *e = &a->ents[s];
  a->watchers -= e->watcher;
  if (e->queued) a->nqueued--; /* its pending events are dropped; the stale list entry is skipped */
  e->watcher = 0;              /* no leave events to itself while it goes */
  for (uint32_t i = 0; i < e->npairs; i++) pair_close(a, s, e->pairs[i].other);
  cell_remove(a, s);
  hdel(a, id);
  shoal_free(e->pairs);
  shoal_free(e->ev);
  memset(e, 0, sizeof *e);
  a->freeslots = grow(a->freeslots, &a->capfree, a->nfree + 1, sizeof *a->freeslots);
  a->freeslots[a->nfree++] = s;
  a->count--;
  return SHOAL_AOI_OK;
}

int shoal_aoi_position(const struct shoal_aoi *a, uint64_t id, double *x, double *y) {
  uint32_t s = hfind(a, id);
  if (s == NONE) return SHOAL_AOI_UNKNOWN_ENTITY;
  *x = a->ents[s].x;
  *y = a->ents[s].y;
  return SHOAL_AOI_OK;
}

int shoal_aoi_is_watcher(const struct shoal_aoi *a, uint64_t id) {
  uint32_t s = hfind(a, id);
  return s == NONE ? -1 : a->ents[s].watcher;
}

static int cmp_id(const void *pa, const void *pb) {
  uint64_t x = *(const uint64_t *)pa, y = *(const uint64_t *)pb;
  return x < y ? -1 : x > y;
}

long shoal_aoi_neighbours(const struct shoal_aoi *a, uint64_t id, uint64_t *out, size_t cap) {
  uint32_t s = hfind(a, id);
  if (s == NONE) return -1;
  const struct aoi_entity *es = &a->ents[s];
  uint32_t cx = es->cell % a->cols, cy = es->cell / a->cols;
  uint32_t x0 = cx ? cx - 1 : 0, x1 = cx + 1 < a->cols ? cx + 1 : cx;
  uint32_t y0 = cy ? cy - 1 : 0, y1 = cy + 1 < a->rows ? cy + 1 : cy;
  size_t n = 0;
  for (uint32_t gy = y0; gy <= y1; gy++) {
    for (uint32_t gx = x0; gx <= x1; gx++) {
      const struct aoi_cell *c = &a->cells[gy * a->cols + gx];
      for (uint32_t k = 0; k < c->n; k++) {
        const struct aoi_entity *eo = &a->ents[c->items[k]];
        double dx = eo->x - es->x, dy = eo->y - es->y;
        if (c->items[k] == s || dx * dx + dy * dy > a->r2) continue;
        if (n < cap) out[n] = eo->id;
        n++;
      }
    }
  }
  qsort(out, n < cap ? n : cap, sizeof *out, cmp_id);
  return (long)n;
}

uint32_t shoal_aoi_count(const struct shoal_aoi *a) {
  return a->count;
}

uint32_t shoal_aoi_pending(const struct shoal_aoi *a) {
  return a->nqueued;
}

int shoal_aoi_take_events(struct shoal_aoi *a, uint64_t *watcher, const char **data, size_t *len) {
  while (a->headpending < a->npending) {
    struct aoi_entity *e = &a->ents[a->pending[a->headpending++]];
    if (!e->queued) continue; /* removed (and maybe reused) since it was listed */
    e->queued = 0;
    a->nqueued--;
    *watcher = e->id;
    *data = e->ev;
    *len = (size_t)e->nev * SHOAL_AOI_RECORD_SIZE;
    e->nev = 0;  /* the bytes stay until the next event to this watcher */
    e->epoch++;  /* pair entries pointing into the old records are stale */
    return 1;
  }
  a->headpending = a->npending = 0;
  return 0;
}

void shoal_aoi_drop_events(struct shoal_aoi *a) {
  uint64_t w;
  const char *d;
  size_t n;
  while (shoal_aoi_take_events(a, &w, &d, &n)) {
  }
}

void shoal_aoi_each(const struct shoal_aoi *a, void (*fn)(void *ud, uint64_t id, double x, double y, int watcher),
                    void *ud) {
  for (uint32_t i = 0; i < a->nents; i++)
    if (a->ents[i].id) fn(ud, a->ents[i].id, a->ents[i].x, a->ents[i].y, a->ents[i].watcher);
}

void shoal_aoi_stats(const struct shoal_aoi *a, struct shoal_aoi_stats *st) {
  *st = a->st;
  st->entities = a->count;
  st->watchers = a->watchers;
}
