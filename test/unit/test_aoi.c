/*
 * test_aoi.c - lualib/src/aoi.c against a brute-force O(n^2) reference.
 *
 * The random walk keeps, per watcher, the "client view" that its flushed
 * events build (subject -> position) and checks after every flush that it
 * equals what the watcher sees by brute force, at the exact (f32)
 * positions; that each record is legal for that view (enter only of an
 * unseen subject, move/leave only of a seen one, never about itself); and
 * that moves coalesce (no move after an enter or move of the same subject
 * in one flush). Then edge cases: refusals, the speed cap, cell edges and
 * the space's corners, removal.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "aoi_ref.h"
#include "check.h"

#define N AOI_REF_N
#define R aoi_ref
#define be aoi_ref_be
#define bef aoi_ref_bef

static double W = 300, H = 240, RAD = 30;
static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static double frand(double lo, double hi) {
  return lo + (hi - lo) * (double)(rnd() >> 11) / (double)(1ULL << 53);
}

static void random_walk(void) {
  struct shoal_aoi_opts o = {.width = W, .height = H, .radius = RAD, .max_speed = 0};
  struct shoal_aoi *a = shoal_aoi_new(&o);
  aoi_ref_reset(RAD);
  int count = 0;
  for (int step = 0; step < 60000; step++) {
    int id = 1 + (int)(rnd() % N);
    int op = (int)(rnd() % 100);
    if (!R[id].alive) {
      if (op < 70) {
        /* Some on cell edges (multiples of the radius) and the corners. */
        double x = rnd() % 4 ? frand(0, W) : (double)(rnd() % 10) * RAD;
        double y = rnd() % 4 ? frand(0, H) : (double)(rnd() % 8) * RAD;
        if (x >= W) x = nextafter(W, 0);
        if (y >= H) y = nextafter(H, 0);
        int watcher = (int)(rnd() % 3 != 0);
        CHECK(shoal_aoi_add(a, (uint64_t)id, x, y, watcher) == 0);
        R[id] = (struct aoi_ref_entity){.alive = 1, .watcher = watcher, .x = x, .y = y};
        count++;
      } else {
        CHECK(shoal_aoi_move(a, (uint64_t)id, 1, 1, 100) == SHOAL_AOI_UNKNOWN_ENTITY);
        CHECK(shoal_aoi_remove(a, (uint64_t)id) == SHOAL_AOI_UNKNOWN_ENTITY);
      }
    } else if (op < 5) {
      CHECK(shoal_aoi_remove(a, (uint64_t)id) == 0);
      R[id].alive = 0;
      count--;
      /* Watchers that saw it get a leave (apply clears their seen[id]);
       * its own view is gone with its pending events. */
      memset(R[id].seen, 0, sizeof R[id].seen);
    } else if (op < 8) {
      double x = frand(0, W), y = frand(0, H);
      CHECK(shoal_aoi_set_position(a, (uint64_t)id, x, y) == 0);
      R[id].x = x;
      R[id].y = y;
    } else if (op < 10) {
      CHECK(shoal_aoi_add(a, (uint64_t)id, 1, 1, 1) == SHOAL_AOI_DUPLICATE_ID);
    } else {
      double x = R[id].x + frand(-8, 8), y = R[id].y + frand(-8, 8);
      int in = x >= 0 && y >= 0 && x < W && y < H;
      CHECK(shoal_aoi_move(a, (uint64_t)id, x, y, 100) == (in ? 0 : SHOAL_AOI_OUT_OF_BOUNDS));
      if (in) {
        R[id].x = x;
        R[id].y = y;
      }
    }
    CHECK((int)shoal_aoi_count(a) == count);
    if (rnd() % 16 == 0) aoi_ref_flush_and_verify(a);
    if (rnd() % 8 == 0) aoi_ref_check_neighbours(a, 1 + (int)(rnd() % N));
  }
  aoi_ref_flush_and_verify(a);
  printf("random walk %gx%g r %g: %ld enters, %ld leaves, %ld moves checked\n", W, H, RAD, aoi_ref_applied[1], aoi_ref_applied[2],
         aoi_ref_applied[3]);
  CHECK(aoi_ref_applied[1] > 10000 && aoi_ref_applied[2] > 10000 && aoi_ref_applied[3] > 10000);
  memset(aoi_ref_applied, 0, sizeof aoi_ref_applied);
  shoal_aoi_free(a);
}

