/*
 * fuzz_aoi - libFuzzer harness for the area of interest (lualib/src/aoi.c).
 * Build and run with fuzz/aoi.sh.
 *
 * Input: byte 0 picks the space's shape and radius; then ops of 6 bytes:
 * op, id (1..AOI_REF_N), x (u16), y (u16) scaled to a range a little wider
 * than the space (so some are out of bounds), with special values for NaN,
 * inf and the exact bounds. Ops: add (watcher or not), move (with a dt
 * that may be too short), set_position, remove, flush. Every result is
 * checked against the brute-force reference (test/unit/aoi_ref.c), and
 * every flush checks each watcher's view; nothing may leak (ASan).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aoi.h"
#include "aoi_ref.h"

/* aoi.c allocates through the runtime; here plain malloc. */
void *shoal_malloc(size_t sz) { return malloc(sz ? sz : 1); }
void *shoal_realloc(void *p, size_t sz) { return realloc(p, sz ? sz : 1); }
void shoal_free(void *p) { free(p); }

#define REQUIRE(c)     \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

static double coord(uint16_t v, double limit) {
  switch (v) {
    case 0xffff: return NAN;
    case 0xfffe: return INFINITY;
    case 0xfffd: return -INFINITY;
    case 0xfffc: return limit; /* just out */
    case 0xfffb: return nextafter(limit, 0);
    case 0xfffa: return -0.0;
    default: return (double)v / 60000.0 * limit * 1.1 - limit * 0.05;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const double shapes[4][3] = {{100, 100, 10}, {95, 31, 7.5}, {1000, 20, 30}, {50, 50, 0.5}};
  const double *sh = shapes[data[0] & 3];
  struct shoal_aoi_opts o = {.width = sh[0], .height = sh[1], .radius = sh[2], .max_speed = (data[0] & 4) ? 20 : 0,
                             .max_entities = (data[0] & 8) ? 20 : 0};
  struct shoal_aoi *a = shoal_aoi_new(&o);
  aoi_ref_reset(o.radius);
  uint32_t count = 0;
  for (size_t off = 1; off + 6 <= size; off += 6) {
    const uint8_t *p = data + off;
    int op = p[0] % 5, id = 1 + p[1] % AOI_REF_N;
    double x = coord((uint16_t)(p[2] << 8 | p[3]), o.width), y = coord((uint16_t)(p[4] << 8 | p[5]), o.height);
    int valid = isfinite(x) && isfinite(y);
    int in = valid && x >= 0 && y >= 0 && x < o.width && y < o.height;
    struct aoi_ref_entity *e = &aoi_ref[id];
    int want, rc;
    switch (op) {
      case 0: /* add */
        want = !valid ? SHOAL_AOI_NOT_A_NUMBER
               : !in  ? SHOAL_AOI_OUT_OF_BOUNDS
               : e->alive ? SHOAL_AOI_DUPLICATE_ID
               : (o.max_entities && count >= o.max_entities) ? SHOAL_AOI_FULL
                                                           : 0;
        rc = shoal_aoi_add(a, (uint64_t)id, x, y, p[0] & 8);
        REQUIRE(rc == want);
        if (!rc) {
          memset(e, 0, sizeof *e);
          e->alive = 1;
          e->watcher = (p[0] & 8) != 0;
          e->x = x;
          e->y = y;
          count++;
        }
        break;
      case 1:   /* move, dt from the op byte */
      case 2: { /* set_position */
        double dt = (double)(p[0] >> 4) * 50;
        double dx = x - e->x, dy = y - e->y;
        double allowed = SHOAL_AOI_SPEED_SLACK + (dt > 0 ? o.max_speed * 1.1 * dt / 1000 : 0);
        want = !e->alive ? SHOAL_AOI_UNKNOWN_ENTITY
               : !valid  ? SHOAL_AOI_NOT_A_NUMBER
               : !in     ? SHOAL_AOI_OUT_OF_BOUNDS
               : (op == 1 && o.max_speed > 0 && dx * dx + dy * dy > allowed * allowed) ? SHOAL_AOI_TOO_FAST
                                                                                     : 0;
        rc = op == 1 ? shoal_aoi_move(a, (uint64_t)id, x, y, dt) : shoal_aoi_set_position(a, (uint64_t)id, x, y);
        REQUIRE(rc == want);
        if (!rc) {
          e->x = x;
          e->y = y;
        }
        break;
      }
      case 3: /* remove */
        REQUIRE(shoal_aoi_remove(a, (uint64_t)id) == (e->alive ? 0 : SHOAL_AOI_UNKNOWN_ENTITY));
        if (e->alive) count--;
        memset(e, 0, sizeof *e);
        break;
      default:
        aoi_ref_flush_and_verify(a);
        aoi_ref_check_neighbours(a, id);
    }
    REQUIRE(shoal_aoi_count(a) == count);
  }
  aoi_ref_flush_and_verify(a);
  shoal_aoi_free(a);
  return 0;
}
