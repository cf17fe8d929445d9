/*
 * aoi.h - area of interest over one rectangular space: which entities see
 * which, and the enter/leave/move events that follow from their moves.
 * Pure C (no Lua, no runtime but the allocation wrappers): the Lua binding
 * (lua-aoi.c, module "shoal.aoi"), the unit test (test/unit/test_aoi.c)
 * and the fuzzer (fuzz/fuzz_aoi.c) call it. Not thread-safe: one space
 * belongs to one service. See docs/aoi.md.
 *
 * Visibility is symmetric and exact: a sees b when their Euclidean
 * distance is <= radius (no hysteresis). Only watchers (players) get
 * events; non-watchers (NPCs) are seen but see nothing. The grid's cell is
 * at least the radius, so a query looks at the 3 x 3 cells around a point.
 */
#ifndef SHOAL_AOI_H
#define SHOAL_AOI_H

#include <stddef.h>
#include <stdint.h>

/* One event record, big-endian, as Lua's string.pack(">BI8ff"):
 * u8 kind | u64 subject id | f32 x | f32 y. */
#define SHOAL_AOI_RECORD_SIZE 17
#define SHOAL_AOI_ENTER 1 /* subject came into view, at x, y */
#define SHOAL_AOI_LEAVE 2 /* subject went out of view (or away); x, y: its last position */
#define SHOAL_AOI_MOVE 3  /* subject moved to x, y while in view */

#define SHOAL_AOI_ID_MAX ((uint64_t)1 << 53) /* ids are 1 .. 2^53 - 1 (exact in a Lua float too) */
#define SHOAL_AOI_MAX_ENTITIES_DEFAULT 100000
/* A move may go max_speed * 1.1 * dt plus this many units: the float
 * rounding of a client that moves at exactly its top speed. */
#define SHOAL_AOI_SPEED_SLACK 0.01

/* Why a call was refused (nothing changed): code, reason text. The texts
 * are part of the API (callers count refusals by them). */
#define SHOAL_AOI_REFUSAL_LIST(X)          \
  X(NOT_A_NUMBER, 1, "not a number")        \
  X(OUT_OF_BOUNDS, 2, "out of bounds")      \
  X(TOO_FAST, 3, "too fast")                \
  X(UNKNOWN_ENTITY, 4, "unknown entity")    \
  X(DUPLICATE_ID, 5, "duplicate id")        \
  X(BAD_ID, 6, "bad id")                    \
  X(FULL, 7, "full")

enum shoal_aoi_refusal {
  SHOAL_AOI_OK = 0,
#define SHOAL_AOI_REFUSAL_ENUM(name, value, text) SHOAL_AOI_##name = value,
  SHOAL_AOI_REFUSAL_LIST(SHOAL_AOI_REFUSAL_ENUM)
#undef SHOAL_AOI_REFUSAL_ENUM
};

struct shoal_aoi;

struct shoal_aoi_opts {
  double width, height; /* bounds [0, width) x [0, height); finite, > 0 */
  double radius;        /* view radius; finite, > 0 */
  double max_speed;     /* units per second; 0: no cap */
  uint32_t max_entities; /* 0: SHOAL_AOI_MAX_ENTITIES_DEFAULT */
};

struct shoal_aoi_stats {
  uint32_t entities, watchers;
  uint64_t moves;   /* accepted moves and set_positions */
  uint64_t refused; /* refused add/move/set_position calls */
  uint64_t events;  /* records generated (coalesced moves count once) */
};

/* The reason text of a refusal code ("ok" for 0, "?" for others). */
const char *shoal_aoi_strerror(int code);
/* Checks the options: NULL when they are valid, else what is wrong. */
const char *shoal_aoi_check_opts(const struct shoal_aoi_opts *o);
/* A new empty space; the options must pass shoal_aoi_check_opts. */
struct shoal_aoi *shoal_aoi_new(const struct shoal_aoi_opts *o);
/* Frees the space, its entities and every pending event. */
void shoal_aoi_free(struct shoal_aoi *a);

/* Adds an entity at x, y: 0 or a refusal code. Watchers it sees get an
 * enter about it; if it is a watcher itself it gets an enter about each
 * entity it sees. */
int shoal_aoi_add(struct shoal_aoi *a, uint64_t id, double x, double y, int watcher);
/* Moves an entity to x, y, dt_ms after its previous move: 0 or a refusal
 * code (the speed cap is checked against dt_ms; dt_ms <= 0 or NaN allows
 * only SHOAL_AOI_SPEED_SLACK). */
int shoal_aoi_move(struct shoal_aoi *a, uint64_t id, double x, double y, double dt_ms);
/* The same without the speed check (a server teleport). */
int shoal_aoi_set_position(struct shoal_aoi *a, uint64_t id, double x, double y);
/* Removes an entity: 0 or SHOAL_AOI_UNKNOWN_ENTITY. Its pending events are
 * dropped; watchers that saw it get a leave. */
int shoal_aoi_remove(struct shoal_aoi *a, uint64_t id);
/* Its position: 0 or SHOAL_AOI_UNKNOWN_ENTITY. */
int shoal_aoi_position(const struct shoal_aoi *a, uint64_t id, double *x, double *y);
/* The entity's watcher flag: 1, 0, or -1 for an unknown id. */
int shoal_aoi_is_watcher(const struct shoal_aoi *a, uint64_t id);
/* The ids within the radius of id (not id itself), ascending, into out
 * (at most cap). Returns how many there are (may exceed cap), or -1 for
 * an unknown id. Computed from the grid, not from the event state. */
long shoal_aoi_neighbours(const struct shoal_aoi *a, uint64_t id, uint64_t *out, size_t cap);
uint32_t shoal_aoi_count(const struct shoal_aoi *a);

/* How many watchers have pending events. */
uint32_t shoal_aoi_pending(const struct shoal_aoi *a);
/* Takes the next watcher with pending events, in the order they first got
 * one since their last take: 1 with *watcher, *data, *len set, or 0 when
 * none is left. The watcher's events are cleared; *data stays valid until
 * the next call that changes the space (copy it before). */
int shoal_aoi_take_events(struct shoal_aoi *a, uint64_t *watcher, const char **data, size_t *len);
/* Drops every pending event (a restore generates none). */
void shoal_aoi_drop_events(struct shoal_aoi *a);

/* Calls fn for every entity (in slot order; the space must not change
 * during the walk). */
void shoal_aoi_each(const struct shoal_aoi *a, void (*fn)(void *ud, uint64_t id, double x, double y, int watcher),
                    void *ud);
void shoal_aoi_stats(const struct shoal_aoi *a, struct shoal_aoi_stats *st);

#endif