/* Events of one small scene, decoded: kind and subject of record i. */
static int take_one(struct shoal_aoi *a, uint64_t *w, const unsigned char **p, size_t *n) {
  const char *d;
  int r = shoal_aoi_take_events(a, w, &d, n);
  *p = (const unsigned char *)d;
  return r;
}

static void refusals(void) {
  struct shoal_aoi_opts bad = {.width = NAN, .height = 10, .radius = 1};
  CHECK(shoal_aoi_check_opts(&bad) != NULL);
  bad.width = 10;
  bad.radius = 0;
  CHECK(shoal_aoi_check_opts(&bad) != NULL);
  bad.radius = 1;
  bad.max_speed = -1;
  CHECK(shoal_aoi_check_opts(&bad) != NULL);
  struct shoal_aoi_opts o = {.width = 100, .height = 50, .radius = 10, .max_speed = 10, .max_entities = 3};
  CHECK(shoal_aoi_check_opts(&o) == NULL);
  struct shoal_aoi *a = shoal_aoi_new(&o);
  CHECK(shoal_aoi_add(a, 0, 1, 1, 1) == SHOAL_AOI_BAD_ID);
  CHECK(shoal_aoi_add(a, SHOAL_AOI_ID_MAX, 1, 1, 1) == SHOAL_AOI_BAD_ID);
  CHECK(shoal_aoi_add(a, 1, NAN, 1, 1) == SHOAL_AOI_NOT_A_NUMBER);
  CHECK(shoal_aoi_add(a, 1, 1, INFINITY, 1) == SHOAL_AOI_NOT_A_NUMBER);
  CHECK(shoal_aoi_add(a, 1, 100, 1, 1) == SHOAL_AOI_OUT_OF_BOUNDS); /* [0, width) */
  CHECK(shoal_aoi_add(a, 1, -0.001, 1, 1) == SHOAL_AOI_OUT_OF_BOUNDS);
  CHECK(shoal_aoi_add(a, 1, 1, 50, 1) == SHOAL_AOI_OUT_OF_BOUNDS);
  CHECK(shoal_aoi_add(a, 1, 0, 0, 1) == 0); /* the corners are inside */
  CHECK(shoal_aoi_add(a, 2, nextafter(100, 0), nextafter(50, 0), 1) == 0);
  CHECK(shoal_aoi_add(a, 2, 5, 5, 1) == SHOAL_AOI_DUPLICATE_ID);
  CHECK(shoal_aoi_add(a, (uint64_t)SHOAL_AOI_ID_MAX - 1, 50, 25, 0) == 0);
  CHECK(shoal_aoi_add(a, 4, 50, 25, 0) == SHOAL_AOI_FULL);
  CHECK(shoal_aoi_count(a) == 3);
  /* Speed: 10 units/s, 1.1 tolerance: 1,000 ms allow 11 + slack units. */
  CHECK(shoal_aoi_move(a, 1, 11, 0, 1000) == 0);
  CHECK(shoal_aoi_move(a, 1, 22.02, 0, 1000) == SHOAL_AOI_TOO_FAST);
  CHECK(shoal_aoi_move(a, 1, 12, 0, 0) == SHOAL_AOI_TOO_FAST);   /* dt 0: only the slack */
  CHECK(shoal_aoi_move(a, 1, 12, 0, -5) == SHOAL_AOI_TOO_FAST);
  CHECK(shoal_aoi_move(a, 1, 12, 0, NAN) == SHOAL_AOI_TOO_FAST);
  CHECK(shoal_aoi_move(a, 1, 11 + SHOAL_AOI_SPEED_SLACK / 2, 0, 0) == 0);
  CHECK(shoal_aoi_move(a, 1, NAN, 0, 1000) == SHOAL_AOI_NOT_A_NUMBER);
  CHECK(shoal_aoi_move(a, 1, 5, -INFINITY, 1000) == SHOAL_AOI_NOT_A_NUMBER);
  CHECK(shoal_aoi_move(a, 1, 5, 50, 1e9) == SHOAL_AOI_OUT_OF_BOUNDS);
  CHECK(shoal_aoi_move(a, 9, 5, 5, 1000) == SHOAL_AOI_UNKNOWN_ENTITY);
  double x, y;
  CHECK(shoal_aoi_position(a, 1, &x, &y) == 0 && x == 11 + SHOAL_AOI_SPEED_SLACK / 2 && y == 0);
  CHECK(shoal_aoi_set_position(a, 1, 90, 40) == 0); /* a teleport: no speed check */
  CHECK(shoal_aoi_set_position(a, 1, 90, NAN) == SHOAL_AOI_NOT_A_NUMBER);
  CHECK(shoal_aoi_position(a, 1, &x, &y) == 0 && x == 90 && y == 40);
  struct shoal_aoi_stats st;
  shoal_aoi_stats(a, &st);
  CHECK(st.entities == 3 && st.watchers == 2 && st.moves == 3 && st.refused == 18);
  CHECK(strcmp(shoal_aoi_strerror(SHOAL_AOI_TOO_FAST), "too fast") == 0);
  CHECK(strcmp(shoal_aoi_strerror(SHOAL_AOI_FULL), "full") == 0);
  CHECK(strcmp(shoal_aoi_strerror(99), "?") == 0);
  shoal_aoi_free(a);
}

