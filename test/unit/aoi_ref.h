/*
 * aoi_ref.h - a brute-force O(n^2) reference for lualib/src/aoi.c, shared
 * by test_aoi.c and fuzz/fuzz_aoi.c: the caller mirrors every accepted
 * change in aoi_ref[] (ids 1..AOI_REF_N); aoi_ref_flush_and_verify takes
 * every watcher's events, applies them to that watcher's "client view"
 * (checking that each record is legal for the view and that moves are
 * coalesced) and checks that the views equal what each watcher sees by
 * brute force, at the exact f32 positions. A failed check exits 1.
 */
#ifndef SHOAL_TEST_AOI_REF_H
#define SHOAL_TEST_AOI_REF_H

#include <stdint.h>

#include "aoi.h"

#define AOI_REF_N 160

struct aoi_ref_entity {
  int alive, watcher;
  double x, y;
  int seen[AOI_REF_N + 1]; /* this watcher's client view: subject in view */
  float sx[AOI_REF_N + 1], sy[AOI_REF_N + 1]; /* ... and where it was last told */
};

extern struct aoi_ref_entity aoi_ref[AOI_REF_N + 1];
extern double aoi_ref_radius;
extern long aoi_ref_applied[4]; /* records checked, by kind */

/* Forgets every entity; radius is the space's. */
void aoi_ref_reset(double radius);
int aoi_ref_sees(int a, int b);
/* Takes and checks every pending event of a, then compares the views. */
void aoi_ref_flush_and_verify(struct shoal_aoi *a);
/* shoal_aoi_neighbours(id) against the brute force. */
void aoi_ref_check_neighbours(struct shoal_aoi *a, int id);
uint64_t aoi_ref_be(const unsigned char *p, int n);
float aoi_ref_bef(const unsigned char *p);

#endif