/* Exactly the radius apart across a cell edge: in view; a hair more: not. */
static void edges_and_events(void) {
  struct shoal_aoi_opts o = {.width = 100, .height = 100, .radius = 10};
  struct shoal_aoi *a = shoal_aoi_new(&o);
  CHECK(shoal_aoi_add(a, 1, 10, 10, 1) == 0); /* on a cell corner */
  CHECK(shoal_aoi_add(a, 2, 20, 10, 0) == 0); /* NPC, 10 away, next cell */
  CHECK(shoal_aoi_add(a, 3, 0, 0, 0) == 0);   /* corner, sqrt(200) away */
  uint64_t w, out[4];
  const unsigned char *p;
  size_t n;
  CHECK(take_one(a, &w, &p, &n) && w == 1 && n == 17);
  CHECK(p[0] == SHOAL_AOI_ENTER && be(p + 1, 8) == 2 && bef(p + 9) == 20.0f && bef(p + 13) == 10.0f);
  CHECK(!take_one(a, &w, &p, &n)); /* NPCs get nothing */
  CHECK(shoal_aoi_neighbours(a, 1, out, 4) == 1 && out[0] == 2);
  CHECK(shoal_aoi_neighbours(a, 3, out, 4) == 0);
  /* Three moves, one record at the last position; then out of range. */
  CHECK(shoal_aoi_move(a, 2, 19, 10, 0) == 0);
  CHECK(shoal_aoi_move(a, 2, 18, 11, 0) == 0);
  CHECK(shoal_aoi_move(a, 2, 17, 12, 0) == 0);
  CHECK(take_one(a, &w, &p, &n) && w == 1 && n == 17);
  CHECK(p[0] == SHOAL_AOI_MOVE && bef(p + 9) == 17.0f && bef(p + 13) == 12.0f);
  CHECK(shoal_aoi_move(a, 2, nextafter(20, 100), 10, 0) == 0); /* a hair past the radius */
  CHECK(take_one(a, &w, &p, &n) && n == 17 && p[0] == SHOAL_AOI_LEAVE && be(p + 1, 8) == 2);
  /* Leave then enter of one subject between flushes: two records. */
  CHECK(shoal_aoi_move(a, 2, 20, 10, 0) == 0);
  CHECK(shoal_aoi_move(a, 2, 25, 10, 0) == 0);
  CHECK(shoal_aoi_move(a, 2, 15, 10, 0) == 0);
  CHECK(shoal_aoi_move(a, 2, 14, 10, 0) == 0);
  CHECK(take_one(a, &w, &p, &n) && n == 3 * 17);
  CHECK(p[0] == SHOAL_AOI_ENTER && p[17] == SHOAL_AOI_LEAVE && p[34] == SHOAL_AOI_ENTER);
  CHECK(bef(p + 34 + 9) == 14.0f); /* the enter took the later move */
  /* A second watcher: enters for what it sees; the first gets an enter of it. */
  CHECK(shoal_aoi_add(a, 4, 12, 12, 1) == 0);
  int got1 = 0, got4 = 0;
  while (take_one(a, &w, &p, &n)) {
    if (w == 1) got1 = n == 17 && p[0] == SHOAL_AOI_ENTER && be(p + 1, 8) == 4;
    /* 1 and 2 (2.83 away); not 3 (16.97 away) */
    if (w == 4) got4 = n == 2 * 17 && p[0] == SHOAL_AOI_ENTER && p[17] == SHOAL_AOI_ENTER;
  }
  CHECK(got1 && got4);
  /* Removing watcher 4 with pending events: they are dropped, 1 gets a leave. */
  CHECK(shoal_aoi_move(a, 2, 13, 10, 0) == 0);
  CHECK(shoal_aoi_pending(a) == 2);
  CHECK(shoal_aoi_remove(a, 4) == 0);
  CHECK(shoal_aoi_pending(a) == 1);
  CHECK(take_one(a, &w, &p, &n) && w == 1 && n == 2 * 17);
  CHECK(p[0] == SHOAL_AOI_MOVE && p[17] == SHOAL_AOI_LEAVE && be(p + 18, 8) == 4);
  CHECK(!take_one(a, &w, &p, &n));
  /* The id is free again; the slot is reused by a new watcher. */
  CHECK(shoal_aoi_add(a, 5, 50, 50, 1) == 0);
  CHECK(!take_one(a, &w, &p, &n));
  CHECK(shoal_aoi_is_watcher(a, 5) == 1 && shoal_aoi_is_watcher(a, 2) == 0 && shoal_aoi_is_watcher(a, 4) == -1);
  shoal_aoi_free(a);
}

/* A huge sparse space gets larger cells, and still finds neighbours. */
static void big_space(void) {
  struct shoal_aoi_opts o = {.width = 1e9, .height = 1e9, .radius = 1};
  struct shoal_aoi *a = shoal_aoi_new(&o);
  CHECK(shoal_aoi_add(a, 1, 5e8, 5e8, 1) == 0);
  CHECK(shoal_aoi_add(a, 2, 5e8 + 1, 5e8, 1) == 0);
  CHECK(shoal_aoi_add(a, 3, 5e8 + 1.01, 5e8, 1) == 0);
  uint64_t out[4];
  CHECK(shoal_aoi_neighbours(a, 1, out, 4) == 1 && out[0] == 2);
  CHECK(shoal_aoi_neighbours(a, 2, out, 4) == 2);
  shoal_aoi_free(a);
}

int main(void) {
  refusals();
  edges_and_events();
  big_space();
  random_walk();
  W = 95; /* not a multiple of the radius: a narrow last column */
  H = 31;
  RAD = 7.5;
  random_walk();
  printf("test_aoi: ok\n");
  return 0;
}
